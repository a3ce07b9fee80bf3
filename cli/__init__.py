"""The ``dualgnn`` command line: a thin layer over the library (parse options, call, print, map errors)."""
