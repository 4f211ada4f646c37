"""Peak RSS while loading a checkpoint, as a multiple of its file size, in fresh processes.

Three measures, each in its own subprocess (so no page or allocator state carries over),
RSS sampled every 5 ms from /proc/self/statm:
- mmap + cast: every tensor read memory-mapped, then each cast to float32 while the mapped
  ones stay referenced (how loading worked before: the reference, same run);
- read as float32: `read_tensors(..., dtype=float32)`, each tensor read and cast in turn;
- Load Checkpoint, as `--dtype auto` picks on this CPU (bfloat16 where the CPU multiplies
  it natively: weights converted to bfloat16 as read; else float32 with a half file's weights
  held half, each layer widened as it runs);
- Load Checkpoint as auto picks on a CPU without native bfloat16 (the probe patched off);
- Load Checkpoint `--dtype float32`: every weight held in float32, 2x an fp16 file.
Targets (issue 18): after loading at most 1.2x the file, peak at most 1.4x.

Run: .venv/bin/python bench/load_memory.py FILE [--threads 2]
(FILE: an SD .safetensors; default the embedded toy model)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "models" / "checkpoints" / "diffgraph-toy.safetensors"
MODES = (
    "mmap + cast",
    "read as float32",
    "Load Checkpoint, auto",
    "Load Checkpoint, auto without native bf16",
    "Load Checkpoint --dtype float32",
)


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(mode: str, path: Path, threads: int) -> dict[str, Any]:
    """In this process: the load's peak RSS over the RSS before it, and its time."""
    import torch

    import engine.device
    from engine.device import DevicePolicy
    from engine.model_store import ModelStore
    from nodes.ops.families import files
    from nodes.ops.weights.checkpoint_io import read_tensors

    torch.set_num_threads(threads)
    peak, stop = [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.005)

    before = _rss()
    threading.Thread(target=sample, daemon=True).start()
    began = time.perf_counter()
    if mode == "mmap + cast":
        mapped = read_tensors(path, list)
        held = {k: v.float() if v.is_floating_point() else v for k, v in mapped.items()}
    elif mode == "read as float32":
        held = read_tensors(path, list, torch.float32)
    else:
        if mode.endswith("without native bf16"):
            engine.device.cpu_computes_bf16_natively = lambda: False
        devices = DevicePolicy("cpu", "float32" if mode.endswith("float32") else None)
        mode += f" ({devices.dtype})"
        held = dict(enumerate(files.load_checkpoint(path, ModelStore(), devices)))
    seconds = time.perf_counter() - began
    time.sleep(0.02)
    stop.set()
    size = path.stat().st_size
    return {"peak": (peak[0] - before) / size, "after": (_rss() - before) / size, "s": seconds,
            "held": len(held), "mode": mode}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path, nargs="?", default=TOY)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.file, args.threads)))
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    size = args.file.stat().st_size
    print(f"{args.file.name}: {size / 1e9:.2f} GB; RSS growth over the process before loading\n")
    print("| load | peak / file | after / file | seconds |\n|---|--:|--:|--:|")
    for mode in MODES:
        command = [sys.executable, __file__, str(args.file), "--child", mode]
        command += ["--threads", str(args.threads)]
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {row['mode']} | {row['peak']:.2f}x | {row['after']:.2f}x | {row['s']:.2f} |")


if __name__ == "__main__":
    main()
