"""Images coming back from workers, written into the server's own output and temp folders.

Each worker numbers its files in its scratch folder, so two workers both make
`diffgraph_00001_.png`. The server numbers them again as they arrive, in its folder,
and rewrites what the nodes showed to match: history and clients see the server's names,
exactly as if the job had run here.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from apps.cluster.wire import ShippedFile
from engine.paths import safe_join
from engine.settings import Settings

_NUMBERED = re.compile(r"^(?P<stem>.*)_(?P<n>\d+)_\.png$")


class ReturnedFiles:
    """Thread-safe: every worker's relay thread writes through one instance."""

    def __init__(self, settings: Settings) -> None:
        self.roots = {"output": settings.output_dir, "temp": settings.temp_dir}
        self._names: dict[tuple[str, str, str, str], str] = {}  # (worker, folder, sub, name)
        self._lock = threading.Lock()

    def receive(self, worker: str, files: list[ShippedFile]) -> None:
        for item in files:
            key = (worker, item.folder, item.subfolder, item.filename)
            with self._lock:
                if key in self._names or item.data is None:
                    continue
                self._names[key] = self._write(item)

    def rename(self, worker: str, ui: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """What a node showed, with the worker's file names replaced by the server's."""
        if not ui:
            return None if ui is None else dict(ui)
        renamed = dict(ui)
        if isinstance(ui.get("images"), list):
            renamed["images"] = [self._renamed(worker, i) for i in ui["images"]]
        return renamed

    def forget(self, worker: str) -> None:
        """A worker restarted: its scratch folder (and so its names) started over."""
        with self._lock:
            for key in [k for k in self._names if k[0] == worker]:
                del self._names[key]

    def _renamed(self, worker: str, image: Any) -> Any:
        if not isinstance(image, dict) or "filename" not in image:
            return image
        key = (worker, image.get("type", "output"), image.get("subfolder", ""), image["filename"])
        with self._lock:
            name = self._names.get(key)
        return image if name is None else {**image, "filename": name}

    def _write(self, item: ShippedFile) -> str:
        root = self.roots.get(item.folder, self.roots["output"])
        folder = safe_join(root, item.subfolder) if item.subfolder else root
        folder.mkdir(parents=True, exist_ok=True)
        name = _free_name(folder, item.filename)
        assert item.data is not None
        (folder / name).write_bytes(item.data)
        return name


def _free_name(folder: Path, filename: str) -> str:
    """`stem_NNNNN_.png` numbered after the highest in `folder`; other names kept if free."""
    match = _NUMBERED.match(filename)
    if match is None:
        stem, suffix, n = Path(filename).stem, Path(filename).suffix, 1
        name = filename
        while (folder / name).exists():
            name, n = f"{stem}_{n}{suffix}", n + 1
        return name
    stem = match.group("stem")
    pattern = re.compile(rf"^{re.escape(stem)}_(\d+)_\.png$")
    numbers = [int(m.group(1)) for p in folder.glob("*.png") if (m := pattern.match(p.name))]
    return f"{stem}_{max(numbers, default=0) + 1:05d}_.png"
