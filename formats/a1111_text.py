"""The generation settings A1111, Forge and Civitai write into a PNG's `parameters` text
chunk, read into plain values.

The text is the prompt (any number of lines), then optionally `Negative prompt: ...` (any
number of lines), then one line of `Key: value` pairs separated by commas:

    a cat <lora:fluffy:0.8>
    Negative prompt: blurry
    Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x768

A value holding a comma, colon or newline is written as a JSON string (`"a, b"`); Civitai
and some extensions also write bare JSON objects and lists (`Hashes: {"model": "..."}`),
whose commas are not separators either. Like A1111, the last line is taken as the settings
line only when at least three pairs read from it; otherwise it belongs to the prompt.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

PARAMETERS_CHUNK = "parameters"
NEGATIVE_LABEL = "Negative prompt:"
# A1111 accepts keys of word characters, spaces, dashes and slashes; extensions add digits
# and dots ("ADetailer model 2nd", "Hires CFG Scale", "Module 1").
# Greedy and with no character shared between the key and what follows it, so that a long
# line without a colon fails in linear time (an upload is untrusted text).
_KEY = re.compile(r"\s*(\w[\w \-/.+()']*):\s*")
_LORA_TAG = re.compile(r"<(lora|lyco|hypernet):([^:>]+)((?::[^:>]*)*)>", re.IGNORECASE)
_MIN_PAIRS = 3


@dataclass(frozen=True)
class PromptTag:
    """`<lora:name:unet[:te]>` (or lyco/hypernet) taken out of a prompt."""

    kind: str
    name: str
    weights: tuple[str, ...]


@dataclass
class Infotext:
    """One `parameters` text: the prompts as written (tags removed) and the pairs in order."""

    prompt: str
    negative_prompt: str
    pairs: dict[str, str]
    tags: list[PromptTag] = field(default_factory=list)
    negative_tags: list[PromptTag] = field(default_factory=list)


def parse_infotext(text: str) -> Infotext:
    lines = text.strip().replace("\r\n", "\n").split("\n")
    pairs = read_pairs(lines[-1]) if lines else None
    if pairs is not None and len(pairs) >= _MIN_PAIRS:
        lines = lines[:-1]
    else:
        pairs = {}
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    target = prompt_lines
    for line in lines:
        stripped = line.strip()
        if target is prompt_lines and stripped.startswith(NEGATIVE_LABEL):
            target = negative_lines
            stripped = stripped[len(NEGATIVE_LABEL) :].strip()
        target.append(stripped)
    prompt, tags = take_tags("\n".join(prompt_lines))
    negative, negative_tags = take_tags("\n".join(negative_lines))
    return Infotext(prompt, negative, pairs, tags, negative_tags)


def take_tags(prompt: str) -> tuple[str, list[PromptTag]]:
    """The prompt without its `<lora:...>` tags (A1111 removes them before encoding), and
    the tags. Spaces left doubled by a removed tag are closed up."""
    tags = [
        PromptTag(m.group(1).lower(), m.group(2).strip(), tuple(m.group(3).split(":")[1:]))
        for m in _LORA_TAG.finditer(prompt)
    ]
    cleaned = _LORA_TAG.sub("", prompt)
    cleaned = re.sub(r"[ \t]{2,}", " ", cleaned)
    cleaned = re.sub(r"(?<=\S)\s+,", ",", cleaned)  # only a run's first position is tried
    cleaned = re.sub(r",(\s*,)+", ",", cleaned)
    return cleaned.strip(" \t,\n"), tags


def read_pairs(line: str) -> dict[str, str] | None:
    """`Key: value, Key: "quoted, value", Key: {"json": 1}` -> {key: value}; None when the
    line is not such a list (it is then prompt text)."""
    pairs: dict[str, str] = {}
    at = 0
    while at < len(line):
        key = _KEY.match(line, at)
        if key is None:
            return None
        value, at = _read_value(line, key.end())
        pairs[key.group(1).rstrip()] = value
        while at < len(line) and line[at] in " \t":
            at += 1
        if at < len(line):
            if line[at] != ",":
                return None
            at += 1
        while at < len(line) and line[at] in " \t":
            at += 1
    return pairs


def _read_value(line: str, at: int) -> tuple[str, int]:
    end = _end_of_string(line, at) if at < len(line) and line[at] == '"' else None
    if end is not None:  # an unclosed quote is read up to the next comma, as A1111 does
        try:
            return str(json.loads(line[at:end])), end
        except ValueError:  # A1111 keeps an undecodable quoted value as written
            return line[at:end], end
    if at < len(line) and line[at] in "{[":
        end = _end_of_bracket(line, at)
        if end is not None:
            return line[at:end], end
    comma = line.find(",", at)
    end = len(line) if comma < 0 else comma
    return line[at:end].strip(), end


def _end_of_string(line: str, start: int) -> int | None:
    at = start + 1
    while at < len(line):
        if line[at] == "\\":
            at += 2
            continue
        if line[at] == '"':
            return at + 1
        at += 1
    return None


def _end_of_bracket(line: str, start: int) -> int | None:
    """Where a JSON object or list starting at `start` ends (strings skipped); None when it
    never closes (then the value is read up to the next comma, as A1111 would)."""
    depth = 0
    at = start
    while at < len(line):
        char = line[at]
        if char == '"':
            end = _end_of_string(line, at)
            if end is None:
                return None
            at = end
            continue
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return at + 1
        at += 1
    return None
