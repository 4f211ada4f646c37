"""What travels between the server and a Ray worker, besides the workflow itself.

Input files the workflow names travel to the worker with the job; every image a node
shows travels back with the event that shows it (once per file), so the server writes
it before it tells any client about it. Model weights never travel: each worker loads
them from its own models folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.paths import UnsafePath, safe_join, split_annotation

MAX_INPUT_BYTES = 200 * 1024**2  # one job's input files, all together


@dataclass(frozen=True)
class ShippedFile:
    """One file under input/, output/ or temp/, relative to that folder."""

    folder: str  # "input", "output", "temp"
    subfolder: str
    filename: str
    data: bytes | None  # None: already sent once, the receiver knows it
    mtime_ns: int = 0  # kept, so a worker's cache keys (file identities) stay stable


def input_files(
    workflow: Mapping[str, Any], input_dir: Path, sent: set[tuple[str, int]]
) -> list[ShippedFile]:
    """Files under `input_dir` that the workflow's literal inputs name (Load Image, ...).
    `sent` holds (relative path, mtime) of those the worker already has: they go without
    their bytes, and the ones read now are added to it."""
    shipped: dict[Path, ShippedFile] = {}
    total = 0
    for node in workflow.get("nodes", {}).values():
        for value in (node.get("inputs") or {}).values():
            if not isinstance(value, str) or not value or "\n" in value:
                continue
            plain, folder = split_annotation(value)  # ComfyUI's `x.png [input]`
            if folder not in (None, "input"):
                continue  # output and temp files stay on the server: not shipped
            try:
                path = safe_join(input_dir, plain)
            except UnsafePath:
                continue
            if path in shipped or not path.is_file():
                continue
            stat = path.stat()
            relative = path.relative_to(input_dir.resolve())
            known = (relative.as_posix(), stat.st_mtime_ns) in sent
            total += 0 if known else stat.st_size
            if total > MAX_INPUT_BYTES:
                raise ValueError(f"the job's input files exceed {MAX_INPUT_BYTES} bytes")
            subfolder = relative.parent.as_posix()
            data = None if known else path.read_bytes()
            shipped[path] = ShippedFile(
                "input", "" if subfolder == "." else subfolder, path.name, data, stat.st_mtime_ns
            )
    sent.update((f"{f.subfolder}/{f.filename}".lstrip("/"), f.mtime_ns) for f in shipped.values())
    return list(shipped.values())


def shown_images(ui: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The image entries ({filename, subfolder, type}) of what a node showed."""
    if not ui:
        return []
    return [i for i in ui.get("images", []) if isinstance(i, dict) and "filename" in i]
