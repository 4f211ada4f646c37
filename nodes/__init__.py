"""The built-in node packs. Each module declares nodes; heavy work lives in `nodes.ops`
and is imported inside `run`, so listing and validating nodes never imports torch."""

BUILTIN_PACKS = (
    "nodes.values",
    "nodes.image",
    "nodes.sd_loaders",
    "nodes.sd_conditioning",
    "nodes.sd_latent",
    "nodes.sd_sampling",
)
