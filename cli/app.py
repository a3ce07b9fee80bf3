"""The Typer app. Each command lives in its own module and is registered here."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from dualgnn.errors import DualGNNError

app = typer.Typer(
    name="dualgnn",
    help="Directed 'customers also bought' recommendations with a dual-embedding graph neural network.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _register() -> None:
    # Imported here so `dualgnn --help` stays fast and a broken optional module names itself clearly.
    from cli import commands_build  # noqa: F401
    from cli import commands_evaluate  # noqa: F401
    from cli import commands_recommend  # noqa: F401
    from cli import commands_synth  # noqa: F401
    from cli import commands_train  # noqa: F401


def main() -> None:
    """Console entry point: run the app, turning user errors into a message and exit code 1."""
    try:
        _register()
        app()
    except DualGNNError as exc:
        err_console.print("[bold red]error:[/]", end=" ")
        err_console.print(str(exc), markup=False, highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted: nothing half-written was kept")
        sys.exit(130)

