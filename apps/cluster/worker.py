"""The Ray actor that renders jobs: one per GPU (or CPU slot), owning an executor and its
model store, so models and cached outputs stay resident between jobs.

A plain class, made a Ray actor by the pool (`ray.remote(RenderWorker)`), so this module
imports without Ray. `run` is a generator: Ray streams what it yields back to the server
while the job runs (events, previews as encoded frames, shown images with their bytes), the run's
result last. It is a threaded actor, so `interrupt` and `describe` answer mid-job.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import tempfile
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from apps.cluster.wire import ShippedFile, shown_images
from apps.jobs.memory import give_back_memory
from engine.events import Event, NodeCached, NodeFinished, Progress
from engine.executor import Executor, RunResult
from engine.model_store import StoreEvent
from engine.paths import safe_join
from engine.settings import Settings
from engine.workflow import parse_workflow

WireItem = tuple[str, Any]  # ("event", Event) | ("preview", frame) | ("files", [...]) | ...
_DONE = object()


class RenderWorker:
    def __init__(self, settings: Settings, threads: int | None = None) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"  # workers never download either
        from engine.registry import Registry  # after the line above: nodes import diffusers

        scratch = Path(tempfile.mkdtemp(prefix="diffgraph-worker-"))
        # Removed when the actor exits cleanly (the pool ends each one before shutting Ray
        # down); without this every worker start left a folder of job files in /tmp.
        weakref.finalize(self, shutil.rmtree, scratch, ignore_errors=True)
        # Models and custom nodes come from the paths the server names (a shared volume,
        # or the same layout on every machine); files of the jobs live in a scratch folder.
        self.settings = replace(
            settings,
            input_dir=scratch / "input",
            output_dir=scratch / "output",
            temp_dir=scratch / "temp",
            user_dir=scratch / "user",
            threads=threads or settings.threads,
        )
        self.executor = Executor(Registry.discover(self.settings), self.settings)
        self.executor.warm_imports()  # the actor answers at once; its first job waits for it
        self.incarnation = uuid.uuid4().hex[:12]  # new after every restart
        self._store_log: list[StoreEvent] = []
        self.executor.models.add_listener(self._store_log.append)
        self._sent: set[tuple[str, str, str]] = set()  # images whose bytes went out

    def describe(self) -> dict[str, Any]:
        """Who this worker is and what it holds (the pool's view of it)."""
        import ray

        return {
            "incarnation": self.incarnation,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "node_id": ray.get_runtime_context().get_node_id(),
            **self.executor.devices.describe(),
            "models": self.executor.models.report(),
        }

    def interrupt(self, job_id: str | None = None) -> None:
        self.executor.interrupt(job_id)  # a job's id: kept even if its run has not begun

    def free(self, unload_models: bool, free_memory: bool) -> None:
        if unload_models:
            self.executor.models.clear()
        if free_memory:
            self.executor.cache.clear()
        give_back_memory()

    def run(
        self,
        job_id: str,
        document: dict[str, Any],
        targets: list[str] | None,
        inputs: list[ShippedFile],
        previews: bool = True,
    ) -> Iterator[WireItem]:
        """Run one job, yielding what the server relays; the last item is the result.
        `previews`: whether the job's client wants sampler previews (none are made if not)."""
        for item in inputs:
            self._receive(item)
        workflow = parse_workflow(document)  # the server parsed it already: cannot fail
        events: queue.Queue[Any] = queue.Queue()
        first_store_event = len(self._store_log)
        outcome: list[RunResult] = []

        def work() -> None:
            try:
                listener = _Forward(events.put, previews)
                outcome.append(
                    self.executor.run(workflow, targets=targets, listener=listener, run_id=job_id)
                )
            finally:
                events.put(_DONE)

        threading.Thread(target=work, name=f"job-{job_id}", daemon=True).start()
        while (event := events.get()) is not _DONE:
            yield from self._relay(event)
        result = replace(outcome[0], values={})  # in-run tensors stay here
        store = [
            {"kind": e.kind, "model": e.key.kind, "path": e.key.path, "part": e.key.part}
            for e in self._store_log[first_store_event:]
        ]
        yield ("result", {"result": result, "store_events": store, **self.describe()})

    def _relay(self, event: Event) -> Iterator[WireItem]:
        if isinstance(event, Progress) and event.preview is not None:
            from apps.jobs.messages import preview_frame

            # Encoded here: the frame (a JPEG, or Save Image (WebSocket)'s PNG) travels,
            # not the tensor.
            frame = preview_frame(event.preview, image_format=event.preview_format)
            yield ("event", replace(event, preview=None))
            yield ("preview", frame)
            return
        if isinstance(event, NodeFinished | NodeCached):
            files = [self._ship(image) for image in shown_images(event.ui)]
            if files:
                yield ("files", files)
        yield ("event", event)

    def _ship(self, image: dict[str, Any]) -> ShippedFile:
        folder = image.get("type", "output")
        subfolder, filename = image.get("subfolder", ""), image["filename"]
        key = (folder, subfolder, filename)
        root = self.settings.temp_dir if folder == "temp" else self.settings.output_dir
        data = None
        if key not in self._sent:
            path = safe_join(root, f"{subfolder}/{filename}" if subfolder else filename)
            data = path.read_bytes()
            self._sent.add(key)
        return ShippedFile(folder, subfolder, filename, data)

    def _receive(self, item: ShippedFile) -> None:
        relative = f"{item.subfolder}/{item.filename}" if item.subfolder else item.filename
        path = safe_join(self.settings.input_dir, relative)
        if path.is_file() and path.stat().st_mtime_ns == item.mtime_ns:
            return  # the same file as last time: its cache keys still hold
        if item.data is None:
            raise FileNotFoundError(f"input file {relative} was said to be here already")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(item.data)
        os.utime(path, ns=(item.mtime_ns, item.mtime_ns))


class _Forward:
    """Events into the job's stream, saying whether previews are wanted
    (`events.wants_previews`): a sampler then spares itself making them."""

    def __init__(self, sink: Callable[[Event], None], previews: bool) -> None:
        self.sink, self.previews = sink, previews

    def __call__(self, event: Event) -> None:
        self.sink(event)
