"""Textual-inversion embeddings: `embedding:name` in a prompt stands for learned vectors
that take the place of word tokens (A1111 .pt/.safetensors, SDXL clip_l/clip_g files and
diffusers' learned_embeds.bin)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from nodes.ops.weights.checkpoint_io import (
    SAFETENSORS_SUFFIXES,
    CheckpointError,
    read_pickle,
    read_state_dict,
)

REFERENCE = re.compile(r"embedding:([^\s,()\[\]]+)")
_MAX_DEPTH = 4  # A1111 nests twice: {'string_to_param': {'*': tensor}}
Lookup = Callable[[str], dict[str, torch.Tensor]]  # name -> the file's vector sets [n, width]


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


def read_embedding(path: Path) -> dict[str, torch.Tensor]:
    """Every vector set in an embedding file by its name in the file, each [n_vectors,
    width]: A1111's .pt (`string_to_param.*`, nested in a pickled dict) and .safetensors
    (`emb_params`), SDXL's `clip_l`/`clip_g`, diffusers' learned_embeds.bin ({token: vector})
    and the original textual-inversion code's pickled ParameterDict."""
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        found = read_state_dict(path)[0]
    else:
        _allow_parameter_dicts()
        found = dict(_tensors_in(read_pickle(path)))
    vectors = {
        name: t.detach()[None] if t.dim() == 1 else t.detach()
        for name, t in found.items()
        if t.dim() in (1, 2) and t.is_floating_point()
    }
    if not vectors:
        raise CheckpointError(path, "no embedding vectors in it (is it an embedding file?)")
    return vectors


def _tensors_in(
    value: object, name: str = "", depth: int = 0
) -> Iterator[tuple[str, torch.Tensor]]:
    """(dotted name, tensor) in a pickled embedding, in file order, however dicts nest them."""
    if isinstance(value, _ParameterDictData):
        value = value.tensors
    if isinstance(value, torch.Tensor):
        yield name, value
    elif depth < _MAX_DEPTH and isinstance(value, dict | list | tuple):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            yield from _tensors_in(item, f"{name}.{key}" if name else str(key), depth + 1)


class _ParameterDictData:
    """Inert stand-in for the torch.nn.ParameterDict that the original textual-inversion
    code pickled (its `string_to_param`): unpickling keeps the module's tensors, runs none
    of its code."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple):  # (state, slot state)
            state = state[0]
        parameters = state.get("_parameters") if isinstance(state, dict) else None
        self.tensors = dict(parameters) if isinstance(parameters, dict) else {}


@functools.cache
def _allow_parameter_dicts() -> None:
    parameter_dict = "torch.nn.modules.container.ParameterDict"
    torch.serialization.add_safe_globals([(_ParameterDictData, parameter_dict)])


def vectors_for(name: str, encoder: str, width: int, lookup: Lookup) -> torch.Tensor:
    """The vectors of embedding `name` for text encoder `encoder` ("clip_l", "clip_g", ...)
    of `width`: SDXL files hold one set per encoder under its name; other files one set,
    taken when its width fits."""
    sets = lookup(name)
    named = sets.get(encoder)
    for vectors in [named] if named is not None else sets.values():
        if vectors.shape[-1] == width:
            return vectors.to(torch.float32)
    raise ValueError(
        f"embedding {name!r} has no vectors of width {width} for {encoder} (it is for "
        "another model family)"
    )
