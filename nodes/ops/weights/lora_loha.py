"""LyCORIS LoHa: the update is the Hadamard (element-wise) product of two low-rank
products, (w1_a @ w1_b) * (w2_a @ w2_b) * alpha / rank, which reaches a higher rank than
either factor. With `hada_t1`/`hada_t2` (conv layers, CP/Tucker form) each factor is
rebuilt from its core: w1_a and w1_b are then (rank, out) and (rank, in), the core
(rank, rank, kh, kw)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from nodes.ops.weights.lora_lowrank import Diff, RowSelect, alpha_scale, flat

PARTS = ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b")


def tucker(core: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A conv factor from its core: a (rank, out), b (rank, in) -> (out, in, kh, kw)."""
    return torch.einsum("ijhw,jr,ip->prhw", core.float(), flat(b), flat(a))


@dataclass(frozen=True)
class Hadamard:
    w1_a: torch.Tensor
    w1_b: torch.Tensor
    w2_a: torch.Tensor
    w2_b: torch.Tensor
    alpha: float | None = None
    t1: torch.Tensor | None = None
    t2: torch.Tensor | None = None

    def size(self) -> tuple[int, int]:
        if self.t1 is not None:
            return int(self.w1_a.shape[1]), int(self.w1_b.shape[1] * self.t1[0, 0].numel())
        return int(self.w1_a.shape[0]), int(self.w1_b.flatten(1).shape[1])

    def matrix(self) -> torch.Tensor:
        scale = alpha_scale(self.alpha, self.w1_b.shape[0])
        if self.t1 is not None and self.t2 is not None:
            first = tucker(self.t1, self.w1_a, self.w1_b)
            second = tucker(self.t2, self.w2_a, self.w2_b)
        else:
            first = flat(self.w1_a) @ flat(self.w1_b)
            second = flat(self.w2_a) @ flat(self.w2_b)
        return first * second * scale

    def rows(self, index: torch.Tensor) -> Diff:
        return RowSelect(self, index)


def loha(parts: Mapping[str, torch.Tensor], alpha: float | None) -> Hadamard | None:
    """The LoHa update of one layer's tensors, or None when they are not (all) LoHa."""
    if not all(p in parts for p in PARTS):
        return None
    t1, t2 = parts.get("hada_t1"), parts.get("hada_t2")
    if (t1 is None) != (t2 is None):
        return None
    w1_a, w1_b, w2_a, w2_b = (parts[p] for p in PARTS)
    return Hadamard(w1_a, w1_b, w2_a, w2_b, alpha, t1, t2)
