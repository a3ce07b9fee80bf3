"""Readers: raw files -> :class:`RawData` (external string ids, not yet checked against the catalog).

* :func:`read_amazon`: Amazon product metadata, 2014 and 2018 releases, gzip or plain.
* :func:`read_tables`: generic products / copurchase / coview tables (CSV, Parquet, JSON lines).
* :func:`read_events`: raw view / cart / purchase logs aggregated into weighted edges.
"""

from dualgnn.sources.amazon import read_amazon
from dualgnn.sources.base import RawData
from dualgnn.sources.events import EventSettings, read_events
from dualgnn.sources.tables import read_products, read_table, read_tables

__all__ = ["RawData", "read_amazon", "read_tables", "read_table", "read_products", "read_events", "EventSettings"]
