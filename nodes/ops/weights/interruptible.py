"""Long work inside torch stops soon after an interrupt.

A network checks at each of its blocks (the numbered members of its ModuleLists and
Sequentials: tens per forward pass, so a step of a huge batch or a tile of a huge image is
cut short within a block), and placing a model on its device converts it module by module,
checking in between (converting gigabytes of weights takes seconds). The check is
`engine.context.check_interrupt`, which does nothing outside a run, so a model keeps its
hooks for as long as it lives.
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch

from engine.context import check_interrupt

M = TypeVar("M", bound=torch.nn.Module)
_WATCHED = "_diffgraph_interruptible"


def _check(module: torch.nn.Module, args: Any) -> None:
    if torch.compiler.is_compiling():  # a compiled network: checked between steps instead
        return
    check_interrupt()


def blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The modules a forward pass goes through one after another: those a ModuleList or a
    Sequential holds (named by their index)."""
    return [m for name, m in model.named_modules() if name.rsplit(".", 1)[-1].isdigit()]


def watch(model: M) -> M:
    """Make every forward pass of `model` honour an interrupt at each block (once)."""
    if not getattr(model, _WATCHED, False):
        for block in blocks(model):
            block.register_forward_pre_hook(_check)
        object.__setattr__(model, _WATCHED, True)
    return model


def to_in_steps(
    model: M,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    memory_format: torch.memory_format | None = None,
) -> M:
    """`model.to(device, dtype, memory_format)`, one module at a time (innermost first, so
    each weight is converted once), honouring an interrupt between modules."""
    given = (("device", device), ("dtype", dtype), ("memory_format", memory_format))
    target: dict[str, Any] = {k: v for k, v in given if v is not None}
    for module in reversed(list(model.modules())):
        check_interrupt()
        module.to(**target)
    return model
