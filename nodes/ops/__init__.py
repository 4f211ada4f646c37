"""The heavy work behind the node declarations: plain functions on tensors, imported
inside `run` so that declaring and validating nodes never imports torch."""
