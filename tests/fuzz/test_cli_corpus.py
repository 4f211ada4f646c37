"""Hundreds of malformed `diffgraph` invocations, in-process through `main()` (and a few
as real processes): each exits with a README exit code, prints no traceback, and under
--json prints exactly one JSON document on stdout."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from apps.cli.main import main
from tests.conftest import REPO
from tests.fuzz.cli_corpus import FILES, HOME, CliCase, cli_corpus
from tests.fuzz.test_http_corpus import TRACEBACK_MARKS
from tests.fuzz.values import DEEP


@dataclass(frozen=True)
class Outcome:
    case: CliCase
    code: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return f"{self.case.args!r:.300} -> {self.code}\n{self.stdout[-300:]}\n{self.stderr[-600:]}"


def run_case(case: CliCase, home: Path, files: Path) -> Outcome:
    for name, content in case.files.items():
        (files / name).write_bytes(content)
    args = [a.replace(FILES, str(files)).replace(HOME, str(home)) for a in case.args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["--home", str(home), *args])
        except SystemExit as exit_:  # --help and the like
            code = exit_.code if isinstance(exit_.code, int) else 1
    return Outcome(case, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[Outcome]:
    home = tmp_path_factory.mktemp("cli-home")
    files = tmp_path_factory.mktemp("cli-files")
    found = [run_case(case, home, files) for case in cli_corpus()]
    codes = Counter(o.code for o in found)
    print(f"\nCLI corpus: {len(found)} invocations in-process; exit codes {dict(codes)}")
    return found


def is_one_json_document(text: str) -> bool:
    """One JSON text, by the grammar (no NaN or Infinity; escaped lone surrogates, as a
    file name with undecodable bytes gives, are JSON)."""
    try:
        json.loads(text, parse_constant=refuse_constant)
    except ValueError:
        return False
    return True


def refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def test_the_corpus_holds_hundreds_of_invocations(outcomes: list[Outcome]) -> None:
    assert len(outcomes) >= 300


def test_every_invocation_exits_with_a_documented_code(outcomes: list[Outcome]) -> None:
    wrong = [o.describe() for o in outcomes if o.code not in o.case.expected]
    assert wrong == [], "\n\n".join(wrong[:5])


def test_no_invocation_prints_a_traceback(outcomes: list[Outcome]) -> None:
    traced = [
        o.describe() for o in outcomes if any(m in o.stdout + o.stderr for m in TRACEBACK_MARKS)
    ]
    assert traced == [], "\n\n".join(traced[:5])


def test_json_output_stays_one_json_document_on_every_error(outcomes: list[Outcome]) -> None:
    broken = [
        o.describe() for o in outcomes if o.case.as_json and not is_one_json_document(o.stdout)
    ]
    assert broken == [], "\n\n".join(broken[:5])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("content", "set_value"),
    [
        (b"[" * DEEP + b"]" * DEEP, None),
        (
            b'{"nodes": {"1": {"type": "image.empty", "inputs": {"width": ' + b"9" * 5000 + b"}}}}",
            None,
        ),
        (b'{"1": {"class_type": ["EmptyImage"], "inputs": {}}}', None),
        (None, '1.width={"a": 1}'),
        (None, "1.width=" + "[" * 5000),
    ],
    ids=["deep-nesting", "huge-integer", "list-class-type", "dict-widget-value", "deep-set"],
)
def test_a_real_process_refuses_hostile_input_with_json_and_exit_1(
    tmp_path: Path, content: bytes | None, set_value: str | None
) -> None:
    path = tmp_path / "case.json"
    path.write_bytes(
        content if content is not None else (REPO / "workflows/image_basics.json").read_bytes()
    )
    args = [sys.executable, "-m", "apps.cli", "--home", str(tmp_path / "home"), "run", str(path)]
    args += ["--json", *(["--set", set_value] if set_value else [])]
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["valid"] is False
    assert not any(mark in done.stdout + done.stderr for mark in TRACEBACK_MARKS)
