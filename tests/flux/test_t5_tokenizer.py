"""The bundled T5 tokenizer gives T5's ids, feeds the tiny T5 and never reaches the network."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import torch
from transformers import T5TokenizerFast

from nodes.ops.text import t5_tokenizer as t5
from tests.flux import tiny

REPO = Path(__file__).resolve().parents[2]
CAT = [3, 9, 1202, 13, 3, 9, 1712, 1]  # "a photo of a cat" in T5 v1.1's vocabulary
# data/README.md: the sha256 of the JSON as it came out of the wheel.
SOURCE_SHA256 = "f5dfec163765e18e270537fe896c49f5fad74db1525641d9b255a3008b999596"


def test_known_ids() -> None:
    assert t5.t5_tokenizer()("a photo of a cat").input_ids == CAT


def test_special_tokens_and_size() -> None:
    tok = t5.t5_tokenizer()
    assert len(tok) == t5.VOCAB_SIZE == 32100
    assert (tok.pad_token, tok.pad_token_id) == ("<pad>", 0)
    assert (tok.eos_token, tok.eos_token_id) == ("</s>", 1)
    assert (tok.unk_token, tok.unk_token_id) == ("<unk>", 2)
    assert tok.convert_ids_to_tokens([32000, 32099]) == ["<extra_id_99>", "<extra_id_0>"]
    assert tok.model_max_length == 512


def test_pads_with_zero_and_truncates_keeping_eos() -> None:
    tok = t5.t5_tokenizer()
    ids = tok("a photo of a cat", padding="max_length", max_length=12, truncation=True).input_ids
    assert ids == [*CAT, 0, 0, 0, 0]
    long = tok("cat " * 600, padding="max_length", max_length=256, truncation=True).input_ids
    assert len(long) == 256 and long[-1] == 1 and 0 not in long


def test_round_trips_text() -> None:
    tok = t5.t5_tokenizer()
    text = "A red fox jumps over 3 lazy dogs, at dusk."
    assert tok.decode(tok(text).input_ids, skip_special_tokens=True) == text


def test_cached() -> None:
    assert t5.t5_tokenizer() is t5.t5_tokenizer()


def test_shipped_file_is_the_documented_one() -> None:
    with gzip.open(t5.TOKENIZER_FILE, "rb") as file:
        data = file.read()
    assert len(data) == 2_424_235
    assert hashlib.sha256(data).hexdigest() == SOURCE_SHA256


def test_ids_feed_the_t5_encoder() -> None:
    ids = t5.t5_tokenizer()(["a photo of a cat"], return_tensors="pt").input_ids
    with torch.no_grad():
        out = tiny.t5()(input_ids=ids).last_hidden_state
    assert out.shape == (1, len(CAT), tiny.T5_WIDTH)
    assert torch.isfinite(out).all()


def test_fresh_process_offline_with_sockets_blocked() -> None:
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network access')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from nodes.ops.text.t5_tokenizer import t5_tokenizer\n"
        "ids = t5_tokenizer()('a photo of a cat').input_ids\n"
        f"assert ids == {CAT}, ids\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO, timeout=120)


def test_is_the_fast_tokenizer() -> None:
    assert isinstance(t5.t5_tokenizer(), T5TokenizerFast)
    assert t5.t5_tokenizer().is_fast
