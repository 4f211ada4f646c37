"""Running a workflow: validate, plan, execute what the cache lacks, report as it goes.

The executor knows nothing of HTTP or terminals: it takes a listener for its events.
A failing node stops the run and is reported by id; everything computed before it stays
in the cache, so the next run picks up from there.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from engine.cache import OutputCache
from engine.context import Interrupted, NodeContext, NodeInputError, interruptible_by
from engine.device import DevicePolicy
from engine.events import (
    Event,
    Listener,
    NodeCached,
    NodeFailed,
    NodeFinished,
    NodeStarted,
    RunFinished,
    RunInterrupted,
    RunStarted,
)
from engine.model_store import ModelStore
from engine.plan import FingerprintError, Plan, make_plan
from engine.registry import Registry
from engine.settings import Settings
from engine.validate import Problem, output_nodes, validate
from engine.warmup import WarmUp
from engine.workflow import Link, Workflow

Status = Literal["success", "invalid", "failed", "interrupted"]


@dataclass
class RunResult:
    run_id: str
    status: Status
    problems: list[Problem] = field(default_factory=list)  # when invalid
    error: NodeFailed | None = None  # when failed
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    ui: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # output node -> results
    values: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # target -> outputs


class _Ignore:
    """The listener of a run nobody follows: it wants no previews either."""

    previews = False

    def __call__(self, event: Event) -> None:
        pass


_ignore = _Ignore()


class Executor:
    """Runs workflows one at a time, keeping outputs and models between runs."""

    def __init__(
        self,
        registry: Registry,
        settings: Settings,
        *,
        cache: OutputCache | None = None,
        models: ModelStore | None = None,
        devices: DevicePolicy | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.cache = cache if cache is not None else OutputCache(settings.cache_bytes)
        self.models = models or ModelStore(settings.ram_budget, settings.vram_budget)
        self.devices = devices or DevicePolicy(settings.device, settings.dtype, settings.threads)
        self._interrupt = threading.Event()
        self._interrupt_lock = threading.Lock()  # orders interrupts against run starts
        self._running: str | None = None  # the run in progress
        self._stop_on_start: str | None = None  # a run interrupted before it began
        self._one_at_a_time = threading.Lock()
        self.warm_up = WarmUp()  # started by the server/worker once ready; runs wait for it

    def warm_imports(self) -> bool:
        """Import in the background what the packs' first runs need (their `WARM_IMPORTS`),
        unless the settings turn it off; False when nothing was started."""
        if not self.settings.warm_imports:
            return False
        return self.warm_up.start(self.registry.warm_imports)

    def interrupt(self, run_id: str | None = None) -> None:
        """Ask a run to stop (from any thread); it stops within one step. Without `run_id`,
        whatever runs now; with it, that run only, even if it has not begun yet: a job's
        runner claims it before the run starts, and an interrupt arriving in between must
        not be lost to the run clearing the flag of the previous one."""
        with self._interrupt_lock:
            if run_id is None or run_id == self._running:
                self._interrupt.set()
            else:
                self._stop_on_start = run_id

    def _begin(self, run_id: str) -> None:
        """Start a run with the flag clear, unless this very run was interrupted already."""
        with self._interrupt_lock:
            self._running = run_id
            if self._stop_on_start == run_id:
                self._interrupt.set()
            else:
                self._interrupt.clear()
            self._stop_on_start = None

    def _end(self) -> None:
        with self._interrupt_lock:
            self._running = None

    def run(
        self,
        workflow: Workflow,
        *,
        targets: Collection[str] | None = None,
        listener: Listener | None = None,
        run_id: str | None = None,
    ) -> RunResult:
        """Run `targets` (default: every output node) and what they depend on."""
        emit = listener or _ignore
        result = RunResult(run_id or uuid.uuid4().hex, "success")
        with self._one_at_a_time:
            self.warm_up.wait()  # never import the same packages on two threads at once
            self._begin(result.run_id)
            try:
                self._validate_plan_execute(workflow, targets, result, emit)
            finally:
                self._end()
            return result

    def _validate_plan_execute(
        self,
        workflow: Workflow,
        targets: Collection[str] | None,
        result: RunResult,
        emit: Listener,
    ) -> None:
        problems = validate(workflow, self.registry, self.settings, targets)
        if problems:
            result.status, result.problems = "invalid", problems
            return
        goal = list(targets) if targets is not None else output_nodes(workflow, self.registry)
        try:
            plan = make_plan(workflow, self.registry, self.settings, goal, self.cache)
        except FingerprintError as exc:
            failure = _failure(exc.node, exc.type_id, exc.cause)
            emit(failure)
            result.status, result.error = "failed", failure
            return
        self._execute(workflow, plan, goal, result, emit)

    def _execute(
        self, workflow: Workflow, plan: Plan, goal: list[str], result: RunResult, emit: Listener
    ) -> None:
        start = time.perf_counter()
        up_to_date = set(plan.up_to_date)
        result.cached = [n for n in plan.order if n in plan.cached or n in up_to_date]
        emit(RunStarted(result.run_id, tuple(plan.to_run), tuple(result.cached)))
        values: dict[str, Mapping[str, Any]] = {}
        for node_id in result.cached:
            entry = plan.cached.get(node_id)
            if entry is not None:
                values[node_id] = entry.outputs
                if entry.ui:
                    result.ui[node_id] = entry.ui
            emit(NodeCached(node_id, entry.ui if entry else None))
        running: str | None = None
        try:
            with interruptible_by(self._interrupt):  # for check_interrupt() in plain functions
                if self._interrupt.is_set():  # stopped before it began: even all-cached runs end
                    raise Interrupted()
                for node_id in plan.to_run:
                    running = node_id
                    if self._interrupt.is_set():
                        raise Interrupted()
                    outputs, ui = self._run_node(workflow, node_id, values, result.run_id, emit)
                    self.cache.put(plan.keys[node_id], outputs, ui, node_id)
                    values[node_id] = outputs
                    result.executed.append(node_id)
                    if ui:
                        result.ui[node_id] = ui
                    self._release_inputs(workflow, node_id, plan, values, goal)
                running = None
        except Interrupted:
            result.status = "interrupted"
            emit(RunInterrupted(result.run_id, running))
            return
        except Exception as exc:
            spec = self.registry.get(workflow.nodes[running].type) if running else None
            failure = _failure(running or "", spec.id if spec else "", exc)
            result.status, result.error = "failed", failure
            emit(failure)
            return
        result.values = {t: values[t] for t in goal}
        emit(RunFinished(result.run_id, time.perf_counter() - start, dict(result.ui)))

    def _run_node(
        self,
        workflow: Workflow,
        node_id: str,
        values: Mapping[str, Mapping[str, Any]],
        run_id: str,
        emit: Listener,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        node = workflow.nodes[node_id]
        spec = self.registry.get(node.type)
        assert spec is not None
        given = {
            name: values[v.node][v.output] if isinstance(v, Link) else v
            for name, v in node.inputs.items()
        }
        try:
            inputs = spec.cls.Inputs.model_validate(given)  # type: ignore[attr-defined]
        except ValidationError as exc:  # a linked value broke a constraint
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else "?"
            raise NodeInputError(name, f"input {name!r}: {first['msg']}") from None
        ctx = NodeContext(
            node_id=node_id,
            run_id=run_id,
            workflow=workflow,
            registry=self.registry,
            settings=self.settings,
            models=self.models,
            devices=self.devices,
            interrupt=self._interrupt,
            listener=emit,
        )
        emit(NodeStarted(node_id, spec.id))
        began = time.perf_counter()
        out = spec.cls().run(inputs, ctx)
        if not isinstance(out, spec.cls.Outputs):  # type: ignore[attr-defined]
            raise TypeError(f"{spec.id}.run returned {type(out).__name__}, not its Outputs")
        outputs = {name: getattr(out, name) for name in spec.outputs}
        ui = ctx.ui or None
        emit(NodeFinished(node_id, time.perf_counter() - began, ui))
        return outputs, ui

    @staticmethod
    def _release_inputs(
        workflow: Workflow,
        node_id: str,
        plan: Plan,
        values: dict[str, Mapping[str, Any]],
        goal: list[str],
    ) -> None:
        """Drop in-run results no later node reads, so memory follows the graph's width."""
        for value in workflow.nodes[node_id].inputs.values():
            if isinstance(value, Link) and value.node in plan.consumers:
                plan.consumers[value.node] -= 1
                if plan.consumers[value.node] == 0 and value.node not in goal:
                    values.pop(value.node, None)


def _failure(node_id: str, type_id: str, exc: BaseException) -> NodeFailed:
    input_name: str | None = None
    message = str(exc) or type(exc).__name__
    if isinstance(exc, NodeInputError):
        input_name = exc.input
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return NodeFailed(node_id, type_id, type(exc).__name__, message, input_name, tb)
