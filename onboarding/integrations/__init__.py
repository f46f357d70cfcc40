"""One module per downstream system. Nothing outside this package imports their client libraries."""
