"""`dualgnn recommend`: top-k related products, similar products, baskets, brands, cold-start products."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.app import app
from cli.options import ArtifactsDir, Index, IndexKind, ModelDir, Quiet, Threads

console = Console()
MAX_PRINTED_QUERIES = 20  # beyond this a terminal table is unreadable: write a file with --out


@app.command("recommend")
def recommend_command(
    artifacts: ArtifactsDir,
    model: ModelDir,
    product: Annotated[Optional[list[str]], typer.Option(
        "--product", "-p", help="Query product id. Repeatable.")] = None,
    products_file: Annotated[Optional[Path], typer.Option(
        "--products-file", help="File of query product ids, one per line.")] = None,
    all_products: Annotated[bool, typer.Option("--all", help="Recommend for every product of the catalog.")] = False,
    basket: Annotated[Optional[str], typer.Option(
        "--basket", help="Comma-separated product ids: one 'complete the basket' ranking, items excluded.")] = None,
    similar: Annotated[bool, typer.Option(
        "--similar", help="Similar products (source . source) instead of 'customers also bought'.")] = False,
    brands: Annotated[bool, typer.Option(
        "--brands", help="Similar brands (pooled product vectors), for the brands of --product or all brands.")
    ] = False,
    new_products: Annotated[Optional[Path], typer.Option(
        "--new-products", help="Cold-start products (CSV, Parquet, JSON lines or Amazon metadata): recommend "
                               "for them from their metadata.")] = None,
    new_as_targets: Annotated[bool, typer.Option(
        "--new-as-targets", help="Let the --new-products also be recommended to warm queries.")] = False,
    k: Annotated[int, typer.Option("-k", "--k", help="Recommendations per query.", min=1)] = 10,
    exclude_same_category: Annotated[bool, typer.Option(
        "--exclude-same-category", help="Never recommend a product of the query's own (leaf) category.")] = False,
    exclude_linked: Annotated[bool, typer.Option(
        "--exclude-linked", help="Never recommend what the graph already links to the query (its co-purchases).")
    ] = False,
    in_stock: Annotated[Optional[Path], typer.Option(
        "--in-stock", help="Recommend only ids listed in this file (one per line).")] = None,
    index: IndexKind = Index.auto,
    gnn_only: Annotated[bool, typer.Option(
        "--gnn-only", help="Rank with the GNN's vectors alone (source . target from the index), not the model's "
                           "ranker (the default when the model has one: `dualgnn train` fits it).")] = False,
    explain: Annotated[bool, typer.Option(
        "--explain", help="Name the strongest supporting graph path (or 'metadata') per recommendation.")] = False,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Write a table (.csv, .parquet or .jsonl) instead of printing.")] = None,
    threads: Threads = 0,
    quiet: Quiet = False,
) -> None:
    """Recommend products: after each query product, the k products customers are most likely to buy next."""
    from dualgnn.outputs import claim_output
    from dualgnn.serving.run import RecommendRequest
    from dualgnn.serving.tables import is_recommendation_table, table_format

    if out is not None:
        table_format(out)  # fail on a bad extension before any work
    items = tuple(b.strip() for b in basket.split(",") if b.strip()) if basket is not None else ()
    if basket is not None and not items:
        raise typer.BadParameter(f"names no product: {basket!r}", param_hint="--basket")
    req = RecommendRequest(
        artifacts=artifacts, model_dir=model, products=tuple(product or ()), products_file=products_file,
        all_products=all_products, basket=items, similar=similar, brands=brands, new_products=new_products,
        new_as_targets=new_as_targets, k=k, exclude_same_category=exclude_same_category,
        exclude_linked=exclude_linked, in_stock=in_stock, index_kind=index.value, explain=explain, threads=threads,
        gnn_only=gnn_only)

    if out is None:
        result = _run(req, all_products and not quiet)
    else:
        inputs = [artifacts, model, products_file, new_products, in_stock]
        with claim_output(out, is_ours=is_recommendation_table, inputs=inputs):
            result = _run(req, all_products and not quiet)
            result.write(out)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if out is not None:
        console.print(f"{result.rows():,} rows -> {out}  ({_timing(result)})", highlight=False, markup=False)
    else:
        _print(result)


def _run(req, show_progress: bool):
    from dualgnn.serving.run import run_recommend

    if not show_progress:
        return run_recommend(req)
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("recommending", total=None)
        return run_recommend(req, progress=lambda done, total: bar.update(task, completed=done, total=total))


def _timing(result) -> str:
    index = f"{result.index_kind} index, " if result.index_kind else ""
    return index + ", ".join(f"{name} {sec:.2f}s" for name, sec in result.seconds.items())


def _print(result) -> None:
    df = result.frame
    if result.mode == "brands":
        table = Table("brand", "rank", "similar brand", "score", "products", title="similar brands")
        for row in df.itertuples(index=False):
            table.add_row(escape(str(row.brand)), str(row.rank), escape(str(row.similar_brand)), f"{row.score:.3f}",
                          f"{row.products:,}")
        console.print(table)
        return
    heading = {"related": "customers also bought", "similar": "similar products", "basket": "complete the basket"}
    groups = list(df.groupby("product_id", sort=False))
    for pid, group in groups[:MAX_PRINTED_QUERIES]:
        # Titles and ids come from the shop's data: escaped, so "[w/ Bonus DVD]" prints as written.
        title = escape(str(group["title"].iloc[0]))
        table = Table(title=f"{heading[result.mode]}: {title}  [dim]({escape(str(pid))})[/]", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("product")
        table.add_column("id", style="dim")
        table.add_column("score", justify="right")
        if "reason" in group:
            table.add_column("why")
        for row in group.itertuples(index=False):
            cells = [str(row.rank), escape(str(row.recommended_title)), escape(str(row.recommended_id)),
                     f"{row.score:.3f}"]
            table.add_row(*cells, *([escape(str(row.reason))] if "reason" in group else []))
        console.print(table)
    if len(groups) > MAX_PRINTED_QUERIES:
        console.print(f"... and {len(groups) - MAX_PRINTED_QUERIES:,} more queries: write them all with --out FILE")
    console.print(f"[dim]{_timing(result)}[/]")
