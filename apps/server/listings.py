"""The listings clients poll while jobs run (GET /queue, GET /history): each body is built
on a thread (a page of large jobs takes tens of milliseconds to decode and encode) and kept
until the jobs it shows change, so that a hundred polls cost one build and the event loop
never does that work itself. Concurrent polls of a body being built wait for that build."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable

from apps.server.limits import off_loop

# GET /history without max_items: ComfyUI answers with the whole history, which here may
# be 10,000 jobs (--history-size); a page of the newest 100 is what clients show anyway
# (ComfyUI's frontend asks for 64). max_items is capped at 1,000 for the same reason.
HISTORY_PAGE = 100
HISTORY_MAX_PAGE = 1_000
KEPT_BODIES = 32  # distinct listings (pages) kept at once


class Listings:
    def __init__(self) -> None:
        self._bodies: dict[Hashable, tuple[int, str]] = {}
        self._building: dict[tuple[Hashable, int], asyncio.Future[str]] = {}

    async def body(self, key: Hashable, revision: int, build: Callable[[], str]) -> str:
        """The body listed under `key` as of `revision` (read before building, so that a
        change made meanwhile shows at the next poll), built by `build` when not kept."""
        kept = self._bodies.get(key)
        if kept is not None and kept[0] == revision:
            return kept[1]
        building = self._building.get((key, revision))
        if building is None:
            building = asyncio.ensure_future(off_loop(build))
            self._building[(key, revision)] = building
            building.add_done_callback(lambda done: self._keep(key, revision, done))
        return await asyncio.shield(building)

    def _keep(self, key: Hashable, revision: int, done: asyncio.Future[str]) -> None:
        self._building.pop((key, revision), None)
        if done.cancelled() or done.exception() is not None:
            return
        if len(self._bodies) >= KEPT_BODIES and key not in self._bodies:
            self._bodies.clear()
        self._bodies[key] = (revision, done.result())
