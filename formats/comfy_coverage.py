"""Which of ComfyUI's core node ids diffgraph accepts, written as README's list.

The ids come from `data/comfyui_nodes.json` (read from ComfyUI's source, one pinned version);
ours come from the registry's `comfy=` aliases. `python -m formats.comfy_coverage` rewrites
the README section between the markers; a test fails when the section is stale, so the list
users read is always the registry's.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

BEGIN = "<!-- comfyui-nodes:begin (python -m formats.comfy_coverage) -->"
END = "<!-- comfyui-nodes:end -->"


@dataclass(frozen=True)
class Group:
    source: str  # ComfyUI file that declares the nodes
    ids: tuple[str, ...]
    out_of_scope: str | None  # why we do not aim at them, or None


def comfy_groups() -> tuple[str, list[Group]]:
    """ComfyUI's version and its node ids by source file."""
    text = resources.files("formats").joinpath("data/comfyui_nodes.json").read_text()
    doc = json.loads(text)
    groups = [Group(g["source"], tuple(g["ids"]), g.get("out_of_scope")) for g in doc["groups"]]
    return doc["comfyui_version"], groups


def all_comfy_ids() -> set[str]:
    return {i for g in comfy_groups()[1] for i in g.ids}


def coverage_markdown(accepted: set[str]) -> str:
    """The README section: what we accept, what users of our families still miss, and what
    we do not aim at (counted by reason)."""
    version, groups = comfy_groups()
    in_scope = [g for g in groups if g.out_of_scope is None]
    aimed = {i for g in in_scope for i in g.ids}
    have = sorted(i for g in groups for i in g.ids if i in accepted)  # Flux uses an SD3 node
    total = len(aimed | set(have))
    lines = [
        BEGIN,
        f"Measured against ComfyUI {version}'s core nodes for the families we have: "
        f"**{len(have)} of {total}** accepted by `class_type`.",
        "",
        "Accepted: " + ", ".join(f"`{i}`" for i in have) + ".",
        "",
        "Not yet (by the ComfyUI file that declares them):",
        "",
    ]
    for g in in_scope:
        missing = [i for i in g.ids if i not in accepted]
        if missing:
            lines.append(f"- `{g.source}`: " + ", ".join(f"`{i}`" for i in missing))
    reasons: dict[str, int] = {}
    for g in groups:
        if g.out_of_scope is not None:
            unused = [i for i in g.ids if i not in accepted]
            reasons[g.out_of_scope] = reasons.get(g.out_of_scope, 0) + len(unused)
    aimed_not = "; ".join(f"{n} {r}" for r, n in reasons.items())
    lines += ["", f"Not aimed at: {aimed_not}.", END]
    return "\n".join(lines)


def accepted_ids() -> set[str]:
    from engine.registry import Registry

    return set(Registry.discover().comfy_ids())


def rewrite(readme: Path, section: str) -> str:
    text = readme.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + section + text[end:]


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(rewrite(path, coverage_markdown(accepted_ids())))
