"""LyCORIS LoKr: the update is a Kronecker product w1 (x) w2, each factor stored whole
(`lokr_w1`, `lokr_w2`) or as a low-rank pair (`lokr_w1_a @ lokr_w1_b`; `lokr_w2_a @
lokr_w2_b`, or with the conv core `lokr_t2`). alpha / rank applies only where a factor is
low-rank (the rank of w2's pair, else w1's); two whole factors are used as they are, as
LyCORIS and ComfyUI do. A conv w2 (out2, in2, kh, kw) makes the product a conv kernel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from nodes.ops.weights.lora_loha import tucker
from nodes.ops.weights.lora_lowrank import Diff, RowSelect, flat


@dataclass(frozen=True)
class Factor:
    """One Kronecker factor: whole, or `a @ b` (with a conv core, `a` is (rank, out))."""

    whole: torch.Tensor | None = None
    a: torch.Tensor | None = None
    b: torch.Tensor | None = None
    core: torch.Tensor | None = None

    @property
    def rank(self) -> int | None:
        return None if self.b is None else int(self.b.shape[0])

    def size(self) -> tuple[int, int]:
        if self.whole is not None:
            return int(self.whole.shape[0]), int(self.whole.flatten(1).shape[1])
        assert self.a is not None and self.b is not None
        if self.core is not None:
            return int(self.a.shape[1]), int(self.b.shape[1] * self.core[0, 0].numel())
        return int(self.a.shape[0]), int(self.b.flatten(1).shape[1])

    def matrix(self) -> torch.Tensor:
        if self.whole is not None:
            return flat(self.whole)
        assert self.a is not None and self.b is not None
        if self.core is not None:
            return tucker(self.core, self.a, self.b).flatten(1)
        return flat(self.a) @ flat(self.b)


@dataclass(frozen=True)
class Kronecker:
    w1: Factor
    w2: Factor
    alpha: float | None = None

    def size(self) -> tuple[int, int]:
        (r1, c1), (r2, c2) = self.w1.size(), self.w2.size()
        return r1 * r2, c1 * c2

    def matrix(self) -> torch.Tensor:
        rank = self.w2.rank or self.w1.rank
        scale = self.alpha / rank if self.alpha is not None and rank else 1.0
        # kron(w1, w2 flattened) equals the conv-kernel kron flattened: same column order.
        return torch.kron(self.w1.matrix(), self.w2.matrix()) * scale

    def rows(self, index: torch.Tensor) -> Diff:
        return RowSelect(self, index)


def _factor(parts: Mapping[str, torch.Tensor], n: int) -> Factor | None:
    if f"lokr_w{n}" in parts:
        return Factor(whole=parts[f"lokr_w{n}"])
    a, b = parts.get(f"lokr_w{n}_a"), parts.get(f"lokr_w{n}_b")
    if a is None or b is None:
        return None
    return Factor(a=a, b=b, core=parts.get(f"lokr_t{n}") if n == 2 else None)


def lokr(parts: Mapping[str, torch.Tensor], alpha: float | None) -> Kronecker | None:
    """The LoKr update of one layer's tensors, or None when they are not (all) LoKr."""
    w1, w2 = _factor(parts, 1), _factor(parts, 2)
    if w1 is None or w2 is None:
        return None
    return Kronecker(w1, w2, alpha)
