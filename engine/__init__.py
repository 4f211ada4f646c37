"""diffgraph's engine: graph model, validation, executor, caches, model store and CLI."""

__version__ = "0.1.0"
