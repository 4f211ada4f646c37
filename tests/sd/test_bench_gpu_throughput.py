"""bench/gpu_throughput.py on the CPU with the tests' tiny UNets: the same code a GPU
session runs (the device switched), printing the table both sides filled in."""

from __future__ import annotations

import math
import re

import pytest
import torch

from bench import gpu_throughput as bench

ROW = re.compile(r"^\| (sd15|sdxl) \| 64x64 \| (\d) \| (.+) \| (.+) \| (.+) \|$")
CELL = re.compile(r"^([\d.]+) \(min ([\d.]+)\)$")


def numbers(cell: str) -> tuple[float, float]:
    match = CELL.match(cell)
    assert match, cell
    return float(match[1]), float(match[2])


def test_the_tiny_cpu_run_prints_both_sides_for_every_case(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--tiny", "--device", "cpu", "--steps", "3", "--repeats", "2", "--batches", "1,2"]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert f"torch {torch.__version__}, diffusers " in out
    assert "CPU" in out.splitlines()[0]
    rows = [ROW.match(line) for line in out.splitlines() if line.startswith("| sd")]
    assert [(r[1], r[2]) for r in rows if r] == [
        ("sd15", "1"), ("sd15", "2"), ("sdxl", "1"), ("sdxl", "2")
    ]  # fmt: skip
    for row in rows:
        assert row is not None
        ours, theirs, ratio = (numbers(row[i]) for i in (3, 4, 5))
        for median, least in (ours, theirs, ratio):
            assert math.isfinite(median) and 0 < least <= median
        assert 1 < ours[0] < 1e5 and 1 < theirs[0] < 1e5  # iterations per second
        assert 0.1 < ratio[0] < 10  # the same UNet does the work on both sides
    assert "target" not in out  # issue 18's GPU targets are judged on a GPU only


def test_the_step_clock_counts_the_steps_after_the_first() -> None:
    clock = bench.StepClock(torch.device("cpu"))
    clock.start()
    clock.marks = [10.0, 10.5, 11.0, 11.5]  # the end of 4 steps
    assert clock.rate() == pytest.approx(3 / 1.5)
    clock.marks = [10.0]
    with pytest.raises(ValueError, match="2 steps"):
        clock.rate()


def test_options_are_checked() -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(["--families", "sd3"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--steps", "1"])
    args = bench.parse_args(["--families", "sdxl", "--batches", "4", "--checkpoint", "sdxl=a.st"])
    assert (args.families, args.batches, args.checkpoint) == (["sdxl"], [4], {"sdxl": "a.st"})
