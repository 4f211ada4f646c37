"""Prompt text -> conditioning, the way each Stable Diffusion family was trained.

Prompts longer than the encoder's 77-token window are cut into chunks of 75 tokens, each
wrapped in start/end tokens and encoded on its own; the chunks' hidden states are joined
along the token axis (the UNet's cross-attention takes any length). SDXL joins its two
encoders' hidden states along the feature axis and adds the second encoder's pooled output.
Prompt weighting (`(word:1.2)`, see weighting.py) is applied to each encoder's hidden states.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from engine.types import ConditioningPart
from nodes.ops.text.clip_tokenizer import clip_tokenizer
from nodes.ops.text.embeddings import Lookup, split_prompt, vectors_for
from nodes.ops.text.weighting import any_weighted, apply_weights, parse_weights

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


Token = int | torch.Tensor  # a token id, or one vector of a textual-inversion embedding


BODY = WINDOW - 2  # tokens per window between its start and end tokens
KEEP_WHOLE = 8  # a piece shorter than this moves whole to the next window (ComfyUI's rule)


@dataclass
class Stream:
    """A prompt as tokens and each token's weight (1.0 unless the prompt says otherwise),
    with the sizes of the pieces it was made of (a weighted span, an embedding, the text
    between)."""

    tokens: list[Token] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    pieces: list[int] = field(default_factory=list)

    def add(self, tokens: list[Token], weight: float) -> None:
        self.tokens.extend(tokens)
        self.weights.extend([weight] * len(tokens))
        self.pieces.append(len(tokens))

    def windows(self) -> list[tuple[int, int]]:
        """(start, stop) of each 75-token window's tokens. A piece that does not fit the
        window's rest goes whole to the next window if it is short (the window is padded),
        and is cut at the edge if it is long: where ComfyUI cuts, so that long weighted
        prompts land in the same windows."""
        windows: list[tuple[int, int]] = []
        start = end = 0
        for size in self.pieces:
            left = size
            while end - start + left > BODY:
                if size >= KEEP_WHOLE:
                    taken = BODY - (end - start)
                    end, left = end + taken, left - taken
                windows.append((start, end))
                start = end
            end += left
        return [*windows, (start, end)]


def _stream(
    text: str, pad: Literal["eos", "zero"], width: int, lookup: Lookup | None, encoder: str = ""
) -> Stream:
    """The prompt as weighted token ids, with the vectors of an embedding (for `encoder`,
    of `width`) where one is named."""
    tokenizer = clip_tokenizer(pad)
    stream = Stream()
    for segment, weight in parse_weights(text):
        for piece, is_embedding in split_prompt(segment) if lookup else [(segment, False)]:
            if is_embedding and lookup is not None:
                stream.add(list(vectors_for(piece, encoder, width, lookup)), weight)
            else:
                stream.add(tokenizer(piece, add_special_tokens=False)["input_ids"], weight)
    return stream


@dataclass
class Rows:
    """A stream laid out in 77-token windows: ids, the vectors that replace some of them,
    and the weight at every position (1.0 for start, end and padding)."""

    ids: torch.Tensor  # [n_chunks, 77]
    subs: list[tuple[int, int, torch.Tensor]]  # (row, column, vector)
    weights: torch.Tensor  # [n_chunks, 77]


def _rows(stream: Stream, pad: Literal["eos", "zero"], chunks: int) -> Rows:
    """The stream in at least `chunks` windows of start, up to 75 tokens, end and padding."""
    spans = stream.windows()
    spans += [(0, 0)] * (chunks - len(spans))
    pad_id = EOS if pad == "eos" else 0
    rows, subs, weights = [], [], []
    for r, (start, stop) in enumerate(spans):
        piece = stream.tokens[start:stop]
        row = [BOS] + [pad_id] * WINDOW
        row[len(piece) + 1] = EOS
        for c, item in enumerate(piece, start=1):
            if isinstance(item, torch.Tensor):
                subs.append((r, c, item))
                row[c] = 0  # a placeholder (never the end token), replaced by the vector
            else:
                row[c] = item
        rows.append(row[:WINDOW])
        weights.append([1.0, *stream.weights[start:stop]] + [1.0] * (WINDOW - 1 - len(piece)))
    ids = torch.tensor(rows, dtype=torch.long)
    return Rows(ids, subs, torch.tensor(weights, dtype=torch.float64))


def tokenize_chunks(text: str, pad: Literal["eos", "zero"], chunks: int = 0) -> torch.Tensor:
    """Token ids [n_chunks, 77]; at least `chunks` chunks (padding with empty ones).
    Weighting syntax is read and dropped: `(red:1.5)` gives the ids of `red`."""
    return _rows(_stream(text, pad, 0, None), pad, chunks).ids


def check_length(tokens: int, max_tokens: int | None) -> None:
    """Refuse a prompt longer than `max_tokens` tokens (None: any length)."""
    if max_tokens is not None and tokens > max_tokens:
        raise ValueError(f"the prompt has {tokens:,} tokens; at most {max_tokens:,} are encoded")


def chunk_count(stream: Stream) -> int:
    return len(stream.windows())


def _hidden_states(encoder: TextEncoder, rows: Rows, layer: int | None) -> tuple[torch.Tensor, Any]:
    """The chosen layer's states [n_chunks, 77, width] and the model's whole output.

    A layer deeper than the encoder has (CLIP Set Last Layer at -24 on a 12-layer CLIP)
    reads the last layer instead, as ComfyUI does, so shared workflows keep working."""
    model = encoder.model

    def substitute(module: Any, args: Any, output: torch.Tensor) -> torch.Tensor:
        output = output.clone()
        for r, c, vector in rows.subs:
            output[r, c] = vector.to(output.device, output.dtype)
        return output

    embeddings = model.get_input_embeddings()
    hook = embeddings.register_forward_hook(substitute) if rows.subs else None
    try:
        device = next(model.parameters()).device
        out = model(input_ids=rows.ids.to(device), output_hidden_states=True)
    finally:
        if hook is not None:
            hook.remove()
    chosen = encoder.layer if layer is None else layer
    if abs(chosen) > int(model.config.num_hidden_layers):
        return out.last_hidden_state, out  # the final layer, final norm included
    hidden = out.hidden_states[chosen]
    if encoder.final_norm:
        hidden = getattr(model, "text_model", model).final_layer_norm(hidden)
    return hidden, out


@torch.inference_mode()
def encode_one(
    encoder: TextEncoder, stream: Stream, chunks: int, layer: int | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Hidden states [1, 77 * chunks, width] and, if the encoder has one, pooled [1, dim].
    Weighted tokens are moved relative to the empty prompt's states; the pooled output is
    the plain prompt's, as in ComfyUI."""
    rows = _rows(stream, encoder.pad, chunks)
    hidden, out = _hidden_states(encoder, rows, layer)
    if any_weighted(rows.weights):
        empty, _ = _hidden_states(encoder, _rows(Stream(), encoder.pad, 1), layer)
        hidden = apply_weights(hidden, empty, rows.weights)
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
        streams.append(_stream(text, e.pad, width, embeddings, e.name))
        check_length(len(streams[-1].tokens), max_tokens)
    chunks = max(chunk_count(s) for s in streams)
    hiddens, pooled = [], None
    for encoder, stream in zip(encoders.encoders, streams, strict=True):
        hidden, pool = encode_one(encoder, stream, chunks, layer)
        hiddens.append(hidden)
        pooled = pool if pool is not None else pooled
    return ConditioningPart(torch.cat(hiddens, dim=-1), pooled, dict(extras or {}))
