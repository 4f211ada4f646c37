"""Flux's text encoders in single files: transformers' own names, under a prefix.

BFL's and ComfyUI's files keep CLIP-L and T5 as transformers names them, so only two details
need care:
- CLIP-L is stored under `text_model.` (transformers < 5.6) or flat (>= 5.6);
  `nodes.ops.weights.layout_clip` turns either into what the model in hand expects, given a
  non-empty prefix (diffusers' helper underneath keeps nothing when told to strip "");
- T5 stores its token embedding once, as `shared.weight`, while transformers' T5EncoderModel
  also names that tensor `encoder.embed_tokens.weight` (tied): loading points both names at
  the one tensor, saving writes it once (safetensors refuses shared tensors).
Tensors are shared with the input, never copied.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from nodes.ops.weights.layout_clip import clip_from_ldm, clip_to_ldm

StateDict = dict[str, torch.Tensor]
T5_EMBEDDING = "shared.weight"
T5_TIED_EMBEDDING = "encoder.embed_tokens.weight"


def clip_l_from_file(
    sd: Mapping[str, torch.Tensor], model: torch.nn.Module, prefix: str = ""
) -> StateDict:
    """CLIP-L under `prefix` (the part before `text_model.`), keyed for `model`."""
    return clip_from_ldm(sd, model, prefix)


def clip_l_to_file(sd: Mapping[str, torch.Tensor], prefix: str = "") -> StateDict:
    """A CLIPTextModel state dict as ComfyUI's files hold it: `prefix + "text_model.…"`."""
    return clip_to_ldm(sd, prefix)


def t5_from_file(sd: Mapping[str, torch.Tensor], prefix: str = "") -> StateDict:
    """The T5 encoder under `prefix`, keyed for T5EncoderModel (both embedding names)."""
    own = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
    if T5_EMBEDDING in own:
        own.setdefault(T5_TIED_EMBEDDING, own[T5_EMBEDDING])
    elif T5_TIED_EMBEDDING in own:
        own[T5_EMBEDDING] = own[T5_TIED_EMBEDDING]
    return own


def t5_to_file(sd: Mapping[str, torch.Tensor], prefix: str = "") -> StateDict:
    """A T5EncoderModel state dict with its tied embedding once, keys under `prefix`."""
    shared, tied = sd.get(T5_EMBEDDING), sd.get(T5_TIED_EMBEDDING)
    same = shared is not None and tied is not None and shared.data_ptr() == tied.data_ptr()
    return {prefix + k: v for k, v in sd.items() if not (same and k == T5_TIED_EMBEDDING)}
