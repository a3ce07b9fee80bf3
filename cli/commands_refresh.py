"""`dualgnn refresh`: a changed graph artifact + a trained model -> a new model directory, without training."""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from cli.app import app
from cli.options import ArtifactsDir, ModelDir, OutDir, Quiet, Threads, set_threads

console = Console()


@app.command("refresh")
def refresh_command(
    artifacts: ArtifactsDir,
    model: ModelDir,
    out: OutDir,
    threads: Threads = 0,
    quiet: Quiet = False,
) -> None:
    """Re-embed a changed catalog with a trained model's weights, in minutes and without training.

    ARTIFACTS is the new graph (build-graph on tonight's data, with the model's feature settings): new products go
    through their metadata and edges, removed ones are gone, changed metadata is re-encoded. Writes a model
    directory that recommend, serve and a later refresh use like any other.
    """
    from dualgnn.artifacts import graph_fingerprint, load_graph
    from dualgnn.features.store import Features
    from dualgnn.model.catalog import read_catalog, write_catalog
    from dualgnn.model.io import load_model, save_model
    from dualgnn.model.refresh import check_same_encoding, refresh_model
    from dualgnn.outputs import claim_output
    from dualgnn.ranking.production import copy_shipped_ranker
    from dualgnn.split import whole_graph

    set_threads(threads)
    started = time.perf_counter()
    with claim_output(out, kind="model", inputs=[artifacts, model]):
        loaded, record = load_model(model), read_catalog(model)
        graph, new_features = load_graph(artifacts), Features.load(artifacts)
        check_same_encoding(new_features, record, model)
        refreshed = refresh_model(graph, new_features, loaded, record)
        training = {"purpose": "refresh", "refreshed_from": str(model), "changes": refreshed.changes,
                    "served_graph_edges": len(graph.copurchase)}
        save_model(out, refreshed.result, graph_fingerprint(graph), features_fingerprint=loaded.features_fingerprint,
                   training=training,
                   extra=[lambda d: whole_graph(graph).save(d / "split.npz"),
                          lambda d: write_catalog(d, graph, refreshed.features),
                          lambda d: copy_shipped_ranker(model, d, graph)])
    if quiet:
        return
    table = Table(title=f"refreshed {model} -> {out}", show_header=False)
    for name, value in refreshed.changes.items():
        table.add_row(name.replace("_", " "), f"{value:,}")
    table.add_row("seconds", f"{time.perf_counter() - started:.1f}")
    console.print(table)
