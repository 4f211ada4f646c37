"""What an A1111 import works on: the infotext's pairs (each taken once, so that what is
left over can be listed), the ComfyUI API-format graph being written, and the notes on
what could not be reproduced."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from engine.registry import Registry
from formats.a1111_files import ModelFiles
from formats.a1111_names import AUTOMATIC_SCHEDULES, SAMPLERS, SCHEDULES, split_sampler

Link = list[Any]  # ComfyUI's [node id, output index]
_SIZE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")


@dataclass(frozen=True)
class ImportNote:
    """A setting of the image that the workflow does not reproduce as written."""

    setting: str
    value: str
    note: str

    def to_dict(self) -> dict[str, str]:
        return {"setting": self.setting, "value": self.value, "note": self.note}

    def __str__(self) -> str:
        return f"{self.setting}: {self.value}: {self.note}"


class Import:
    def __init__(self, pairs: dict[str, str], registry: Registry, files: ModelFiles) -> None:
        self.left = dict(pairs)
        self.registry = registry
        self.files = files
        self.notes: list[ImportNote] = []
        self.nodes: dict[str, dict[str, Any]] = {}

    def add(self, class_type: str, title: str | None = None, **inputs: Any) -> str:
        """A node of ComfyUI's `class_type`; its id, in order of creation."""
        node_id = str(len(self.nodes) + 1)
        entry: dict[str, Any] = {"class_type": class_type, "inputs": inputs}
        if title:
            entry["_meta"] = {"title": title}
        self.nodes[node_id] = entry
        return node_id

    def has(self, class_type: str) -> bool:
        return self.registry.by_comfy(class_type) is not None

    def note(self, setting: str, value: object, why: str) -> None:
        self.notes.append(ImportNote(setting, str(value), why))

    def take(self, key: str) -> str | None:
        """The value of `key`, now counted as handled."""
        return self.left.pop(key, None)

    def number(self, key: str, default: float, *, whole: bool = False) -> float:
        raw = self.take(key)
        if raw is None or not raw.strip():
            return default
        try:
            value = float(raw)
            if whole and value != int(value):
                raise ValueError(raw)
        except ValueError:
            self.note(key, raw, f"not a {'whole ' if whole else ''}number; {default:g} used")
            return default
        return int(value) if whole else value

    def size(self, key: str) -> tuple[int, int] | None:
        raw = self.take(key)
        if raw is None:
            return None
        match = _SIZE.match(raw)
        if match is None:
            self.note(key, raw, "not a size like 512x768; ignored")
            return None
        return int(match.group(1)), int(match.group(2))

    def sampler(
        self, sampler_key: str, schedule_key: str, fallback: tuple[str, str]
    ) -> tuple[str, str]:
        """A1111's sampler and schedule labels -> ours (sampler_name, scheduler). A missing
        label (or hires fix's "Use same ...") keeps `fallback`'s; one we do not have falls
        back to it, with a note."""
        label = _unless_same(self.take(sampler_key))
        schedule_label = _unless_same(self.take(schedule_key))
        base, schedule_in_name = split_sampler(label.strip()) if label else ("", None)
        ours = fallback[0]
        if label is not None:
            mapped = SAMPLERS.get(base)
            if mapped is not None and mapped in self._choices("sampler_name"):
                ours = mapped
            else:
                why = (
                    "no sampler of ours matches it"
                    if mapped is None
                    else f"{mapped} is not installed"
                )
                self.note(sampler_key, label, f"{why}; {fallback[0]} used")
        if label is None and schedule_label is None:
            return ours, fallback[1]
        return ours, self._scheduler(schedule_key, schedule_label or schedule_in_name, base)

    def _scheduler(self, key: str, label: str | None, sampler_label: str) -> str:
        if label is None or label.strip().lower() == "automatic":
            return AUTOMATIC_SCHEDULES.get(sampler_label, "normal")
        ours = SCHEDULES.get(label.strip().lower())
        if ours is None or ours not in self._choices("scheduler"):
            self.note(key, label, "no scheduler of ours matches it; normal used")
            return "normal"
        return ours

    def _choices(self, input_name: str) -> tuple[Any, ...]:
        spec = self.registry.by_comfy("KSampler")
        field = spec.inputs.get(input_name) if spec else None
        return (field.static_choices or ()) if field else ()


def _unless_same(label: str | None) -> str | None:
    """None for no label and for hires fix's "Use same sampler" / "Use same scheduler"."""
    return None if label is None or label.startswith("Use same") else label
