"""`dualgnn synth`: write a seeded synthetic catalog with planted one-way complements."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cli.app import app
from cli.options import Seed

console = Console()


class TableFormat(str, Enum):
    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"


@app.command("synth")
def synth_command(
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Directory for the tables (created if needed; each file is replaced atomically).")],
    products: Annotated[int, typer.Option("--products", "-n", min=100, max=5_000_000,
                                                   help="Number of products (100 to 5,000,000).")] = 10_000,
    seed: Seed = 0,
    fmt: Annotated[TableFormat, typer.Option("--format", help="File format of the tables.")] = TableFormat.csv,
    compress: Annotated[bool, typer.Option(
        help="gzip CSV and JSON lines (.csv.gz, .jsonl.gz); zstd inside Parquet.")] = False,
    events: Annotated[bool, typer.Option(help="Also write an event log (view / cart / purchase).")] = False,
    events_per_product: Annotated[float, typer.Option(help="Average events per product in the log.")] = 20.0,
    copurchase_per_product: Annotated[float, typer.Option(help="Average co-purchase out-edges per product.")] = 10.0,
    coview_per_product: Annotated[float, typer.Option(help="Average co-view edges per product.")] = 10.0,
) -> None:
    """Generate a synthetic shop (products, co-purchase, co-view, optional events) for demos and tests.

    Phones lead to cases, chargers and screen protectors and never back; the planted pairs are in synth.json.
    Example: dualgnn synth --products 3000 --events --compress --out data/sample
    """
    from dualgnn.outputs import claim_output
    from dualgnn.synth.catalog import SynthSettings, generate
    from dualgnn.synth.write import catalog_files, is_synth_file, write_catalog

    settings = SynthSettings(n_products=products, seed=seed, with_events=events,
                             events_per_product=events_per_product, copurchase_per_product=copurchase_per_product,
                             coview_per_product=coview_per_product)
    started = time.perf_counter()
    with claim_output(out, files=catalog_files(fmt.value, compress, events), is_ours=is_synth_file):
        catalog = generate(settings)
        paths = write_catalog(catalog, out, fmt.value, compress=compress)
    seconds = time.perf_counter() - started
    counts = ", ".join(f"{n:,} {name}" for name, n in catalog.counts().items())
    console.print(f"synthetic catalog (seed {seed}): {counts}; {seconds:.1f}s", highlight=False, soft_wrap=True,
                  markup=False)
    for path in paths:
        console.print(f"  {path}  {path.stat().st_size / 1e6:.2f} MB", highlight=False, markup=False)
