"""The published diffusers configs of the full-size SD models, shipped in configs/ (one
folder per family), for files that carry no config of their own."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from nodes.ops.families.sd.detect import FAMILIES

CONFIG_DIR = Path(__file__).with_name("configs")


COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2", "controlnet")


@cache
def _config_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def load_config(family: str, component: str, inpaint: bool = False) -> dict[str, Any]:
    """The published diffusers config of a full-size family's component (a fresh dict).

    Text encoder configs are transformers CLIPTextConfig dicts; `architectures[0]` names the
    class to build. UNet/VAE/ControlNet configs name theirs in `_class_name`.
    """
    if family not in FAMILIES or component not in COMPONENTS:
        raise ValueError(
            f"no config for {family!r}/{component!r}: families {FAMILIES}, components {COMPONENTS}"
        )
    name = f"{component}_inpaint" if inpaint and component == "unet" else component
    path = CONFIG_DIR / family / f"{name}.json"
    if not path.is_file():
        have = sorted(p.stem for p in (CONFIG_DIR / family).glob("*.json"))
        raise ValueError(f"{family} ships no {name} config (it has: {', '.join(have)})")
    data = json.loads(_config_text(path))
    assert isinstance(data, dict)
    return data
