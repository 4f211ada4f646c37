"""The built-in node packs, one module per category; registered as entry points of the
group `diffgraph.nodes` in pyproject.toml, like any plugin's. Heavy work lives in
`nodes.ops` and is imported inside `run`, so listing and validating nodes never imports
torch."""
