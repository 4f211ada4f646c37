"""Prompt text -> conditioning, the way each Stable Diffusion family was trained.

Prompts longer than the encoder's 77-token window are cut into chunks of 75 tokens, each
wrapped in start/end tokens and encoded on its own; the chunks' hidden states are joined
along the token axis (the UNet's cross-attention takes any length). SDXL joins its two
encoders' hidden states along the feature axis and adds the second encoder's pooled output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from engine.types import ConditioningPart
from nodes.ops.clip_tokenizer import clip_tokenizer

BOS, EOS = 49406, 49407
WINDOW = 77


@dataclass
class TextEncoder:
    """One text encoder and how the family reads it."""

    name: str  # "clip_l", "clip_h", "clip_g": LoRA key prefixes and SDXL's text_l/text_g
    model: Any  # transformers CLIPTextModel or CLIPTextModelWithProjection
    pad: Literal["eos", "zero"]  # CLIP-L pads with the end token, OpenCLIP with id 0
    layer: int  # which hidden state: -1 the last, -2 the penultimate
    final_norm: bool  # apply the final layer norm to that hidden state
    pooled: bool = False  # gives the pooled, projected embedding (SDXL)


@dataclass
class TextEncoders:
    """What a checkpoint's CLIP output holds: its encoders, in the family's order."""

    family: str
    encoders: list[TextEncoder] = field(default_factory=list)

    def parameters(self) -> Any:  # lets the model store count and place the weights
        for encoder in self.encoders:
            yield from encoder.model.parameters()

    def buffers(self) -> Any:
        for encoder in self.encoders:
            yield from encoder.model.buffers()


def tokenize_chunks(text: str, pad: Literal["eos", "zero"], chunks: int = 0) -> torch.Tensor:
    """Token ids [n_chunks, 77]; at least `chunks` chunks (padding with empty ones)."""
    ids = clip_tokenizer(pad)(text, add_special_tokens=False, truncation=False)["input_ids"]
    body = WINDOW - 2
    pieces = [ids[i : i + body] for i in range(0, len(ids), body)] or [[]]
    pieces += [[] for _ in range(chunks - len(pieces))]
    pad_id = EOS if pad == "eos" else 0
    rows = [[BOS, *p, EOS] + [pad_id] * (body - len(p)) for p in pieces]
    return torch.tensor(rows, dtype=torch.long)


def chunk_count(text: str) -> int:
    ids = clip_tokenizer("eos")(text, add_special_tokens=False, truncation=False)["input_ids"]
    return max(1, -(-len(ids) // (WINDOW - 2)))


@torch.inference_mode()
def encode_one(
    encoder: TextEncoder, text: str, chunks: int, layer: int | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Hidden states [1, 77 * chunks, width] and, if the encoder has one, pooled [1, dim]."""
    model = encoder.model
    device = next(model.parameters()).device
    ids = tokenize_chunks(text, encoder.pad, chunks).to(device)
    out = model(input_ids=ids, output_hidden_states=True)
    hidden = out.hidden_states[encoder.layer if layer is None else layer]
    if encoder.final_norm:
        hidden = getattr(model, "text_model", model).final_layer_norm(hidden)
    hidden = hidden.reshape(1, -1, hidden.shape[-1]).to("cpu", torch.float32)
    pooled = None
    if encoder.pooled:
        pooled = out.text_embeds[:1].to("cpu", torch.float32)  # from the first chunk
    return hidden, pooled


def encode(
    encoders: TextEncoders,
    texts: dict[str, str] | str,
    *,
    layer: int | None = None,
    extras: dict[str, Any] | None = None,
) -> ConditioningPart:
    """Encode a prompt; `texts` may give each encoder its own text by name (SDXL's
    text_l/text_g). `layer` overrides every encoder's hidden layer (CLIP Set Last Layer)."""
    per_encoder = {
        e.name: texts if isinstance(texts, str) else texts[e.name] for e in encoders.encoders
    }
    chunks = max(chunk_count(t) for t in per_encoder.values())
    hiddens, pooled = [], None
    for encoder in encoders.encoders:
        hidden, pool = encode_one(encoder, per_encoder[encoder.name], chunks, layer)
        hiddens.append(hidden)
        pooled = pool if pool is not None else pooled
    return ConditioningPart(torch.cat(hiddens, dim=-1), pooled, dict(extras or {}))
