"""The bundled CLIP tokenizer gives CLIP's ids and never reaches the network."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from nodes.ops.text import clip_tokenizer as ct

REPO = Path(__file__).resolve().parents[2]


def _reference_bpe(text: str) -> list[int]:
    """CLIP's BPE written out plainly (lowest-ranked pair first), to check the fast one."""
    vocab, merges = ct.vocab_and_merges()
    ranks = {pair: i for i, pair in enumerate(merges)}
    chars = ct.byte_chars()
    text = re.sub(r"\s+", " ", text).strip().lower()
    words = re.findall(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+", text)
    ids = [vocab[ct.BOS]]
    for word in words:
        parts = [chars[b] for b in word.encode("utf-8")]
        parts[-1] += "</w>"
        while len(parts) > 1:
            rank, i = min((ranks.get(p, len(ranks)), i) for i, p in enumerate(pairwise(parts)))
            if rank == len(ranks):
                break
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        ids += [vocab[p] for p in parts]
    return [*ids, vocab[ct.EOS]]


def test_known_ids() -> None:
    tok = ct.clip_tokenizer()
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert len(tok) == ct.VOCAB_SIZE == 49408
    assert tok.convert_tokens_to_ids("<|endoftext|>") == 49407
    assert tok.convert_tokens_to_ids("<|startoftext|>") == 49406
    assert tok.convert_tokens_to_ids("!") == 0
    assert tok.model_max_length == 77


@pytest.mark.parametrize(
    "text",
    [
        "A photograph of an astronaut riding a horse, 4k, trending on artstation",
        "masterpiece, best quality, (detailed:1.2) landscape at dusk; don't stop",
        "café naïve résumé 東京 🐱🚀 1234",
    ],
)
def test_matches_plain_bpe(text: str) -> None:
    assert ct.clip_tokenizer()(text).input_ids == _reference_bpe(text)


def test_lowercase_and_whitespace_cleanup() -> None:
    tok = ct.clip_tokenizer()
    assert tok("  A   PHOTO of\n\ta  CAT ").input_ids == tok("a photo of a cat").input_ids


def test_unicode_round_trips() -> None:
    tok = ct.clip_tokenizer()
    text = "café 🐱 naïve 日本 ✨"
    assert tok.decode(tok(text).input_ids, skip_special_tokens=True) == text


@pytest.mark.parametrize(("pad", "pad_id"), [("eos", 49407), ("zero", 0)])
def test_padding_to_77(pad: Any, pad_id: int) -> None:
    tok = ct.clip_tokenizer(pad)
    ids = tok("a cat", padding="max_length", max_length=77, truncation=True).input_ids
    assert len(ids) == 77
    assert ids[:4] == [49406, 320, 2368, 49407]
    assert set(ids[4:]) == {pad_id}
    long = tok("cat " * 200, padding="max_length", max_length=77, truncation=True).input_ids
    assert len(long) == 77 and long[0] == 49406 and long[-1] == 49407


def test_cached_per_mode() -> None:
    assert ct.clip_tokenizer("eos") is ct.clip_tokenizer("eos")
    assert ct.clip_tokenizer("eos") is not ct.clip_tokenizer("zero")
    with pytest.raises(ValueError):
        ct.clip_tokenizer("nope")  # type: ignore[arg-type]


def test_built_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the tokenizer tried to reach the network")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    ct._build.cache_clear()
    ct.vocab_and_merges.cache_clear()
    tok = ct.clip_tokenizer("zero")
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_fresh_process_offline_with_sockets_blocked() -> None:
    # Import and build from scratch, with every socket refused before transformers loads.
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network access')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from nodes.ops.text.clip_tokenizer import clip_tokenizer\n"
        "ids = clip_tokenizer()('a photo of a cat').input_ids\n"
        "assert ids == [49406, 320, 1125, 539, 320, 2368, 49407], ids\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO, timeout=120)
