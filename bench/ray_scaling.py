"""Jobs per minute through the server on a local Ray cluster, with 1 and 2 actors, against
the same jobs on the in-process worker (no Ray) in this run.

Starts `ray start --head` with 2 CPUs on loopback, then for each shape a fresh server
(`--threads 1` everywhere: one CPU per actor); warms every worker up (model loaded) before
timing; then queues the jobs over HTTP at once (distinct seeds, nothing cached) and times
until the last one ends.

Run: .venv/bin/python bench/ray_scaling.py [--jobs 16] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is not installed
from tests.server.harness import Listener, Server, call, make_home, toy_workflow

RAY = str(Path(sys.executable).with_name("ray"))
ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def run_jobs(server: Server, jobs: int, steps: int, seed: int) -> float:
    """Seconds for `jobs` jobs queued at once to finish."""
    listener = Listener(server)
    began = time.perf_counter()
    ids = []
    for k in range(jobs):
        body = {"prompt": toy_workflow(steps=steps, seed=seed + k), "client_id": listener.client_id}
        ids.append(call("POST", server.url + "/prompt", body).json()["prompt_id"])
    for job_id in ids:
        messages = listener.wait_done(job_id, timeout=900)
        assert any(m["type"] == "execution_success" for m in messages), messages
    listener.close()
    return time.perf_counter() - began


def measure(home: Path, args: list[str], warm: int, jobs: int, steps: int) -> float:
    server = Server(home, *args).start()
    try:
        if "--ray-address" in args:  # wait for the actors, then load the model in each
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                found = call("GET", server.url + "/v1/workers").json()["workers"]
                if found and all(w["state"] == "idle" for w in found):
                    break
                time.sleep(0.5)
        run_jobs(server, warm, steps, seed=1)
        return jobs / run_jobs(server, jobs, steps, seed=1000) * 60
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    options = parser.parse_args()
    os.environ.update(ENV)
    port = "6391"
    head = [RAY, "start", "--head", "--port", port, "--num-cpus", "2"]
    subprocess.run([*head, "--include-dashboard", "false"], check=True, capture_output=True)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            shapes = [
                ("in-process worker (reference)", [], 1),
                ("Ray, 1 actor", ["--ray-address", f"127.0.0.1:{port}", "--ray-workers", "1"], 1),
                ("Ray, 2 actors", ["--ray-address", f"127.0.0.1:{port}", "--ray-workers", "2"], 2),
            ]
            for i, (name, args, warm) in enumerate(shapes):
                home = make_home(Path(tmp) / f"home{i}")
                rows.append((name, measure(home, args, warm, options.jobs, options.steps)))
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True)
    reference = rows[0][1]
    print(f"{options.jobs} toy jobs of {options.steps} steps, 1 CPU thread per worker")
    for name, per_minute in rows:
        print(f"  {name:32s} {per_minute:6.1f} jobs/min  ({per_minute / reference:.2f}x)")


if __name__ == "__main__":
    main()
