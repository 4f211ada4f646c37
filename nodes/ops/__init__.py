"""The heavy work behind the node declarations: plain functions on tensors, imported
inside `run` so that declaring and validating nodes never imports torch."""

import os

# Every import of diffusers/transformers goes through this package: weights never come
# from a hub, and neither library may try to reach one.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
