"""Whether the ControlNets a prompt carries were made for the model sampling it.

A ControlNet is a copy of its family's UNet encoder: one made for SDXL on an SD 1.x model
(or the reverse) fails deep inside the network with "mat1 and mat2 shapes cannot be
multiplied". Load ControlNet reads the family from the file's weights (`sd/detect.py`),
so the sampler can say which family each side is before the first step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.types import ConditioningPart
from nodes.ops.families.registry import FAMILIES, family_of


def _title(name: str) -> str:
    family = FAMILIES.get(name)
    return family.title if family is not None else name


def _controls(part: ConditioningPart) -> list[Any]:
    """The ControlNets applied to a conditioning part (chained, newest first)."""
    found = []
    spec = part.extras.get("control")
    while spec is not None:
        found.append(spec.control)
        spec = spec.previous
    return found


def control_problem(config: Mapping[str, Any], parts: Sequence[ConditioningPart]) -> str | None:
    """Why a ControlNet on these parts cannot guide the model of `config`, or None."""
    family = family_of(config)
    for part in parts:
        for control in _controls(part):
            made_for = control.config.get("family")
            if made_for is None or made_for == family.name:
                continue
            return (
                f"this prompt carries a ControlNet made for {_title(made_for)} (read from "
                f"its weights), but the model is {family.title}: load a ControlNet made for "
                f"{family.title} in Load ControlNet's control_net_name, or sample with a "
                f"{_title(made_for)} model"
            )
    return None
