"""CLIP's text tokenizer built offline from the BPE merges that ship with diffgraph.

SD1, SD2 and SDXL all use OpenAI CLIP's byte-level BPE (49408 tokens). Checkpoints carry no
tokenizer, so instead of fetching one from a hub we derive the vocabulary from the bundled
merges file the way CLIP itself does, and build the transformers tokenizer in memory.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path
from typing import Any, Literal

from transformers import CLIPTokenizer

BPE_FILE = Path(__file__).resolve().parent / "data" / "bpe_simple_vocab_16e6.txt.gz"
MAX_LENGTH = 77
VOCAB_SIZE = 49408
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
# The file holds more merges than CLIP uses: the vocabulary ends after 49408 - 256*2 - 2.
_MERGE_COUNT = VOCAB_SIZE - 256 * 2 - 2


def byte_chars() -> dict[int, str]:
    """Byte -> printable stand-in of byte-level BPE, in CLIP's (and GPT-2's) vocab order:
    printable bytes stand for themselves, the others map to chr(256), chr(257), ..."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    extra = [b for b in range(256) if b not in printable]
    return {b: chr(b) for b in printable} | {b: chr(256 + i) for i, b in enumerate(extra)}


@functools.cache
def vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's token -> id table and its ranked merges, from the bundled file."""
    with gzip.open(BPE_FILE, "rt", encoding="utf-8") as file:
        lines = file.read().split("\n")
    merges = [(a, b) for a, b in (line.split() for line in lines[1 : _MERGE_COUNT + 1])]
    chars = list(byte_chars().values())
    tokens = [*chars, *(c + "</w>" for c in chars), *(a + b for a, b in merges), BOS, EOS]
    return {token: i for i, token in enumerate(tokens)}, merges


def clip_tokenizer(pad: Literal["eos", "zero"] = "eos") -> CLIPTokenizer:
    """CLIP's tokenizer, padding with `<|endoftext|>` (SD1, CLIP-L) or with id 0, '!'
    (OpenCLIP: SD2 and SDXL's second encoder). Shared per process: do not mutate it."""
    if pad not in ("eos", "zero"):
        raise ValueError(f"pad must be 'eos' or 'zero', not {pad!r}")
    return _build(pad)


@functools.cache  # behind a plain function, so that callers keep its signature
def _build(pad: str) -> CLIPTokenizer:
    vocab, merges = vocab_and_merges()
    pairs: Any = list(merges)  # tokenizers wants (a, b) pairs, whatever the stub says
    return CLIPTokenizer(
        vocab=dict(vocab),
        merges=pairs,
        pad_token=EOS if pad == "eos" else "!",
        model_max_length=MAX_LENGTH,
    )
