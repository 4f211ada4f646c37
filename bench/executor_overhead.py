"""Executor overhead: what the engine costs per node when the nodes themselves do nothing.

For a chain (each node feeds the next, a sink output node last) and a fan (one constant
feeding N-1 sink output nodes) of 100 and 1,000 trivial nodes, it prints the median of
several repeats of: validation; planning with an empty cache; a cold run on a fresh
Executor; a fully cached rerun on the same Executor. "In bodies" is time clocked inside the
nodes' run methods (building their Outputs). Dispatch overhead is (cold run - in bodies) /
nodes executed, validation and planning included; "of which execute" leaves those two out.
The direct-call floor is a plain loop building each node's Inputs and calling the same run
bodies, measured in the same process, so the overhead also reads as a ratio to it.

Run: .venv/bin/python bench/executor_overhead.py   (markdown tables; always exits 0)
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import threading
from collections.abc import Callable
from time import perf_counter
from typing import Any

from pydantic import BaseModel

from engine.cache import OutputCache
from engine.context import NodeContext
from engine.device import DevicePolicy
from engine.events import Event
from engine.executor import Executor
from engine.model_store import ModelStore
from engine.node import node
from engine.plan import make_plan
from engine.registry import Registry
from engine.settings import Settings
from engine.validate import output_nodes, validate
from engine.workflow import Link, Workflow, WorkflowNode

BODY = [0.0]  # seconds spent inside the run bodies, accumulated by the nodes themselves


@node("bench.const", title="Const", category="bench")
class Const:
    class Inputs(BaseModel):
        value: int = 0

    class Outputs(BaseModel):
        value: int

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        began = perf_counter()
        out = self.Outputs(value=inputs.value)
        BODY[0] += perf_counter() - began
        return out


@node("bench.inc", title="Increment", category="bench")
class Inc:
    class Inputs(BaseModel):
        x: int = 0

    class Outputs(BaseModel):
        value: int

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        began = perf_counter()
        out = self.Outputs(value=inputs.x + 1)
        BODY[0] += perf_counter() - began
        return out


@node("bench.sink", title="Sink", category="bench", output=True)
class Sink(Inc):
    """An output node: the same body as Increment."""


def chain(n: int) -> Workflow:
    nodes = {"0": WorkflowNode(type="bench.const", inputs={"value": 1})}
    for i in range(1, n):
        kind = "bench.sink" if i == n - 1 else "bench.inc"
        nodes[str(i)] = WorkflowNode(type=kind, inputs={"x": Link(node=str(i - 1), output="value")})
    return Workflow(nodes=nodes)


def fan(n: int) -> Workflow:
    nodes = {"0": WorkflowNode(type="bench.const", inputs={"value": 1})}
    for i in range(1, n):
        nodes[str(i)] = WorkflowNode(
            type="bench.sink", inputs={"x": Link(node="0", output="value")}
        )
    return Workflow(nodes=nodes)


def direct(shape: str, n: int, ctx: NodeContext) -> None:
    """The floor: the same bodies called by hand, Inputs built by the caller."""
    first = Const().run(Const.Inputs(value=1), ctx).value
    value = first
    for i in range(1, n):
        cls = Sink if i == n - 1 else Inc
        x = value if shape == "chain" else first
        value = cls().run(cls.Inputs(x=x), ctx).value


def median_s(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of fn() in seconds."""
    times = []
    for _ in range(repeats):
        gc.collect()
        began = perf_counter()
        fn()
        times.append(perf_counter() - began)
    return statistics.median(times)


def ignore(event: Event) -> None:
    pass


def measure(shape: str, n: int, reg: Registry, settings: Settings, repeats: int) -> dict[str, Any]:
    wf = chain(n) if shape == "chain" else fan(n)
    targets = output_nodes(wf, reg)
    assert validate(wf, reg, settings) == []
    row: dict[str, Any] = {"shape": shape, "n": n}
    row["validate_ms"] = 1e3 * median_s(lambda: validate(wf, reg, settings), repeats)

    def plan() -> Any:
        return make_plan(wf, reg, settings, targets, OutputCache(settings.cache_bytes))

    assert len(plan().to_run) == n
    row["plan_ms"] = 1e3 * median_s(plan, repeats)

    colds: list[tuple[float, float]] = []  # (run seconds, body seconds)
    for _ in range(repeats):
        ex = Executor(reg, settings)
        BODY[0] = 0.0
        gc.collect()
        began = perf_counter()
        res = ex.run(wf, listener=ignore)
        colds.append((perf_counter() - began, BODY[0]))
        assert res.status == "success" and len(res.executed) == n, res.status
    run_s, body_s = sorted(colds)[len(colds) // 2]
    row["cold_ms"] = 1e3 * run_s
    row["body_us"] = 1e6 * body_s / n
    row["dispatch_us"] = 1e6 * (run_s - body_s) / n
    row["execute_us"] = row["dispatch_us"] - 1e3 * (row["validate_ms"] + row["plan_ms"]) / n

    cached_counts: list[int] = []

    def rerun() -> None:
        res = ex.run(wf, listener=ignore)  # ex: the last cold run's Executor, cache full
        assert res.status == "success" and len(res.executed) == 0, res.status
        cached_counts.append(len(res.cached))

    row["cached_ms"] = 1e3 * median_s(rerun, repeats)
    row["cached_us"] = 1e3 * row["cached_ms"] / n
    row["cached_nodes"] = cached_counts[0]

    ctx = NodeContext(
        node_id="direct",
        run_id="direct",
        workflow=wf,
        registry=reg,
        settings=settings,
        models=ModelStore(0, None),
        devices=DevicePolicy(),
        interrupt=threading.Event(),
        listener=ignore,
    )
    row["direct_us"] = 1e6 * median_s(lambda: direct(shape, n, ctx), repeats) / n
    return row


Row = dict[str, Any]
COLUMNS: list[tuple[str, Callable[[Row], str]]] = [
    ("shape", lambda r: r["shape"]),
    ("nodes", lambda r: f"{r['n']:,}"),
    ("validate ms", lambda r: f"{r['validate_ms']:.2f}"),
    ("plan ms", lambda r: f"{r['plan_ms']:.2f}"),
    ("cold run ms", lambda r: f"{r['cold_ms']:.2f}"),
    ("in bodies µs/node", lambda r: f"{r['body_us']:.2f}"),
    ("dispatch µs/node", lambda r: f"{r['dispatch_us']:.1f}"),
    ("of which execute µs/node", lambda r: f"{r['execute_us']:.1f}"),
    ("direct call µs/node", lambda r: f"{r['direct_us']:.2f}"),
    ("dispatch / direct", lambda r: f"{r['dispatch_us'] / r['direct_us']:.1f}x"),
    ("cached rerun ms", lambda r: f"{r['cached_ms']:.2f}"),
    ("cached µs/node", lambda r: f"{r['cached_us']:.1f}"),
    ("reported cached", lambda r: f"{r['cached_nodes']:,}"),
]


def main() -> None:
    reg = Registry()
    reg.add_pack([Const, Inc, Sink], "bench")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.at(tmp)
        for shape in ("chain", "fan"):  # warm-up: first-call costs of pydantic, allocator, ...
            measure(shape, 1000, reg, settings, 1)
        rows = [
            measure(shape, n, reg, settings, 21 if n <= 100 else 7)
            for shape in ("chain", "fan")
            for n in (100, 1000)
        ]

    print("| " + " | ".join(name for name, _ in COLUMNS) + " |")
    print("|---" + "|--:" * (len(COLUMNS) - 1) + "|")
    for r in rows:
        print("| " + " | ".join(cell(r) for _, cell in COLUMNS) + " |")

    big = [r for r in rows if r["n"] == 1000]
    targets = [  # (target, worst measured, unit, limit)
        ("dispatch overhead < 50 µs/node", max(r["dispatch_us"] for r in rows), "µs", 50),
        ("cached rerun of 1,000 nodes < 50 ms", max(r["cached_ms"] for r in big), "ms", 50),
        ("validate 1,000 nodes well under 100 ms", max(r["validate_ms"] for r in big), "ms", 100),
    ]
    print("\n| target | worst measured | result |\n|---|--:|---|")
    for name, worst, unit, limit in targets:
        print(f"| {name} | {worst:.2f} {unit} | {'PASS' if worst < limit else 'MISS'} |")


if __name__ == "__main__":
    main()
