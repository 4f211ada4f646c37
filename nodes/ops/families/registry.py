"""Every family diffgraph knows, by the name a Model port's config carries. Adding a family
is a folder under `families/` and one line here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodes.ops.families.base import Family
from nodes.ops.families.flux.family import FLUX_FAMILIES
from nodes.ops.families.sd.family import SD_FAMILIES

FAMILIES: dict[str, Family] = {f.name: f for f in (*SD_FAMILIES, *FLUX_FAMILIES)}


def family_of(config: Mapping[str, Any]) -> Family:
    """The family of a Model, Clip or Vae port value's config (SD 1.x when it says none)."""
    name = str(config.get("family", "sd1"))
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]
