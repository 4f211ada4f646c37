"""A1111 prompt text as our prompt encoder reads it. Weights `(word:1.2)` and `((word))`
mean the same in both; what differs is noted, and embeddings are named our way: A1111
uses an embedding wherever its file name appears as a word (`easynegative`), we read
`embedding:easynegative`."""

from __future__ import annotations

import re

from formats.a1111_graph import Import

# A1111-only syntax: [word] de-emphasis and [from:to:when] prompt editing; BREAK (a new
# 75-token chunk); AND (composable diffusion). We read them as plain text.
_BRACKETS = re.compile(r"(?<!\\)\[[^\[\]]*\]")  # innermost only: linear on "[[[[..."
_KEYWORDS = re.compile(r"\b(BREAK|AND)\b")


def prompt_for_us(imp: Import, text: str, setting: str) -> str:
    for match in _BRACKETS.finditer(text):
        imp.note(setting, match.group(0), "A1111's [ ] syntax is read as plain text here")
    for keyword in sorted(set(_KEYWORDS.findall(text))):
        imp.note(setting, keyword, f"A1111's {keyword} is read as a plain word here")
    return _with_embeddings(imp, text)


def _with_embeddings(imp: Import, text: str) -> str:
    for name in imp.files.names("embeddings"):
        stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        word = re.compile(rf"(?<![\w:]){re.escape(stem)}(?![\w])", re.IGNORECASE)
        text = word.sub(f"embedding:{stem}", text)
    return text


def note_missing_embeddings(imp: Import) -> None:
    """`TI hashes: "name: hash, ..."` lists the embeddings the picture used."""
    listed = imp.take("TI hashes")
    if not listed:
        return
    have = {n.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower() for n in imp.files.names("embeddings")}
    for entry in listed.split(","):
        name = entry.split(":")[0].strip()
        if name and name.lower() not in have:
            imp.note("TI hashes", name, "not among your embeddings; read as plain words")
