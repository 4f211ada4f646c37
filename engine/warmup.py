"""Importing what the first model load needs, in the background, once the process is ready.

Start-up stays fast because torch, diffusers and transformers are imported lazily; without
this the first Load Checkpoint pays them instead (about two thirds of its time on a CPU).
Packs name the modules their loaders need in a module-level `WARM_IMPORTS` tuple (the
registry collects them); a daemon thread imports them after the server answers.

A run waits for the warm-up to end before it executes (`Executor.run`): the job would need
those modules anyway, and importing one package graph from two threads at once can hand a
thread a half-initialised module when the graph has cycles (Python's per-module import locks
break such a deadlock by letting one side through). Waiting makes that impossible.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)

THREAD_NAME = "diffgraph-warm-imports"


class WarmUp:
    """At most one background import of a list of modules; `wait` blocks until it ends."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.seconds: float | None = None  # how long it took, once done
        self.failures: dict[str, str] = {}  # module -> why it did not import

    def start(self, modules: Sequence[str]) -> bool:
        """Begin importing `modules` on a daemon thread; False if nothing to do or already
        started (a second call never imports twice)."""
        with self._lock:
            if self._thread is not None or not modules:
                return False
            self._thread = threading.Thread(
                target=self._import, args=(tuple(modules),), name=THREAD_NAME, daemon=True
            )
            self._thread.start()
            return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the warm-up ends (at once when none was started); False on timeout."""
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _import(self, modules: tuple[str, ...]) -> None:
        began = time.perf_counter()
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception as exc:  # a broken optional pack: its own load reports it
                self.failures[name] = f"{type(exc).__name__}: {exc}"
        self.seconds = time.perf_counter() - began
        failed = f"; not imported: {self.failures}" if self.failures else ""
        log.info("imports warmed in %.2f s (%s)%s", self.seconds, ", ".join(modules), failed)
