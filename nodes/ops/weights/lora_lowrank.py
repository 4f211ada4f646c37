"""The plain LoRA update and what every LoRA-family format shares.

A format's update is a `Diff`: its size as a matrix (output rows, flattened input columns:
a conv weight's in x kh x kw) and the matrix itself at strength 1, alpha/rank applied, in
float32. Plain LoRA (and LoCon, its conv form) is up @ down, with kohya's optional
`lora_mid` core between them for 3x3 convolutions (Tucker: up . mid . down)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch


class Diff(Protocol):
    def size(self) -> tuple[int, int]:
        """(rows, columns) of the update as a matrix: (out, in * kh * kw)."""
        ...

    def matrix(self) -> torch.Tensor:
        """The update at strength 1, in float32 (any shape with rows * columns items)."""
        ...

    def rows(self, index: torch.Tensor) -> Diff:
        """The update of only these output rows (a fused layer split into parts)."""
        ...


def alpha_scale(alpha: float | None, rank: int) -> float:
    """kohya's scale: alpha / rank, or 1 when the file stores no alpha (PEFT files)."""
    return 1.0 if alpha is None else alpha / rank


def flat(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.flatten(1).float()


@dataclass(frozen=True)
class LowRank:
    """up @ down (rank r): down (r, in[, kh, kw]), up (out, r[, 1, 1]); with `mid`
    (r, r, kh, kw) the update is up . mid . down, each kernel tap its own r x r core."""

    down: torch.Tensor
    up: torch.Tensor
    alpha: float | None = None
    mid: torch.Tensor | None = None

    def size(self) -> tuple[int, int]:
        columns = self.down.flatten(1).shape[1]
        if self.mid is not None:
            columns = self.down.shape[1] * self.mid[0, 0].numel()
        return int(self.up.shape[0]), int(columns)

    def matrix(self) -> torch.Tensor:
        scale = alpha_scale(self.alpha, self.down.shape[0])
        if self.mid is None:
            return (flat(self.up) @ flat(self.down)) * scale
        product = torch.einsum("mnhw,om,ni->oihw", self.mid.float(), flat(self.up), flat(self.down))
        return product * scale

    def rows(self, index: torch.Tensor) -> Diff:
        return LowRank(self.down, self.up[index], self.alpha, self.mid)


@dataclass(frozen=True)
class RowSelect:
    """Some output rows of another update (a part of a fused layer)."""

    diff: Diff
    index: torch.Tensor

    def size(self) -> tuple[int, int]:
        return int(self.index.numel()), self.diff.size()[1]

    def matrix(self) -> torch.Tensor:
        rows, columns = self.diff.size()
        return self.diff.matrix().reshape(rows, columns)[self.index]

    def rows(self, index: torch.Tensor) -> Diff:
        return RowSelect(self.diff, self.index[index])


@dataclass(frozen=True)
class Full:
    """LyCORIS' "full" layers (`.diff`): the whole update stored as it is."""

    diff: torch.Tensor

    def size(self) -> tuple[int, int]:
        return int(self.diff.shape[0]), int(self.diff.flatten(1).shape[1])

    def matrix(self) -> torch.Tensor:
        return flat(self.diff)

    def rows(self, index: torch.Tensor) -> Diff:
        return Full(self.diff[index])
