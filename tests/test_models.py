"""The model store: load once, share, evict by budget, report memory."""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from engine.model_store import ModelKey, ModelStore, StoreEvent, file_fingerprint, model_bytes


def linear(n: int) -> torch.nn.Module:
    return torch.nn.Linear(n, n, bias=False)  # n*n float32 weights


def key(name: str, fingerprint: str = "1") -> ModelKey:
    return ModelKey("checkpoint", f"/models/{name}.safetensors", fingerprint)


class Loads:
    def __init__(self) -> None:
        self.events: list[StoreEvent] = []

    def __call__(self, event: StoreEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[tuple[str, str]]:
        return [(e.kind, Path(e.key.path).stem) for e in self.events]


def test_loaded_once_and_shared() -> None:
    store = ModelStore(ram_budget=10**9)
    log = Loads()
    store.add_listener(log)
    calls = []

    def load() -> torch.nn.Module:
        calls.append(1)
        return linear(64)

    first = store.get(key("a"), load)
    second = store.handle(key("a"), load).get()
    assert first is second and len(calls) == 1
    assert log.kinds() == [("loaded", "a"), ("hit", "a")]
    assert log.events[0].nbytes == 64 * 64 * 4 == model_bytes(first)
    assert store.memory() == {"cpu": 64 * 64 * 4}
    assert store.report() == [
        {
            "kind": "checkpoint",
            "path": "/models/a.safetensors",
            "part": "",
            "bytes": 16384,
            "device": "cpu",
        }
    ]


def test_a_new_fingerprint_loads_again() -> None:
    store = ModelStore()
    a1 = store.get(key("a", "v1"), lambda: linear(8))
    a2 = store.get(key("a", "v2"), lambda: linear(8))
    assert a1 is not a2 and len(store.report()) == 2


def test_least_recently_used_is_evicted_past_the_budget() -> None:
    size = 128 * 128 * 4
    store = ModelStore(ram_budget=2 * size)
    log = Loads()
    store.add_listener(log)
    store.get(key("a"), lambda: linear(128))
    store.get(key("b"), lambda: linear(128))
    store.get(key("a"), lambda: linear(128))  # a is now the most recently used
    store.get(key("c"), lambda: linear(128))
    assert key("b") not in store and key("a") in store and key("c") in store
    assert ("evicted", "b") in log.kinds()
    assert store.memory()["cpu"] == 2 * size


def test_a_model_larger_than_the_budget_still_loads_alone() -> None:
    store = ModelStore(ram_budget=100)
    store.get(key("small"), lambda: linear(2))
    big = store.get(key("big"), lambda: linear(64))
    assert isinstance(big, torch.nn.Module)
    assert key("small") not in store and key("big") in store


def test_handle_reloads_after_eviction() -> None:
    store = ModelStore()
    handle = store.handle(key("a"), lambda: linear(4))
    first = handle.get()
    store.clear()
    assert key("a") not in store
    assert handle.get() is not first


def test_concurrent_requests_load_once() -> None:
    store = ModelStore()
    calls = []
    gate = threading.Event()

    def slow_load() -> torch.nn.Module:
        calls.append(1)
        gate.wait(5)
        return linear(4)

    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.get(key("a"), slow_load)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(r is results[0] for r in results)


def test_file_fingerprint_follows_content(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(b"1234")
    before = file_fingerprint(path)
    path.write_bytes(b"123456")
    assert file_fingerprint(path) != before
