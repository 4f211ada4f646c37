"""A real Ray cluster on this machine (`ray start --head`, 2 CPUs) and a diffgraph server
whose jobs run on it, shared by the module's tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import needs_toy_model
from tests.server.harness import Server, call, make_home

ray = pytest.importorskip("ray", reason="Ray is optional: pip install 'diffgraph[ray]'")
RAY = str(Path(sys.executable).with_name("ray"))
# A throwaway loopback cluster: no token to hand around (real clusters keep Ray's auth).
ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, **ENV}
    head = [RAY, "start", "--head", "--port", str(port), "--num-cpus", "2"]
    head += ["--include-dashboard", "false", "--disable-usage-stats"]
    subprocess.run(head, env=env, check=True, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def ray_server(ray_cluster: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    home = make_home(tmp_path_factory.mktemp("home"))
    server = Server(home, "--ray-address", ray_cluster).start()
    try:
        wait_workers(server, lambda ws: len(ws) == 2 and all(w["state"] == "idle" for w in ws))
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def workers(server: Server) -> list[dict]:
    return call("GET", server.url + "/v1/workers").json()["workers"]


def wait_workers(server: Server, check, timeout: float = 180.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = workers(server)
        if check(found):
            return found
        time.sleep(0.2)
    raise AssertionError(f"workers never got there: {workers(server)}")


__all__ = ["needs_toy_model", "ray_server", "wait_workers", "workers"]
