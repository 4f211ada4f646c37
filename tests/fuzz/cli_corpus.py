"""The command-line corpus: `diffgraph validate` and `run --json` given unreadable files,
mutated documents in every format, hostile `--set` values, odd paths and bad options.
Generated from a fixed seed; each case names the files it needs written first."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.fuzz.corpus import EVIL_STRINGS, _odd_pngs
from tests.fuzz.documents import base_documents, cheap_workflow
from tests.fuzz.values import BAD_BODIES, EVIL_VALUES, mutate, to_body, to_text

SEED = 7411
HOME = "{home}"  # replaced by the home folder of the run
FILES = "{files}"  # replaced by the folder holding the case's files


@dataclass(frozen=True)
class CliCase:
    args: tuple[str, ...]
    files: dict[str, bytes] = field(default_factory=dict)
    expected: tuple[int, ...] = (0, 1, 2, 3)  # the exit codes README allows for it

    @property
    def as_json(self) -> bool:
        return "--json" in self.args


def cli_corpus(seed: int = SEED) -> list[CliCase]:
    rng = random.Random(seed)
    cases: list[CliCase] = []
    for make in (_unreadable, _mutated, _set_values, _paths, _command_lines):
        cases.extend(make(rng))
    return cases


def _doc(name: str, content: bytes, *command: str, expected: tuple[int, ...]) -> CliCase:
    return CliCase((*command, f"{FILES}/{name}"), {name: content}, expected)


def _unreadable(rng: random.Random) -> Iterator[CliCase]:
    """Files that are not one valid JSON document: nothing runs, exit 1."""
    for index, body in enumerate(BAD_BODIES):
        for command in (("validate", "--json"), ("run", "--json"), ("validate",)):
            yield _doc(f"bad{index}.json", body, *command, expected=(1,))


def _mutated(rng: random.Random) -> Iterator[CliCase]:
    """Valid documents with one to three places broken. Only the model-free ones are run
    (a mutation that stays valid then takes milliseconds)."""
    for number, document in enumerate(base_documents()):
        for index in range(30):
            body = to_body(mutate(document, rng, count=rng.randint(1, 3)))
            yield _doc(f"m{number}_{index}.json", body, "validate", "--json", expected=(0, 1))
        if "nodes" in document and "1" in document.get("nodes", {}):
            for index in range(15):
                body = to_body(mutate(document, rng, count=rng.randint(1, 2)))
                yield _doc(f"r{number}_{index}.json", body, "run", "--json", expected=(0, 1, 3))


def _set_values(rng: random.Random) -> Iterator[CliCase]:
    """`--set` with every evil value on a widget, a text and a link input."""
    basics = to_body(cheap_workflow())
    for target in ("1.width", "4.filename_prefix", "2.image", "1.nope"):
        for value in EVIL_VALUES:
            text = to_text(value)
            if "\x00" in text or len(text) > 100_000:
                continue  # argv cannot carry a NUL
            args = ("run", f"{FILES}/basics.json", "--json", "--set", f"{target}={text}")
            yield CliCase(args, {"basics.json": basics}, (0, 1, 3))
    for item in ("=1", "1.=2", ".x=3", "nonode.width=4", "1.width", "", "1.width=" + "9" * 5000):
        yield CliCase(("validate", f"{FILES}/basics.json", "--set", item), {"basics.json": basics})


def _paths(rng: random.Random) -> Iterator[CliCase]:
    """Workflow paths that are missing, folders, empty, odd PNGs or hostile names."""
    for name in ("missing.json", "missing.png", "", ".", "..", "/", "/dev/null", "x" * 5000):
        for command in (("validate", "--json"), ("run", "--json")):
            yield CliCase((*command, name if name.startswith("/") else f"{FILES}/{name}"))
    for text in EVIL_STRINGS:
        yield CliCase(("validate", "--json", text.replace("\x00", "")), expected=(1, 2))
    for index, png in enumerate(_odd_pngs(rng)):
        yield _doc(f"odd{index}.png", png, "validate", "--json", expected=(0, 1))
    yield _doc("json.png", b'{"nodes": {}}', "validate", "--json", expected=(1,))
    yield _doc("png.json", b"\x89PNG\r\n\x1a\n", "validate", "--json", expected=(1,))


def _command_lines(rng: random.Random) -> Iterator[CliCase]:
    """Bad command lines: exit 2, with the reason (as JSON under --json)."""
    basics = {"basics.json": to_body(cheap_workflow())}
    for args in (
        ("run",),
        ("run", "--json"),
        ("frobnicate", "--json"),
        ("validate", "--json", "--nope"),
        ("run", f"{FILES}/basics.json", "--json", "--threads", "x"),
        ("run", f"{FILES}/basics.json", "--json", "--threads", "0"),
        ("run", f"{FILES}/basics.json", "--json", "--threads", "-4"),
        ("run", f"{FILES}/basics.json", "--json", "--threads", "9" * 5000),
        ("validate", f"{FILES}/basics.json", "--json", "extra"),
        ("--json",),
        (),
    ):
        yield CliCase(args, basics, (2,))
