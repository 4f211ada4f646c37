"""The polled listings (GET /queue, GET /history): built off the event loop, once for
every poll of the same state, kept until that state changes."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from apps.server.listings import Listings


def test_twenty_polls_of_one_state_cost_one_build_made_off_the_loop() -> None:
    builds: list[int] = []

    def build() -> str:
        builds.append(threading.get_ident())
        time.sleep(0.05)  # a large page: long enough for every poll to arrive meanwhile
        return "[1, 2, 3]"

    async def poll_twenty() -> list[str]:
        listings = Listings()
        return await asyncio.gather(*(listings.body("queue", 7, build) for _ in range(20)))

    assert asyncio.run(poll_twenty()) == ["[1, 2, 3]"] * 20
    assert len(builds) == 1 and builds[0] != threading.get_ident()


def test_a_body_is_kept_until_the_revision_changes() -> None:
    texts = iter(["first", "second"])

    async def polls() -> list[str]:
        listings = Listings()
        same = [await listings.body(("history", 100, None), 1, lambda: next(texts)) for _ in "ab"]
        return [*same, await listings.body(("history", 100, None), 2, lambda: next(texts))]

    assert asyncio.run(polls()) == ["first", "first", "second"]


def test_a_failed_build_is_not_kept() -> None:
    calls: list[str] = []

    def flaky() -> str:
        calls.append("x")
        if len(calls) == 1:
            raise OSError("database is locked")
        return "ok"

    async def polls() -> str:
        listings = Listings()
        with pytest.raises(OSError):
            await listings.body("queue", 1, flaky)
        return await listings.body("queue", 1, flaky)

    assert asyncio.run(polls()) == "ok" and len(calls) == 2
