"""The first model load on a fresh server, with and without the background import warm-up.

For each round, two real `diffgraph serve` subprocesses one after the other (interleaved:
cold, warm, cold, warm ...): one with `--no-warm-imports` (the first load imports torch,
diffusers and transformers itself) and one as shipped (they are imported in the background
once the server answers). Each measures:
- ready: process start to "serving on" (the warm-up must not add to it);
- loader: the Load Checkpoint node of the first job, from its `executing` message to the
  next node's, as a WebSocket client sees them;
- first job: POST /prompt to the job's end (1 sampler step at the workflow's size).
The first job is sent `--delay` seconds after ready in both modes (a person opening the
editor and queuing); the warm-up's own duration, from the server's log, is printed beside.
Ratios are warm/cold medians from the same run.

Run: .venv/bin/python bench/first_load.py [--rounds 3] [--delay 5] [--checkpoint FILE]
(default checkpoint: the embedded toy model; FILE: any SD .safetensors, e.g. a full-size
random SD 1.5 made by bench/make_random_checkpoint.py)
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is not installed
from tests.server.harness import Listener, Server, call, make_home, toy_workflow

WARMED = re.compile(r"imports warmed in ([0-9.]+) s")


def _home(root: Path, checkpoint: Path | None) -> Path:
    if checkpoint is None:
        return make_home(root)
    home = make_home(root, with_models=False)
    (home / "models" / "checkpoints").mkdir(parents=True)
    (home / "models" / "checkpoints" / checkpoint.name).symlink_to(checkpoint.resolve())
    return home


def _loader_seconds(listener: Listener, prompt_id: str) -> float:
    """From the loader's `executing` to the next `executing` of the same job."""
    seen = list(zip(listener.messages, listener.arrived, strict=False))
    times = [
        (m["data"]["node"], at)
        for m, at in seen
        if isinstance(m, dict)
        and m["type"] == "executing"
        and m["data"].get("prompt_id") == prompt_id
    ]
    for (node, at), (_, after) in itertools.pairwise(times):
        if node == "ckpt":
            return after - at
    raise AssertionError(f"the loader did not run: {times}")


def one_server(root: Path, checkpoint: Path | None, warm: bool, delay: float) -> dict[str, Any]:
    home = _home(root, checkpoint)
    began = time.perf_counter()
    server = Server(home, *(() if warm else ("--no-warm-imports",))).start()
    ready = time.perf_counter() - began
    try:
        time.sleep(delay)
        listener = Listener(server)
        workflow = toy_workflow(steps=1)
        if checkpoint is not None:
            workflow["nodes"]["ckpt"]["inputs"]["ckpt_name"] = checkpoint.name
        body = {"prompt": workflow, "client_id": listener.client_id}
        sent = time.perf_counter()
        reply = call("POST", f"{server.url}/prompt", body)
        assert reply.status == 200, reply.text
        prompt_id = reply.json()["prompt_id"]
        messages = listener.wait_done(prompt_id, timeout=1800)
        job = time.perf_counter() - sent
        assert "execution_success" in [m["type"] for m in messages], messages
        loader = _loader_seconds(listener, prompt_id)
        listener.close()
    finally:
        server.stop()
    found = WARMED.search(server.log.read_text())
    return {
        "ready": ready,
        "loader": loader,
        "job": job,
        "warm_up": float(found.group(1)) if found else None,
    }


def _median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def report(cold: list[dict[str, Any]], warm: list[dict[str, Any]]) -> None:
    print("| measure | cold median s | cold min | warm median s | warm min | warm / cold |")
    print("|---|--:|--:|--:|--:|--:|")
    for key, title in (("ready", "start to ready"), ("loader", "Load Checkpoint"),
                       ("job", "first job")):  # fmt: skip
        c, w = _median(cold, key), _median(warm, key)
        c_min, w_min = min(r[key] for r in cold), min(r[key] for r in warm)
        print(f"| {title} | {c:.3f} | {c_min:.3f} | {w:.3f} | {w_min:.3f} | {w / c:.2f} |")
    spent = [r["warm_up"] for r in warm if r["warm_up"] is not None]
    if spent:
        median = statistics.median(spent)
        print(f"\nwarm-up thread (after ready, in the background): median {median:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delay", type=float, default=5.0, help="ready -> first job, s")
    parser.add_argument("--checkpoint", type=Path, help="an SD .safetensors (default: toy)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cold: list[dict[str, Any]] = []
    warm: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="diffgraph-first-load-") as scratch:
        for n in range(args.rounds):
            for is_warm, rows in ((False, cold), (True, warm)):
                root = Path(scratch) / f"{n}-{'warm' if is_warm else 'cold'}"
                rows.append(one_server(root, args.checkpoint, is_warm, args.delay))
                print(f"round {n + 1} {'warm' if is_warm else 'cold'}: {rows[-1]}", flush=True)
    name = args.checkpoint.name if args.checkpoint else "diffgraph-toy.safetensors (embedded)"
    print(f"\ncheckpoint: {name}; {args.rounds} interleaved rounds; first job {args.delay} s"
          " after ready; 1 sampler step\n")  # fmt: skip
    report(cold, warm)


if __name__ == "__main__":
    main()
