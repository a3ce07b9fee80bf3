"""Readers: raw files -> :class:`RawData` (external string ids, not yet checked against the catalog)."""

from dualgnn.sources.base import RawData

__all__ = ["RawData"]
