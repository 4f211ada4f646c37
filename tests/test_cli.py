"""The `diffgraph` command as a script sees it: exit codes, stdout, stderr."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image as PILImage

from apps.cli.main import main
from engine.executor import Executor
from tests.conftest import REPO

BASICS = REPO / "workflows" / "image_basics.json"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A diffgraph home whose custom_nodes/ holds the test pack."""
    home = tmp_path / "home"
    (home / "custom_nodes").mkdir(parents=True)
    shutil.copy(REPO / "tests/packs/testpack.py", home / "custom_nodes/testpack.py")
    return home


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apps.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def write(home: Path, name: str, nodes: dict) -> str:
    path = home / name
    path.write_text(json.dumps({"nodes": nodes}))
    return str(path)


def test_run_prints_written_files_and_exits_0(home: Path) -> None:
    done = cli(home, "run", str(BASICS), "--set", "1.width=32", "--set", "3.width=0")
    assert done.returncode == 0, done.stderr
    [path] = done.stdout.split()
    assert Path(path) == home / "output" / "basics_00001_.png"
    with PILImage.open(path) as image:
        assert image.size == (32, 128) and image.getpixel((0, 0)) == (204, 102, 51)
    assert "nodes: 100%" in done.stderr  # the progress bar


def test_run_json_and_png_replay(home: Path) -> None:
    first = json.loads(cli(home, "run", str(BASICS), "--json").stdout)
    assert first["status"] == "success" and first["executed"] == ["1", "2", "3", "4"]
    png = first["files"][0]
    second = cli(home, "run", png, "--json", "--output-dir", str(home / "replay"))
    assert second.returncode == 0, second.stderr
    replay = json.loads(second.stdout)["files"][0]
    assert Path(replay).parent == home / "replay"
    assert PILImage.open(replay).tobytes() == PILImage.open(png).tobytes()


def test_validate_exit_codes_and_report(home: Path) -> None:
    assert cli(home, "validate", str(BASICS)).returncode == 0
    bad = write(
        home,
        "bad.json",
        {
            "1": {"type": "image.empty", "inputs": {"width": 0, "colour": 1}},
            "2": {"type": "image.save", "inputs": {"images": {"node": "1", "output": "mask"}}},
        },
    )
    done = cli(home, "validate", bad)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert "error: node 1, input 'width': must be at least 1, got 0 [value_out_of_range]" in lines
    assert any("node 1, input 'colour'" in line and "[unknown_input]" in line for line in lines)
    assert any(
        "node 2, input 'images'" in line and "[missing_link_output]" in line for line in lines
    )
    report = json.loads(cli(home, "validate", bad, "--json").stdout)
    assert report["valid"] is False
    assert {p["code"] for p in report["problems"]} == {
        "value_out_of_range",
        "unknown_input",
        "missing_link_output",
    }
    # run refuses the same file, before running anything
    assert cli(home, "run", bad).returncode == 1
    assert not (home / "output").exists()


def test_failing_node_exits_3_naming_it(home: Path) -> None:
    path = write(
        home,
        "fail.json",
        {
            "n": {"type": "test.number", "inputs": {"value": 1}},
            "bad": {
                "type": "test.fail",
                "inputs": {"value": {"node": "n", "output": "value"}, "message": "out of ink"},
            },
            "out": {"type": "test.sink", "inputs": {"value": {"node": "bad", "output": "value"}}},
        },
    )
    done = cli(home, "run", path)
    assert done.returncode == 3
    assert "error: node bad (test.fail): out of ink" in done.stderr
    assert "Traceback" not in done.stderr
    data = json.loads(cli(home, "run", path, "--json").stdout)
    assert data["status"] == "failed" and data["error"]["node"] == "bad"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run"], 2, "the following arguments are required"),
        (["frobnicate"], 2, "invalid choice"),
        (["run", "missing.json"], 1, "no such file"),
        (["run", str(BASICS), "--set", "width=3"], 1, "expected NODE.INPUT=VALUE"),
        (["run", str(BASICS), "--set", "9.width=3"], 1, "no node '9'"),
    ],
)
def test_usage_errors(home: Path, args: list[str], code: int, message: str) -> None:
    done = cli(home, *args)
    assert done.returncode == code
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_broken_json_exits_1(home: Path) -> None:
    (home / "broken.json").write_text('{"nodes": ')
    done = cli(home, "run", str(home / "broken.json"))
    assert done.returncode == 1 and "not valid JSON" in done.stderr


def test_ctrl_c_interrupts_within_a_step_and_exits_130(home: Path) -> None:
    path = write(
        home,
        "slow.json",
        {
            "s": {"type": "test.slow", "inputs": {"steps": 2000, "delay": 0.01}},
            "out": {"type": "test.sink", "inputs": {"value": {"node": "s", "output": "value"}}},
        },
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.cli", "--home", str(home), "run", path, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    marker = home / "temp" / "slow.started"
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert time.monotonic() - sent < 5  # not the 20 s the node would take
    assert "Traceback" not in err


def test_nodes_and_schema_commands(home: Path) -> None:
    nodes = json.loads(cli(home, "nodes").stdout)
    assert "image.save" in nodes and "test.slow" in nodes
    schema = json.loads(cli(home, "schema").stdout)
    assert schema["title"] == "diffgraph workflow"


@pytest.mark.parametrize(
    "args",
    [["run", "--json"], ["validate", "--json", "--nope"], ["frobnicate", "--json"]],
)
def test_a_bad_command_line_under_json_prints_json_and_exits_2(home: Path, args: list[str]) -> None:
    done = cli(home, *args)
    assert done.returncode == 2
    [problem] = json.loads(done.stdout)["problems"]
    assert problem["code"] == "bad_command_line" and "Traceback" not in done.stderr


@pytest.mark.parametrize("threads", ["0", "-2", "many"])
def test_threads_must_be_a_positive_whole_number(home: Path, threads: str) -> None:
    done = cli(home, "run", str(BASICS), "--threads", threads)
    assert done.returncode == 2 and "--threads" in done.stderr


def test_an_object_that_is_not_a_link_given_with_set_names_node_and_input(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--home", str(home), "run", str(BASICS), "--json", "--set", '1.width={"a": 1}'])
    assert code == 1
    [problem] = json.loads(capsys.readouterr().out)["problems"]
    assert problem["message"].startswith("cannot set 1.width: an object must be a link")


def test_a_set_value_that_json_refuses_is_taken_as_text(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--home", str(home), "run", str(BASICS), "--json", "--set", "1.width=NaN"])
    assert code == 1
    [problem] = json.loads(capsys.readouterr().out)["problems"]
    assert problem["input"] == "width" and "'NaN'" in problem["message"]


def test_a_bug_is_reported_with_its_traceback_on_stderr_and_json_on_stdout(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the executor")

    monkeypatch.setattr(Executor, "run", broken)
    code = main(["--home", str(home), "run", str(BASICS), "--json"])
    out, err = capsys.readouterr()
    assert code == 3
    assert "a bug in the executor" in json.loads(out)["error"]["message"]
    assert "Traceback" in err  # not the user's doing: the details are for the report
