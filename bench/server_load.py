"""Server under load, three measures on a real `diffgraph serve` subprocess:

1. Throughput: 200 toy-model prompts queued over HTTP by 20 concurrent clients (10 each,
   distinct seeds so nothing is cached), each following its jobs on its own WebSocket,
   while a poller times GET /queue every 50 ms; against the same workflow run directly on
   an in-process Executor (the reference: the model work itself, no HTTP, no queue).
2. Polling: for 60 s, 20 clients each submit a toy job and poll GET /queue and GET
   /history every 250 ms until it is in the history, then submit the next; a 5,000-node
   job (the most a job may have) sits in the history meanwhile. p50/p99/max of both
   (target p99 < 50 ms).
3. Memory: 1,000 toy jobs one after another; the server's RSS every 100 jobs (target:
   flat within 5% after the first 100, the warm-up).

Run: .venv/bin/python bench/server_load.py [--clients 20] [--per-client 10]
     [--duration 60] [--rss-runs 1000] [--only throughput,polling,memory]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import parse_workflow

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is not installed
from tests.server.harness import Server, call, make_home, toy_workflow

PARTS = ("throughput", "polling", "memory")
POLL_EVERY = 0.25  # seconds between one client's polls
BIG_JOB_NODES = 5_000  # engine.admission.MAX_NODES


def direct_seconds_per_job(home: Path, jobs: int) -> float:
    """The reference: the same jobs on an Executor in this process (model loaded first)."""
    settings = Settings.at(home, threads=1)
    executor = Executor(Registry.discover(settings), settings)
    executor.run(parse_workflow(toy_workflow(seed=10_000)))  # load the model, warm up
    began = time.perf_counter()
    for seed in range(jobs):
        result = executor.run(parse_workflow(toy_workflow(seed=20_000 + seed)))
        assert result.status == "success", result
    return (time.perf_counter() - began) / jobs


async def client(url: str, number: int, jobs: int, lags: list[float]) -> None:
    client_id = f"bench-{number}"
    socket_url = f"{url.replace('http', 'ws')}/ws?clientId={client_id}"
    async with aiohttp.ClientSession() as session, session.ws_connect(socket_url) as ws:
        waiting = set()
        for k in range(jobs):
            body = {"prompt": toy_workflow(seed=number * 1000 + k), "client_id": client_id}
            async with session.post(f"{url}/prompt", json=body) as reply:
                assert reply.status == 200, await reply.text()
                waiting.add((await reply.json())["prompt_id"])
        async for item in ws:
            if item.type != aiohttp.WSMsgType.TEXT:
                continue
            arrived = time.time()
            message = json.loads(item.data)
            data = message["data"]
            if "timestamp" in data:
                lags.append(arrived - data["timestamp"] / 1000)
            if message["type"] == "executing" and data["node"] is None:
                waiting.discard(data["prompt_id"])
                if not waiting:
                    return


async def timed_get(session: aiohttp.ClientSession, url: str, into: list[float]) -> bytes:
    """The body (not decoded: the clients share one event loop, which decoding every large
    history page would hold up, adding its time to everyone's measure)."""
    began = time.perf_counter()
    async with session.get(url) as reply:
        body = await reply.read()
    into.append(time.perf_counter() - began)
    return body


async def poll_queue(url: str, latencies: list[float], stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            await timed_get(session, f"{url}/queue", latencies)
            await asyncio.sleep(0.05)


async def throughput(
    url: str, clients: int, per_client: int
) -> tuple[float, list[float], list[float]]:
    await asyncio.gather(client(url, 999, 1, []))  # loads the model: not timed
    latencies: list[float] = []
    lags: list[float] = []
    stop = asyncio.Event()
    poller = asyncio.create_task(poll_queue(url, latencies, stop))
    began = time.perf_counter()
    await asyncio.gather(*(client(url, n, per_client, lags) for n in range(clients)))
    seconds = time.perf_counter() - began
    stop.set()
    await poller
    return seconds, latencies, lags


def big_job() -> dict[str, Any]:
    """The largest job admitted: an image inverted 4,998 times, saved (ComfyUI API)."""
    prompt: dict[str, Any] = {
        "0": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1}}
    }
    for i in range(1, BIG_JOB_NODES - 1):
        prompt[str(i)] = {"class_type": "ImageInvert", "inputs": {"image": [str(i - 1), 0]}}
    last = str(BIG_JOB_NODES - 1)
    prompt[last] = {"class_type": "SaveImage", "inputs": {"images": [str(BIG_JOB_NODES - 2), 0]}}
    return prompt


async def submit_and_poll(
    url: str, number: int, until: float, times: dict[str, list[float]]
) -> int:
    """Submit a job, poll /queue and /history until it is in the history; again until
    `until`. Returns how many jobs it saw through."""
    done = 0
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < until:
            body = {"prompt": toy_workflow(steps=8, seed=50_000 + number * 1000 + done)}
            async with session.post(f"{url}/prompt", json=body) as reply:
                job = (await reply.json())["prompt_id"]
            while True:
                await asyncio.sleep(POLL_EVERY)
                await timed_get(session, f"{url}/queue", times["queue"])
                if job.encode() in await timed_get(session, f"{url}/history", times["history"]):
                    done += 1
                    break
    return done


async def polling(url: str, clients: int, seconds: float) -> dict[str, Any]:
    reply = call("POST", f"{url}/prompt", {"prompt": big_job()})
    assert reply.status == 200, reply.text
    times: dict[str, list[float]] = {"queue": [], "history": []}
    until = time.monotonic() + seconds
    jobs = await asyncio.gather(*(submit_and_poll(url, n, until, times) for n in range(clients)))
    return {"times": times, "jobs": sum(jobs), "clients": clients, "seconds": seconds}


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as stat:
        return int(stat.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_over_runs(server: Server, runs: int, every: int = 100) -> list[tuple[int, float]]:
    """(jobs done, server RSS in MiB) every `every` toy jobs (8 steps, batch 4, new seed)."""
    samples = [(0, rss_mib(server.pid))]
    for n in range(1, runs + 1):
        reply = call("POST", f"{server.url}/prompt", {"prompt": toy_workflow(steps=8, seed=n)})
        job = reply.json()["prompt_id"]
        while not call("GET", f"{server.url}/history/{job}").json():
            time.sleep(0.02)
        if n % every == 0:
            samples.append((n, rss_mib(server.pid)))
    return samples


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def spread(values: list[float]) -> str:
    ms = [x * 1000 for x in values]
    return f"{statistics.median(ms):.1f} / {percentile(ms, 0.99):.1f} / {max(ms):.1f} ms"


def print_throughput(
    clients: int,
    per_client: int,
    direct: float,
    seconds: float,
    latencies: list[float],
    lags: list[float],
) -> None:
    total = clients * per_client
    print(f"| measure ({total} jobs, {clients} clients, toy model 64x64, 20 steps) | value |")
    print("|---|---|")
    print(f"| throughput through the server | {total / seconds:.2f} jobs/s |")
    print(f"| direct Executor, same workflow (reference) | {1 / direct:.2f} jobs/s |")
    print(f"| server time per job / direct time per job | {seconds / total / direct:.3f} |")
    print(
        f"| GET /queue while jobs run: p50 / p99 / max ({len(latencies)}) | {spread(latencies)} |"
    )
    print(f"| WebSocket event lag: p50 / p99 ({len(lags)} events) | {spread(lags)} |")


def print_polling(found: dict[str, Any]) -> None:
    times = found["times"]
    print(
        f"\n| {found['clients']} clients submitting and polling every {POLL_EVERY} s for "
        f"{found['seconds']:.0f} s, a {BIG_JOB_NODES:,}-node job in the history | p50 / p99 / max |"
    )
    print("|---|---|")
    for route in ("queue", "history"):
        print(f"| GET /{route} ({len(times[route])} requests) | {spread(times[route])} |")
    print(f"| jobs seen through | {found['jobs']} |")


def print_memory(samples: list[tuple[int, float]]) -> None:
    print("\n| toy jobs done | server RSS MiB |")
    print("|--:|--:|")
    for done, mib in samples:
        print(f"| {done} | {mib:.0f} |")
    settled = [mib for done, mib in samples if done >= 100]
    if len(settled) > 1:
        growth = (max(settled) - min(settled)) / min(settled) * 100
        print(
            f"\nafter the first 100 jobs: {min(settled):.0f}-{max(settled):.0f} MiB ({growth:.1f}%)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--reference-jobs", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--rss-runs", type=int, default=1000)
    parser.add_argument("--only", default=",".join(PARTS))
    args = parser.parse_args()
    parts = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        home = make_home(Path(tmp) / "home")
        direct = direct_seconds_per_job(home, args.reference_jobs) if "throughput" in parts else 0
        server = Server(home).start()
        try:
            if "throughput" in parts:
                measured = asyncio.run(throughput(server.url, args.clients, args.per_client))
                print_throughput(args.clients, args.per_client, direct, *measured)
            if "polling" in parts:
                print_polling(asyncio.run(polling(server.url, args.clients, args.duration)))
            if "memory" in parts:
                print_memory(memory_over_runs(server, args.rss_runs))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
