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
from nodes.ops.text.clip_tokenizer import clip_tokenizer
from nodes.ops.text.embeddings import Lookup, split_prompt, vectors_for

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


def _stream(
    text: str, pad: Literal["eos", "zero"], width: int, lookup: Lookup | None
) -> list[int | torch.Tensor]:
    """The prompt as token ids, with an embedding's vectors where it is named."""
    tokenizer = clip_tokenizer(pad)
    stream: list[int | torch.Tensor] = []
    for piece, is_embedding in split_prompt(text) if lookup else [(text, False)]:
        if is_embedding and lookup is not None:
            stream.extend(vectors_for(piece, width, lookup))
        else:
            stream.extend(tokenizer(piece, add_special_tokens=False)["input_ids"])
    return stream


def _rows(
    stream: list[int | torch.Tensor], pad: Literal["eos", "zero"], chunks: int
) -> tuple[torch.Tensor, list[tuple[int, int, torch.Tensor]]]:
    """Ids [n_chunks, 77] (at least `chunks`) and the (row, column, vector) substitutions."""
    body = WINDOW - 2
    pieces = [stream[i : i + body] for i in range(0, len(stream), body)] or [[]]
    pieces += [[] for _ in range(chunks - len(pieces))]
    pad_id = EOS if pad == "eos" else 0
    rows, subs = [], []
    for r, piece in enumerate(pieces):
        row = [BOS] + [pad_id] * WINDOW
        row[len(piece) + 1] = EOS
        for c, item in enumerate(piece, start=1):
            if isinstance(item, torch.Tensor):
                subs.append((r, c, item))
                row[c] = 0  # a placeholder (never the end token), replaced by the vector
            else:
                row[c] = item
        rows.append(row[:WINDOW])
    return torch.tensor(rows, dtype=torch.long), subs


def tokenize_chunks(text: str, pad: Literal["eos", "zero"], chunks: int = 0) -> torch.Tensor:
    """Token ids [n_chunks, 77]; at least `chunks` chunks (padding with empty ones)."""
    return _rows(_stream(text, pad, 0, None), pad, chunks)[0]


def check_length(tokens: int, max_tokens: int | None) -> None:
    """Refuse a prompt longer than `max_tokens` tokens (None: any length)."""
    if max_tokens is not None and tokens > max_tokens:
        raise ValueError(f"the prompt has {tokens:,} tokens; at most {max_tokens:,} are encoded")


def chunk_count(stream: list[int | torch.Tensor]) -> int:
    return max(1, -(-len(stream) // (WINDOW - 2)))


@torch.inference_mode()
def encode_one(
    encoder: TextEncoder, stream: list[int | torch.Tensor], chunks: int, layer: int | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Hidden states [1, 77 * chunks, width] and, if the encoder has one, pooled [1, dim]."""
    model = encoder.model
    device = next(model.parameters()).device
    ids, subs = _rows(stream, encoder.pad, chunks)

    def substitute(module: Any, args: Any, output: torch.Tensor) -> torch.Tensor:
        output = output.clone()
        for r, c, vector in subs:
            output[r, c] = vector.to(output.device, output.dtype)
        return output

    hook = model.get_input_embeddings().register_forward_hook(substitute) if subs else None
    try:
        out = model(input_ids=ids.to(device), output_hidden_states=True)
    finally:
        if hook is not None:
            hook.remove()
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
    embeddings: Lookup | None = None,
    max_tokens: int | None = None,
) -> ConditioningPart:
    """Encode a prompt; `texts` may give each encoder its own text by name (SDXL's
    text_l/text_g). `layer` overrides every encoder's hidden layer (CLIP Set Last Layer).
    `embeddings` finds the vectors of `embedding:name` references. A prompt of more than
    `max_tokens` tokens is refused (ValueError)."""
    streams = []
    for e in encoders.encoders:
        text = texts if isinstance(texts, str) else texts[e.name]
        width = int(e.model.config.hidden_size)
        streams.append(_stream(text, e.pad, width, embeddings))
        check_length(len(streams[-1]), max_tokens)
    chunks = max(chunk_count(s) for s in streams)
    hiddens, pooled = [], None
    for encoder, stream in zip(encoders.encoders, streams, strict=True):
        hidden, pool = encode_one(encoder, stream, chunks, layer)
        hiddens.append(hidden)
        pooled = pool if pool is not None else pooled
    return ConditioningPart(torch.cat(hiddens, dim=-1), pooled, dict(extras or {}))
