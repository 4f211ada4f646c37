"""Memory estimates of diffgraph's node kinds, said before they run and without torch
(`engine.footprint`): `costs` is the table their declarations hook in, `formulas` what it
is computed with. A package, not a pack: it declares no nodes."""
