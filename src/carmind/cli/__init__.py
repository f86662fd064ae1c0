"""The `carmind` command line: one module per command group."""
