"""Inputs of a network call that stay the same for a whole sampling run (prompt embeddings,
SDXL's size ids, Flux's position ids, ControlNet hints), made and moved to the device once.

A copy from host memory to a GPU returns only when the device has finished the work queued
before it (PyTorch synchronises after a blocking copy), so making these on every step would
stall the step loop once a step, and repeat the host's work (resizing a hint) for nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class RunInputs:
    """Values made once per key. One per network call object, which lives for one run."""

    def __init__(self) -> None:
        self._made: dict[Hashable, tuple[tuple[Any, ...], Any]] = {}

    def get(self, key: Hashable, make: Callable[[], T], *owners: Any) -> T:
        """make()'s value, made on the first call with `key`. A key may hold the id() of each
        of `owners`: they are kept alive with the value, so no other object takes their id
        while it is cached."""
        if key not in self._made:
            self._made[key] = (owners, make())
        value: T = self._made[key][1]
        return value
