"""Finding nodes: packs declared as entry points, and the custom_nodes/ folder.

A pack is a module; its node classes are the declared classes defined in it (or listed in
its `NODES`). diffgraph's own packs are entry points of the group `diffgraph.nodes` like any
plugin's (see pyproject.toml), so the engine never imports them by name. A pack that fails
to import, or a node that clashes with one already known, is recorded in `failures` and
skipped; everything else keeps working.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from engine.node import NodeSpec, spec_of
from engine.settings import Settings

ENTRY_POINT_GROUP = "diffgraph.nodes"
DISTRIBUTION = "diffgraph"  # whose entry points are the built-in packs


@dataclass(frozen=True)
class PackFailure:
    pack: str
    source: str  # "builtin", "entry point" or the custom_nodes path
    error: str

    def __str__(self) -> str:
        return f"node pack {self.pack!r} ({self.source}) skipped: {self.error}"


class Registry:
    def __init__(self) -> None:
        self._specs: dict[str, NodeSpec] = {}
        self._comfy: dict[str, NodeSpec] = {}
        self.failures: list[PackFailure] = []
        # Modules packs want imported ahead of their first use (`engine.warmup`), in order.
        self.warm_imports: list[str] = []

    @classmethod
    def discover(
        cls,
        settings: Settings | None = None,
        *,
        builtin: bool = True,
        plugins: bool = True,
    ) -> Registry:
        """Every pack this installation has: diffgraph's own, plugins', then custom_nodes/
        (so a built-in node id always wins a clash)."""
        registry = cls()
        points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        ours = [ep for ep in points if _distribution(ep) == DISTRIBUTION]
        if builtin:
            if not ours:
                why = (
                    "diffgraph is not installed, so its entry points are missing: pip install -e ."
                )
                registry.failures.append(PackFailure("diffgraph", "builtin", why))
            for ep in ours:
                registry.load_pack(ep.name, "builtin", ep.load)
        if plugins:
            for ep in points:
                if _distribution(ep) != DISTRIBUTION:
                    registry.load_pack(ep.name, "entry point", ep.load)
        for folder in settings.custom_nodes_dirs if settings else ():
            registry.load_folder(folder)
        return registry

    def load_pack(self, pack: str, source: str, load: Callable[[], Any]) -> None:
        """Import a pack and add its nodes; on failure record why and go on."""
        try:
            self.add_pack(load(), pack)
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            detail = f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"
            self.failures.append(PackFailure(pack, source, detail))

    def load_folder(self, folder: Path) -> None:
        """Load each `*.py` file and each package directory in a custom_nodes folder."""
        if not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            if path.name.startswith((".", "_")):
                continue
            if path.is_dir() and (path / "__init__.py").is_file():
                entry, name = path / "__init__.py", path.name
            elif path.suffix == ".py":
                entry, name = path, path.stem
            else:
                continue
            self.load_pack(name, str(path), partial(_import_file, entry, name))

    def add_pack(self, pack: Any, name: str) -> None:
        for cls in _node_classes(pack):
            spec = spec_of(cls)
            assert spec is not None
            self.add(replace(spec, pack=name))
        for module in getattr(pack, "WARM_IMPORTS", ()):
            if module not in self.warm_imports:
                self.warm_imports.append(module)

    def add(self, spec: NodeSpec) -> None:
        known = self._specs.get(spec.id)
        if known is not None and known.cls is not spec.cls:
            failure = f"node id {spec.id!r} is already provided by pack {known.pack!r}"
            self.failures.append(PackFailure(spec.pack, "duplicate", failure))
            return
        self._specs[spec.id] = spec
        if spec.comfy:
            self._comfy.setdefault(spec.comfy, spec)

    def get(self, type_id: str) -> NodeSpec | None:
        return self._specs.get(type_id)

    def by_comfy(self, class_type: str) -> NodeSpec | None:
        """The node that stands for a ComfyUI class_type."""
        return self._comfy.get(class_type)

    def comfy_ids(self) -> list[str]:
        """Every ComfyUI class_type some node stands for."""
        return sorted(self._comfy)

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, type_id: object) -> bool:
        return type_id in self._specs

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {spec.id: spec.schema(settings) for spec in self}


def _node_classes(pack: Any) -> Iterable[type]:
    if isinstance(pack, ModuleType):
        listed = getattr(pack, "NODES", None)
        if listed is None:  # classes defined in the module itself, not imported into it
            return [
                obj
                for obj in vars(pack).values()
                if spec_of(obj) and obj.__module__ == pack.__name__
            ]
        pack = listed
    if isinstance(pack, list | tuple):
        bad = [obj for obj in pack if not spec_of(obj)]
        if bad:
            raise TypeError(f"{bad[0]!r} is not a declared node class (missing @node)")
        return pack
    raise TypeError(f"a node pack must be a module or a list of node classes, got {pack!r}")


def _distribution(ep: importlib.metadata.EntryPoint) -> str | None:
    dist = ep.dist
    return None if dist is None else str(dist.metadata["Name"])


def _import_file(path: Path, name: str) -> ModuleType:
    module_name = f"diffgraph_custom_nodes.{name}"
    is_package = path.name == "__init__.py"
    spec = importlib.util.spec_from_file_location(
        module_name, path, submodule_search_locations=[str(path.parent)] if is_package else None
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before exec, so the pack's relative imports work
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
