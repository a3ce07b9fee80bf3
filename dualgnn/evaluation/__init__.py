"""`dualgnn evaluate`: the paper's protocols over every method on one saved split, and the report."""
