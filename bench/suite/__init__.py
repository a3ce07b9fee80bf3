"""Helpers of ``bench/run.py``: stage bodies run in child processes (:mod:`suite.stages`), process measurement
(:mod:`suite.proc`), catalogs and the CLI stages (:mod:`suite.plan`) and the report (:mod:`suite.report`)."""
