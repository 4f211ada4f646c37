"""Server under load: 200 toy-model prompts queued over HTTP by 20 concurrent clients (10
each, distinct seeds so nothing is cached), each client following its jobs on its own
WebSocket, while a poller times GET /queue every 50 ms.

Prints: throughput (jobs/s) through the server, against the same workflow run directly on an
in-process Executor in this run (the reference: the model work itself, no HTTP, no queue);
p50/p99/max of GET /queue while jobs run (target p99 < 50 ms); WebSocket event lag (arrival
time minus the server's timestamp on execution_start/execution_success messages).

Run: .venv/bin/python bench/server_load.py [--clients 20] [--per-client 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import parse_workflow

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is not installed
from tests.server.harness import Server, make_home, toy_workflow


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


async def poll_queue(url: str, latencies: list[float], stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            began = time.perf_counter()
            async with session.get(f"{url}/queue") as reply:
                await reply.read()
            latencies.append(time.perf_counter() - began)
            await asyncio.sleep(0.05)


async def load(
    url: str, clients: int, per_client: int, first: int = 0
) -> tuple[float, list[float], list[float]]:
    latencies: list[float] = []
    lags: list[float] = []
    stop = asyncio.Event()
    poller = asyncio.create_task(poll_queue(url, latencies, stop))
    began = time.perf_counter()
    await asyncio.gather(*(client(url, first + n, per_client, lags) for n in range(clients)))
    seconds = time.perf_counter() - began
    stop.set()
    await poller
    return seconds, latencies, lags


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--reference-jobs", type=int, default=20)
    args = parser.parse_args()
    total = args.clients * args.per_client
    with tempfile.TemporaryDirectory() as tmp:
        home = make_home(Path(tmp) / "home")
        direct = direct_seconds_per_job(home, args.reference_jobs)
        server = Server(home).start()
        try:
            asyncio.run(load(server.url, 1, 1, first=999))  # loads the model: not timed
            seconds, latencies, lags = asyncio.run(load(server.url, args.clients, args.per_client))
        finally:
            server.stop()
    per_job = seconds / total
    print(f"| measure ({total} jobs, {args.clients} clients, toy model 64x64, 20 steps) | value |")
    print("|---|---|")
    print(f"| throughput through the server | {total / seconds:.2f} jobs/s |")
    print(f"| direct Executor, same workflow (reference) | {1 / direct:.2f} jobs/s |")
    print(f"| server time per job / direct time per job | {per_job / direct:.3f} |")
    ms = [x * 1000 for x in latencies]
    print(
        f"| GET /queue while jobs run: p50 / p99 / max ({len(ms)} requests) | "
        f"{statistics.median(ms):.1f} / {percentile(ms, 0.99):.1f} / {max(ms):.1f} ms |"
    )
    lag_ms = [x * 1000 for x in lags]
    print(
        f"| WebSocket event lag: p50 / p99 ({len(lag_ms)} events) | "
        f"{statistics.median(lag_ms):.1f} / {percentile(lag_ms, 0.99):.1f} ms |"
    )


if __name__ == "__main__":
    main()
