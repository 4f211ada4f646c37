"""How much memory a node needs, said before it runs, without torch.

A node kind may declare a `cost(cls, given: CostInputs) -> NodeCost` classmethod (read
by `engine.node`): from its widgets and the estimates of its linked inputs, the estimates
of its outputs, the memory it works in while it runs, and the weights it loads. A node
without one is taken to make each output as large as its largest input of the same type
and to work in as much again (`engine.admission.default_cost`). `engine.admission` walks
a graph with these to refuse, before it is queued, a job that cannot fit the memory budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.settings import Settings

FLOAT32 = 4  # bytes per value of the tensors that travel between nodes


@dataclass(frozen=True)
class Estimate:
    """What a value on a link will hold. `nbytes`: its memory outside the model store (a
    tensor's bytes; 0 for a model, whose weights the loader's `NodeCost.models` counts).
    `shape`: a tensor's shape (latent [B, C, h, w], image [B, H, W, 3]); a guider's is
    (network passes per step,). `params`: weights of the networks it carries, which their
    activations scale with. `origin`: the (node, input) whose value chose this size, named
    when a job is refused; `what` says it in words ("4096 latents of 64x64 pixels")."""

    nbytes: int = 0
    shape: tuple[int, ...] = ()
    params: int = 0
    origin: tuple[str, str] | None = None
    what: str = ""


def tensor(shape: tuple[int, ...], origin: tuple[str, str] | None, what: str) -> Estimate:
    """The estimate of a float32 tensor of `shape`."""
    return Estimate(math.prod(shape) * FLOAT32, tuple(shape), origin=origin, what=what)


@dataclass(frozen=True)
class NodeCost:
    """`outputs`: estimates by output name (missing: nothing known). `working`: bytes the
    node needs while it runs, besides its inputs and outputs (activations, copies).
    `models`: bytes of the weights it loads, by file identity (a file shared by two nodes
    counts once). `driver`: the input whose size drives `working`, named if it is too big."""

    outputs: Mapping[str, Estimate] = field(default_factory=dict)
    working: int = 0
    models: Mapping[str, int] = field(default_factory=dict)
    driver: str | None = None


@dataclass(frozen=True)
class CostInputs:
    """What a cost hook is given: the node's widget values (defaults filled in), the
    estimates of its linked inputs, the settings, and where networks compute."""

    node_id: str
    widgets: Mapping[str, Any]
    links: Mapping[str, Estimate]
    settings: Settings
    accelerator: bool  # networks on a GPU rather than the CPU
    half: bool = False  # networks compute in 2-byte values (a GPU, or bfloat16 on a CPU)

    def link(self, name: str) -> Estimate:
        return self.links.get(name, Estimate())

    def origin(self, name: str) -> tuple[str, str]:
        """Where the size of input `name` was chosen: upstream, or this very input."""
        return self.link(name).origin or (self.node_id, name)

    @property
    def compute_bytes(self) -> int:
        """Bytes per value of weights and activations where networks run."""
        return 2 if self.half or self.accelerator else FLOAT32


CostHook = Callable[[CostInputs], NodeCost]
