"""The server's side of a Ray cluster: a pool of `RenderWorker` actors fed from the
persistent queue. A `JobRunner` like the in-process one, so the routes do not care which runs.

The queue stays here; each actor takes one job at a time, so pending jobs wait in SQLite
(and survive a restart) rather than in Ray. Dispatch prefers an idle actor that already
holds the job's models, else the least loaded. Ray restarts a dead actor; the job it was
running goes back to the queue once, and fails with the reason the second time.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

from apps.cluster.config import ClusterUnreachable, RayConfig
from apps.cluster.outputs import ReturnedFiles
from apps.cluster.wire import input_files
from apps.cluster.worker import RenderWorker
from apps.jobs.lifecycle import JobRefused, Publish, WorkerLost, announce, run_job
from apps.jobs.messages import JobMessages
from apps.jobs.queue import Job, JobQueue
from engine.events import NodeCached, NodeFinished
from engine.executor import RunResult
from engine.settings import Settings
from engine.workflow import Workflow

log = logging.getLogger(__name__)


@dataclass
class WorkerSlot:
    name: str
    actor: Any
    state: Literal["starting", "idle", "busy", "lost"] = "starting"
    job: str | None = None
    info: dict[str, Any] = field(default_factory=dict)  # the actor's describe()
    jobs_done: int = 0
    restarts: int = 0
    store_events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=500))
    inputs_sent: set[tuple[str, int]] = field(default_factory=set)  # to this incarnation

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "job": self.job,
            "jobs_done": self.jobs_done,
            "restarts": self.restarts,
            **self.info,
            "store_events": list(self.store_events),
        }

    def resident(self) -> set[str]:
        return {Path(m["path"]).name for m in self.info.get("models", [])}


class RayPool:
    def __init__(
        self,
        queue: JobQueue,
        publish: Publish,
        settings: Settings,
        config: RayConfig,
        preview_method: str = "none",
    ):
        self.queue, self.publish, self.settings, self.config = queue, publish, settings, config
        self.preview_method = preview_method  # the server's; a job may ask otherwise
        self.files = ReturnedFiles(settings)
        self.slots: list[WorkerSlot] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._dispatcher = threading.Thread(target=self._dispatch, name="diffgraph-ray-dispatch")

    # -- the JobRunner surface ----------------------------------------------------------

    def start(self) -> None:
        import ray

        address = None if self.config.address == "local" else self.config.address
        try:
            ray.init(address=address, namespace="diffgraph", log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            reason = f"cannot reach the Ray cluster at {self.config.address}: {exc}"
            raise ClusterUnreachable(reason) from None
        cpus, gpus, count = self._shape(ray.cluster_resources())
        settings = self.settings
        if self.config.models_dir is not None:
            settings = replace(settings, models_dir=self.config.models_dir)
        actor_class = ray.remote(RenderWorker).options(
            num_cpus=cpus,
            num_gpus=gpus,
            max_restarts=-1,  # Ray brings a dead worker back; we re-queue its job
            max_task_retries=0,
            max_concurrency=4,  # interrupt and describe answer while a job runs
        )
        threads = None if gpus else max(1, int(cpus))
        for i in range(count):
            slot = WorkerSlot(f"worker-{i}", actor_class.remote(settings, threads))
            self.slots.append(slot)
            self._spawn(self._wait_ready, slot)
        log.info("Ray pool: %d worker(s), %s CPU and %s GPU each", count, cpus, gpus)
        self._dispatcher.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop dispatching; running jobs are interrupted and go back to pending."""
        import ray

        self._stopping.set()
        self.interrupt()
        self._wake.set()
        if self._dispatcher.is_alive():
            self._dispatcher.join(timeout)
        for thread in list(self._threads):
            thread.join(timeout)
        if ray.is_initialized():
            # A graceful exit lets each worker remove its scratch folder; Ray's own
            # shutdown would kill the processes without running their exit handlers.
            ends = [slot.actor.__ray_terminate__.remote() for slot in self.slots]
            ray.wait(ends, num_returns=len(ends), timeout=timeout)
            ray.shutdown()

    def wake(self) -> None:
        self._wake.set()
        self.announce()

    def announce(self) -> None:
        announce(self.queue, self.publish)

    def interrupt(self, job_id: str | None = None) -> bool:
        """Stop `job_id` where it runs, or every running job when None."""
        with self._lock:
            busy = [s for s in self.slots if s.state == "busy" and s.job is not None]
        chosen = [s for s in busy if job_id is None or s.job == job_id]
        for slot in chosen:
            slot.actor.interrupt.remote(slot.job)
        return bool(chosen)

    def free(self, unload_models: bool, free_memory: bool) -> None:
        for slot in self.slots:
            if slot.state != "lost":
                slot.actor.free.remote(unload_models, free_memory)
            if unload_models:
                slot.info["models"] = []

    def workers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [slot.view() for slot in self.slots]

    # -- dispatching --------------------------------------------------------------------

    def _shape(self, resources: dict[str, float]) -> tuple[float, float, int]:
        """CPUs and GPUs per worker, and how many workers."""
        gpus = self.config.gpus_per_worker
        if gpus is None:
            gpus = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
        cpus = self.config.cpus_per_worker
        if self.config.workers is not None:
            return cpus, gpus, self.config.workers
        if gpus:
            return cpus, gpus, max(1, int(resources.get("GPU", 0) // gpus))
        return cpus, gpus, max(1, int(resources.get("CPU", 1) // cpus))

    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                idle = [s for s in self.slots if s.state == "idle"]
            job = self.queue.claim_next() if idle else None
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            slot = choose_worker(idle, job)
            with self._lock:
                slot.state, slot.job = "busy", job.id
            self.announce()
            self._spawn(self._run_on, slot, job)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _run_on(self, slot: WorkerSlot, job: Job) -> None:
        execute = partial(self._execute, slot)
        run_job(self.queue, self.publish, job, execute, self._stopping, self.preview_method)
        if slot.state == "lost":
            self.wake()  # its job may be pending again, for another worker
            self._wait_ready(slot)
        else:
            self._idle(slot)

    def _execute(
        self, slot: WorkerSlot, workflow: Workflow, job: Job, reporter: JobMessages
    ) -> RunResult:
        """Run the job on the slot's actor; the images it returns take the server's names."""
        from ray.exceptions import RayActorError

        try:
            inputs = input_files(job.workflow, self.settings.input_dir, slot.inputs_sent)
        except ValueError as exc:
            raise JobRefused(str(exc)) from None
        incarnation = slot.info.get("incarnation", "")
        try:
            outcome = self._relay(slot, job, reporter, inputs)
        except RayActorError as exc:
            raise WorkerLost(self._lost(slot, exc)) from None
        result: RunResult = outcome["result"]
        result.ui = {n: self.files.rename(incarnation, ui) or {} for n, ui in result.ui.items()}
        with self._lock:
            slot.info = {k: v for k, v in outcome.items() if k not in ("result", "store_events")}
            slot.store_events.extend({"job": job.id, **e} for e in outcome["store_events"])
            slot.jobs_done += 1
        return result

    def _relay(
        self, slot: WorkerSlot, job: Job, reporter: JobMessages, inputs: list[Any]
    ) -> dict[str, Any]:
        """Pass on what the worker streams while the job runs; returns its last item."""
        import ray

        incarnation = slot.info.get("incarnation", "")
        run = slot.actor.run.remote(job.id, job.workflow, job.targets, inputs, reporter.previews)
        for ref in run:
            kind, payload = ray.get(ref)
            if kind == "files":
                self.files.receive(incarnation, payload)
            elif kind == "preview":
                reporter.frame(payload)  # a whole binary frame: sent if the job wants it
            elif kind == "event":
                if isinstance(payload, NodeFinished | NodeCached):
                    payload = replace(payload, ui=self.files.rename(incarnation, payload.ui))
                reporter(payload)
            elif kind == "result":
                return dict(payload)
        raise RuntimeError("the worker's stream ended without a result")

    def _lost(self, slot: WorkerSlot, exc: Exception) -> str:
        """The slot's actor died: forget what it held (Ray restarts it as a new
        incarnation); returns why, for the job's record."""
        with self._lock:
            self.files.forget(slot.info.get("incarnation", ""))  # its names died with it
            slot.state, slot.job, slot.info = "lost", None, {}
            slot.inputs_sent.clear()  # its scratch folder is gone with it
            slot.restarts += 1
        reason = f"{slot.name} was lost while running the job ({type(exc).__name__})"
        log.warning("%s", reason)
        return reason

    def _wait_ready(self, slot: WorkerSlot) -> None:
        """Until the actor (new, or restarted by Ray) answers, then mark it idle."""
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError

        while not self._stopping.is_set():
            try:
                info = ray.get(slot.actor.describe.remote(), timeout=10)
            except (GetTimeoutError, RayActorError) as exc:
                log.info("%s not ready yet: %s", slot.name, type(exc).__name__)
                self._stopping.wait(2.0)
                continue
            with self._lock:
                slot.info = info
            return self._idle(slot)

    def _idle(self, slot: WorkerSlot) -> None:
        with self._lock:
            slot.state, slot.job = "idle", None
        self.wake()


def choose_worker(idle: list[WorkerSlot], job: Job) -> WorkerSlot:
    """The idle worker holding most of the files the job names (its checkpoint...), then
    the one holding least, then the one that ran fewest jobs."""
    named = {
        Path(value).name
        for node in job.workflow.get("nodes", {}).values()
        for value in (node.get("inputs") or {}).values()
        if isinstance(value, str)
    }

    def score(slot: WorkerSlot) -> tuple[int, int, int]:
        held = sum(m.get("bytes", 0) for m in slot.info.get("models", []))
        return (-len(named & slot.resident()), held, slot.jobs_done)

    return min(idle, key=score)
