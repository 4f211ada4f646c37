"""T5's tokenizer built offline from the `tokenizer.json` that ships with diffgraph.

Flux.1 prompts its T5-XXL encoder with T5 v1.1's SentencePiece vocabulary (32,100 tokens with
the sentinels). We ship that tokenizer in the `tokenizers` JSON format (see data/README.md) and
build the fast tokenizer from it in memory: no hub, and no `sentencepiece`, without which
transformers 5 would silently build a broken tokenizer from a `spiece.model`. (In transformers 5
`T5Tokenizer` is the `tokenizers`-backed class; `T5TokenizerFast` is an alias of it.)
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

from tokenizers import Tokenizer
from transformers import T5Tokenizer

TOKENIZER_FILE = Path(__file__).resolve().parent / "data" / "t5_tokenizer.json.gz"
VOCAB_SIZE = 32100  # 32,000 pieces + <extra_id_0..99>; the encoder's embedding has 32,128 rows
MAX_LENGTH = 512  # Flux.1 dev reads up to 512 T5 tokens (schnell 256)
PAD_ID, EOS_ID = 0, 1


@functools.cache
def t5_tokenizer() -> T5Tokenizer:
    """T5 v1.1's tokenizer ("a photo of a cat" -> [3, 9, 1202, 13, 3, 9, 1712, 1]); pads
    with `<pad>` (id 0) and ends with `</s>` (id 1). Shared per process: do not mutate it."""
    with gzip.open(TOKENIZER_FILE, "rt", encoding="utf-8") as file:
        backend = Tokenizer.from_str(file.read())
    tokenizer = T5Tokenizer(tokenizer_object=backend, model_max_length=MAX_LENGTH)
    # A wrong build (another file, a changed default) shows here rather than as odd images.
    if len(tokenizer) != VOCAB_SIZE or tokenizer.pad_token_id != PAD_ID:
        raise RuntimeError(
            f"{TOKENIZER_FILE.name} gave a {len(tokenizer)}-token tokenizer with pad id "
            f"{tokenizer.pad_token_id}; T5 v1.1 has {VOCAB_SIZE} tokens and pads with {PAD_ID}"
        )
    return tokenizer
