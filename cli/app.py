"""The Typer app. Each command lives in its own module and is registered here."""

from __future__ import annotations

import os
import signal
import sys

import typer
from rich.console import Console
from typer.core import TyperGroup

from dualgnn.errors import DualGNNError, SettingsError
from dualgnn.training.memory import use_huge_pages


class _Commands(TyperGroup):
    """The command group: a :class:`SettingsError` from any command is a bad option (exit code 2, naming the option
    when it is known), as Typer's own checks are; every settings object validates itself, so no command wraps it."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise typer.BadParameter(str(exc), param_hint=exc.option) from exc


app = typer.Typer(
    name="dualgnn",
    cls=_Commands,
    help="Directed 'customers also bought' recommendations with a dual-embedding graph neural network.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _register() -> None:
    # Imported here so `dualgnn --help` stays fast and a broken optional module names itself clearly.
    from cli import (
        commands_build,  # noqa: F401
        commands_distributed,  # noqa: F401
        commands_evaluate,  # noqa: F401
        commands_recommend,  # noqa: F401
        commands_refresh,  # noqa: F401
        commands_serve,  # noqa: F401
        commands_synth,  # noqa: F401
        commands_train,  # noqa: F401
    )


def _terminate(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    # SIGTERM unwinds like Ctrl-C, so every temporary file and directory is removed by its own `finally`.
    raise KeyboardInterrupt


def run() -> None:
    """The ``dualgnn`` console script and ``python -m cli``: a command that trains or propagates over a whole graph
    starts again under jemalloc when the system has it (:mod:`dualgnn.training.memory`), then :func:`main`."""
    from dualgnn.training.memory import ALLOCATOR_COMMANDS, jemalloc_environment

    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if command in ALLOCATOR_COMMANDS:
        env = jemalloc_environment(dict(os.environ))
        if env is not None:
            sys.stdout.flush()
            os.execve(sys.executable, [sys.executable, "-m", "cli", *sys.argv[1:]], env)
    main()


def main() -> None:
    """Run the app, turning user errors into a message and exit code 1 (tests call it in process).

    Faults of the environment (a full disk, a read-only or missing place) get the same one-paragraph message:
    they are not bugs of dualgnn, and a traceback would not help the user.
    """
    use_huge_pages()  # before any command imports torch
    signal.signal(signal.SIGTERM, _terminate)
    try:
        _register()
        app(prog_name="dualgnn")  # also when started again as `python -m cli` (run)
    except DualGNNError as exc:
        _error(str(exc))
    except OSError as exc:
        from dualgnn.outputs import describe_os_error

        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{describe_os_error(exc)}\n  hint: check the path, the free space and the permissions")
    except KeyboardInterrupt:
        err_console.print("interrupted: nothing half-written was kept")
        sys.exit(130)


def _error(text: str) -> None:
    err_console.print("[bold red]error:[/]", end=" ")
    err_console.print(text, markup=False, highlight=False)
    sys.exit(1)

