"""Progress bars on stderr for `diffgraph run`: one over the nodes, one over the steps of
the node that reports them (a sampler)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

from engine.events import (
    Event,
    NodeCached,
    NodeFailed,
    NodeFinished,
    NodeStarted,
    Progress,
    RunFinished,
    RunInterrupted,
    RunStarted,
)


class ProgressBars:
    previews = False  # bars have no use for a sampler's preview images: none are made

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._nodes: Any = None
        self._steps: Any = None

    def __call__(self, event: Event) -> None:
        if not self.enabled:
            return
        if isinstance(event, RunStarted):
            if event.cached:
                tqdm.write(f"{len(event.cached)} node(s) cached", file=sys.stderr)
            self._nodes = tqdm(
                total=len(event.to_run),
                desc="nodes",
                unit="node",
                file=sys.stderr,
                position=0,
                leave=True,
            )
        elif isinstance(event, NodeStarted) and self._nodes is not None:
            self._nodes.set_postfix_str(f"{event.node} {event.type}")
        elif isinstance(event, Progress):
            if self._steps is None or self._steps.total != event.total:
                self._close_steps()
                self._steps = tqdm(
                    total=event.total,
                    desc=f"  node {event.node}",
                    unit="step",
                    file=sys.stderr,
                    position=1,
                    leave=False,
                )
            self._steps.update(event.step - self._steps.n)
        elif isinstance(event, NodeFinished) and self._nodes is not None:
            self._close_steps()
            self._nodes.update(1)
        elif isinstance(event, NodeFailed | RunFinished | RunInterrupted):
            self.close()
        elif isinstance(event, NodeCached):
            pass

    def _close_steps(self) -> None:
        if self._steps is not None:
            self._steps.close()
            self._steps = None

    def close(self) -> None:
        self._close_steps()
        if self._nodes is not None:
            self._nodes.close()
            self._nodes = None
