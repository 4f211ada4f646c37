"""Textual-inversion embeddings: `embedding:name` in a prompt stands for learned vectors
that take the place of word tokens (A1111 .pt/.safetensors, SDXL clip_l/clip_g files and
diffusers' learned_embeds.bin)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch

from nodes.ops.weights.checkpoint_io import read_state_dict

REFERENCE = re.compile(r"embedding:([^\s,()\[\]]+)")
Lookup = Callable[[str], list[torch.Tensor]]  # name -> the file's vector sets [n, width]


def split_prompt(text: str) -> list[tuple[str, bool]]:
    """The prompt as pieces of (text, is_embedding_name), in order."""
    pieces: list[tuple[str, bool]] = []
    last = 0
    for match in REFERENCE.finditer(text):
        pieces.append((text[last : match.start()], False))
        pieces.append((match[1], True))
        last = match.end()
    pieces.append((text[last:], False))
    return [p for p in pieces if p[0]]


def read_embedding(path: Path) -> list[torch.Tensor]:
    """Every vector set in an embedding file, each [n_vectors, width]."""
    state, _ = read_state_dict(path)
    found = [t for t in state.values() if t.dim() in (1, 2) and t.is_floating_point()]
    return [t[None] if t.dim() == 1 else t for t in found]


def vectors_for(name: str, width: int, lookup: Lookup) -> torch.Tensor:
    """The vectors of embedding `name` for a text encoder of `width` (SDXL files hold one
    set per encoder, told apart by width)."""
    for vectors in lookup(name):
        if vectors.shape[-1] == width:
            return vectors.to(torch.float32)
    raise ValueError(
        f"embedding {name!r} has no vectors of width {width} (it is for another model family)"
    )
