"""`python -m cli` runs the same app as the `dualgnn` console script."""

from cli.app import run

run()
