"""Model families: how a family's files are recognised, which configs and classes build its
models, and what is particular to it. One folder per family (or group of close relatives)."""
