"""Finding node packs: built-in, entry-point plugins, custom_nodes/, and broken ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.registry import ENTRY_POINT_GROUP, Registry
from engine.settings import Settings
from tests.conftest import REPO

GOOD_PACK = """
from pydantic import BaseModel
from engine.node import node

@node("{ns}.hello", title="Hello", category="plugins", comfy="{ns}Hello")
class Hello:
    class Inputs(BaseModel):
        name: str = "world"
    class Outputs(BaseModel):
        text: str
    def run(self, inputs, ctx):
        return self.Outputs(text="hello " + inputs.name)
"""


def install_plugin(site: Path, dist: str, module: str, source: str) -> None:
    """A real installed distribution (dist-info with entry_points.txt) on a sys.path entry."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{dist} = {module}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site


def test_builtin_packs_load() -> None:
    registry = Registry.discover(plugins=False)
    assert not registry.failures
    assert {"image.save", "image.load", "value.int"} <= {s.id for s in registry}
    assert registry.by_comfy("SaveImage") is registry.get("image.save")
    assert registry.get("image.save").pack == "nodes.image"  # type: ignore[union-attr]


def test_every_builtin_pack_is_an_entry_point_of_diffgraph() -> None:
    # A new module under nodes/ that is not declared in pyproject.toml would be invisible.
    modules = {f"nodes.{p.stem}" for p in (REPO / "nodes").glob("*.py") if p.stem != "__init__"}
    packs = {spec.pack for spec in Registry.discover(plugins=False)}
    assert packs == modules


def test_entry_point_plugin_is_registered(site: Path) -> None:
    install_plugin(site, "greeter", "greeter_nodes", GOOD_PACK.format(ns="greeter"))
    registry = Registry.discover()
    spec = registry.get("greeter.hello")
    assert spec is not None and spec.pack == "greeter"
    assert registry.by_comfy("greeterHello") is spec


def test_broken_plugin_is_reported_and_skipped(site: Path) -> None:
    install_plugin(site, "greeter", "greeter_nodes", GOOD_PACK.format(ns="greeter"))
    install_plugin(site, "broken", "broken_nodes", "import does_not_exist_anywhere\n")
    install_plugin(site, "badly_declared", "badly_declared_nodes", GOOD_PACK.format(ns="Bad"))
    registry = Registry.discover()
    assert "greeter.hello" in registry and "image.save" in registry
    failures = {f.pack: f for f in registry.failures}
    assert set(failures) == {"broken", "badly_declared"}
    assert "ModuleNotFoundError" in failures["broken"].error
    assert "does_not_exist_anywhere" in failures["broken"].error
    assert "must be namespaced" in failures["badly_declared"].error
    assert "Hello" in failures["badly_declared"].error  # names the class
    assert str(failures["broken"]).startswith("node pack 'broken' (entry point) skipped:")


def test_custom_nodes_folder(tmp_path: Path) -> None:
    settings = Settings.at(tmp_path)
    folder = tmp_path / "custom_nodes"
    folder.mkdir()
    (folder / "single.py").write_text(GOOD_PACK.format(ns="single"))
    package = folder / "packaged"
    package.mkdir()
    (package / "__init__.py").write_text("from .impl import Hello\nNODES = [Hello]\n")
    (package / "impl.py").write_text(GOOD_PACK.format(ns="packaged"))
    (folder / "crash.py").write_text("raise RuntimeError('this pack is broken')\n")
    (folder / "_private.py").write_text("raise RuntimeError('never imported')\n")
    (folder / "notes.txt").write_text("not a pack")
    registry = Registry.discover(settings, plugins=False)
    assert "single.hello" in registry and "packaged.hello" in registry
    assert [(f.pack, "this pack is broken" in f.error) for f in registry.failures] == [
        ("crash", True)
    ]


def test_duplicate_ids_keep_the_first(tmp_path: Path) -> None:
    settings = Settings.at(tmp_path)
    folder = tmp_path / "custom_nodes"
    folder.mkdir()
    (folder / "one.py").write_text(GOOD_PACK.format(ns="same"))
    (folder / "two.py").write_text(GOOD_PACK.format(ns="same"))
    registry = Registry.discover(settings, plugins=False)
    assert registry.get("same.hello").pack == "one"  # type: ignore[union-attr]
    assert len(registry.failures) == 1 and "already provided by pack 'one'" in (
        registry.failures[0].error
    )


def test_cli_lists_plugin_nodes_and_reports_broken_packs(site: Path, tmp_path: Path) -> None:
    install_plugin(site, "greeter", "greeter_nodes", GOOD_PACK.format(ns="greeter"))
    install_plugin(site, "broken", "broken_nodes", "raise ImportError('nope')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    done = subprocess.run(
        [sys.executable, "-m", "apps.cli", "--home", str(tmp_path), "nodes"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    schemas = json.loads(done.stdout)
    assert schemas["greeter.hello"]["inputs"] == [
        {"name": "name", "type": "STRING", "kind": "widget", "required": False, "default": "world"}
    ]
    assert schemas["greeter.hello"]["outputs"] == [{"name": "text", "type": "STRING"}]
    assert "warning: node pack 'broken' (entry point) skipped: ImportError: nope" in done.stderr
