"""The background import of what the first model load needs (engine.warmup)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from engine.warmup import THREAD_NAME, WarmUp


@pytest.fixture
def slow_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A module that takes 0.5 s to import, as torch does (longer)."""
    (tmp_path / "slow_warm_probe.py").write_text("import time\ntime.sleep(0.5)\nLOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_warm_probe", raising=False)
    return "slow_warm_probe"


def test_imports_the_modules_on_a_daemon_thread_and_returns_at_once(slow_module: str) -> None:
    warm = WarmUp()
    began = time.perf_counter()
    assert warm.start([slow_module])
    assert time.perf_counter() - began < 0.2  # the caller (the server) is not held up
    assert any(t.name == THREAD_NAME and t.daemon for t in threading.enumerate())
    assert warm.wait(10)
    assert sys.modules[slow_module].LOADED and warm.seconds is not None and not warm.running


def test_starts_once_and_reports_modules_that_fail() -> None:
    warm = WarmUp()
    assert not warm.start([])  # nothing to warm: no thread
    assert warm.wait(0)  # never started: nothing to wait for
    assert warm.start(["json", "no_such_module_here"])
    assert not warm.start(["json"])
    assert warm.wait(10)
    assert list(warm.failures) == ["no_such_module_here"]


def test_packs_name_what_their_first_run_imports() -> None:
    warm = Registry.discover(plugins=False).warm_imports
    assert warm[:2] == ["torch", "nodes.ops.families.files"]
    assert len(warm) == len(set(warm))


def test_a_run_waits_for_the_warm_up_and_the_setting_turns_it_off(
    tmp_path: Path, slow_module: str
) -> None:
    registry = Registry()
    registry.warm_imports.append(slow_module)
    off = Executor(registry, Settings.at(tmp_path, warm_imports=False))
    assert not off.warm_imports() and not off.warm_up.running
    executor = Executor(registry, Settings.at(tmp_path))
    assert executor.warm_imports()
    from engine.workflow import parse_workflow

    executor.run(parse_workflow({"nodes": {}}))  # arrives during the warm-up
    assert not executor.warm_up.running  # it ran after the imports, never beside them
    assert isinstance(sys.modules[slow_module], ModuleType)


def test_a_ray_worker_warms_up_as_it_starts_unless_told_not_to(tmp_path: Path) -> None:
    from apps.cluster.worker import RenderWorker

    cold = RenderWorker(Settings.at(tmp_path / "cold", warm_imports=False), threads=1)
    assert not cold.executor.warm_up.running and cold.executor.warm_up.seconds is None
    worker = RenderWorker(Settings.at(tmp_path / "warm"), threads=1)
    assert worker.executor.warm_up.wait(120)
    assert worker.executor.warm_up.seconds is not None and not worker.executor.warm_up.failures
