"""diffgraph beside ComfyUI on this machine: the same checkpoint, graph and thread count.

Each run is cold: a fresh server process (ComfyUI `--cpu`, or `diffgraph serve`), timed from
its start to HTTP ready, then ComfyUI's default txt2img graph sent once over the ComfyUI API
(ours accepts it unchanged) while a WebSocket client stamps each message as it arrives; the
process's peak RSS (VmHWM) is read before it is stopped. Runs alternate, diffgraph then
ComfyUI, so a machine that slows down part-way slows both. bench/side_by_side.py turns the
messages into phases and ratios; bench/README.md says how to make a ComfyUI to compare with.

Run: .venv/bin/python bench/vs_comfyui.py --comfyui /tmp/bench18/ComfyUI \
       --comfyui-python /tmp/bench18/venv/bin/python --checkpoint sd15_random.safetensors
     (--size 256 --steps 4 --pairs 3 --threads 2). Without --comfyui it says so and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is not installed
from bench.side_by_side import Message, RunTimes, default_graph, markdown, ratio_summary, run_times

READY_TIMEOUT_S, RUN_TIMEOUT_S = 300.0, 1800.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def comfyui_command(args: argparse.Namespace, port: int, scratch: Path) -> list[str]:
    # ComfyUI finds models through a yaml of extra model folders; ours through --models-dir.
    yaml = scratch / "extra_model_paths.yaml"
    yaml.write_text(f"bench:\n  base_path: {args.models_dir}\n  checkpoints: checkpoints/\n")
    for folder in ("output", "temp", "user"):  # ComfyUI refuses folders that do not exist
        (scratch / folder).mkdir()
    return [
        args.comfyui_python,
        str(Path(args.comfyui) / "main.py"),
        "--cpu",
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-all-custom-nodes",
        "--extra-model-paths-config",
        str(yaml),
        "--output-directory",
        str(scratch / "output"),
        "--temp-directory",
        str(scratch / "temp"),
        "--user-directory",
        str(scratch / "user"),
        "--database-url",
        f"sqlite:///{scratch / 'comfyui.db'}",
        "--preview-method",
        "none",
        *args.comfyui_arg,
    ]


def diffgraph_command(args: argparse.Namespace, port: int, scratch: Path) -> list[str]:
    exe = Path(args.diffgraph_python).parent / "diffgraph"
    return [
        str(exe),
        "--home",
        str(scratch),
        "serve",
        "--port",
        str(port),
        "--models-dir",
        str(args.models_dir),
        "--threads",
        str(args.threads),
        *args.diffgraph_arg,
    ]


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident set (Linux VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmHWM for pid {pid}")


async def wait_ready(
    session: aiohttp.ClientSession, base: str, proc: subprocess.Popen[Any]
) -> float:
    deadline = time.perf_counter() + READY_TIMEOUT_S
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            async with session.get(base + "/system_stats") as resp:
                if resp.status == 200:
                    return time.perf_counter()
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{base} not ready after {READY_TIMEOUT_S} s")


async def run_graph(
    session: aiohttp.ClientSession, base: str, graph: dict[str, Any]
) -> list[Message]:
    """Send the graph and collect every text message, stamped on arrival, until it ends."""
    client_id = uuid.uuid4().hex
    messages: list[Message] = []
    async with session.ws_connect(f"{base}/ws?clientId={client_id}", max_msg_size=0) as ws:
        async with session.post(
            base + "/prompt", json={"prompt": graph, "client_id": client_id}
        ) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"prompt refused: {json.dumps(body)[:2000]}")
        prompt_id = body["prompt_id"]
        async for raw in ws:
            if raw.type != aiohttp.WSMsgType.TEXT:
                continue  # previews (binary) are off; anything else is not timed
            stamp, message = time.perf_counter(), json.loads(raw.data)
            messages.append((stamp, message))
            data = message.get("data") or {}
            if message.get("type") == "execution_error":
                raise RuntimeError(f"run failed: {json.dumps(data)[:2000]}")
            done = message.get("type") == "executing" and data.get("node") is None
            if done and data.get("prompt_id") == prompt_id:
                return messages
    raise RuntimeError("WebSocket closed before the run ended")


async def one_run(side: str, args: argparse.Namespace, graph: dict[str, Any]) -> RunTimes:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix=f"bench-{side}-") as tmp:
        scratch = Path(tmp)
        command = (comfyui_command if side == "comfyui" else diffgraph_command)(args, port, scratch)
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        log = (scratch / "server.log").open("w")
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=scratch)
        try:
            base = f"http://127.0.0.1:{port}"
            timeout = aiohttp.ClientTimeout(total=RUN_TIMEOUT_S)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                ready = await wait_ready(session, base, proc)
                messages = await run_graph(session, base, graph)
            return run_times(messages, started, ready, peak_rss_mb(proc.pid))
        except Exception:
            log.flush()
            print((scratch / "server.log").read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def show(side: str, times: RunTimes) -> None:
    parts = ", ".join(f"{m} {getattr(times, m):.3f}" for m in RunTimes.METRICS)
    print(f"  {side}: {parts}", file=sys.stderr, flush=True)


async def bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    graph = default_graph(args.checkpoint, args.size, args.steps, args.seed)
    ours: list[RunTimes] = []
    theirs: list[RunTimes] = []
    for pair in range(args.pairs):
        print(f"pair {pair + 1}/{args.pairs}", file=sys.stderr, flush=True)
        ours.append(await one_run("diffgraph", args, graph))
        show("diffgraph", ours[-1])
        theirs.append(await one_run("comfyui", args, graph))
        show("comfyui", theirs[-1])
    return ratio_summary(ours, theirs)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comfyui", help="a ComfyUI checkout (its main.py is run)")
    parser.add_argument("--comfyui-python", help="the Python to run ComfyUI with")
    parser.add_argument(
        "--diffgraph-python",
        help="the Python whose `diffgraph` command is run (default: --comfyui-python, so both "
        "share one torch)",
    )
    parser.add_argument("--models-dir", type=Path, default=Path("/tmp/bench18/models"))
    parser.add_argument(
        "--checkpoint", default="sd15_random.safetensors", help="under checkpoints/"
    )
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--comfyui-arg",
        action="append",
        default=[],
        help="one more ComfyUI switch, e.g. --comfyui-arg=--bf16-unet (repeatable)",
    )
    parser.add_argument(
        "--diffgraph-arg",
        action="append",
        default=[],
        help="one more `diffgraph serve` switch, e.g. --diffgraph-arg=--dtype=float32",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    args.diffgraph_python = args.diffgraph_python or args.comfyui_python
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not args.comfyui or not args.comfyui_python:
        print(
            "skipped: no ComfyUI to compare with (--comfyui PATH --comfyui-python PY; "
            "bench/README.md says how to make one)"
        )
        return 0
    ckpt = args.models_dir / "checkpoints" / args.checkpoint
    if not ckpt.is_file():
        raise SystemExit(f"{ckpt} missing: make it with bench/make_random_checkpoint.py")
    rows = asyncio.run(bench(args))
    print(json.dumps(rows, indent=2) if args.json else markdown(rows, args.pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
