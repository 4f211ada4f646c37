"""The `diffgraph` command: run, validate, serve, list nodes, print the schema."""
