"""A real `diffgraph serve` in a subprocess on a free localhost port, and plain clients for
it: HTTP through urllib, the WebSocket through aiohttp on a background thread."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import REPO

START_TIMEOUT = 120.0


class Server:
    def __init__(self, home: Path, *args: str) -> None:
        self.home = home
        self.args = args
        self.url = ""
        self.log = home / "server.log"
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> Server:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "apps.cli", "--home", str(self.home), "serve"]
        command += ["--port", "0", "--threads", "1", *self.args]
        with open(self.log, "a", encoding="utf-8") as log:
            self._process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, text=True
            )
        assert self._process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            line = self._process.stdout.readline()
            if "serving on " in line:
                self.url = line.split("serving on ")[1].strip().rstrip("/")
                return self
            if not line and self._process.poll() is not None:
                break
        raise RuntimeError(f"the server did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            self._process.wait(60)

    def kill(self) -> None:
        """kill -9: no cleanup of any kind."""
        if self._process and self._process.poll() is None:
            self._process.kill()
            self._process.wait(30)

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def call(
    method: str,
    url: str,
    body: Any = None,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One HTTP request; `body` is sent as JSON. Error statuses are returned, not raised."""
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return Reply(answer.status, answer.read(), dict(answer.headers))
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.read(), dict(error.headers))


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(f"{head}{value}\r\n".encode())
    for name, (filename, content) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        parts.append(head.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Listener:
    """A WebSocket client on its own thread, keeping every message it receives
    (dicts for JSON messages, bytes for binary frames) with its arrival time."""

    def __init__(self, server: Server, client_id: str | None = None, token: str | None = None):
        self.client_id = client_id or uuid.uuid4().hex
        self.messages: list[dict[str, Any] | bytes] = []
        self.arrived: list[float] = []
        url = f"{server.ws_url}?clientId={self.client_id}"
        if token:
            url += f"&token={token}"
        self._url = url
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        assert self._ready.wait(30), "the WebSocket did not connect"

    def close(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def json_messages(self) -> list[dict[str, Any]]:
        return [m for m in list(self.messages) if isinstance(m, dict)]

    def of(self, prompt_id: str) -> list[dict[str, Any]]:
        """The JSON messages about one job."""
        return [m for m in self.json_messages() if m["data"].get("prompt_id") == prompt_id]

    def wait_for(self, check: Callable[[], bool], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                kinds = [m["type"] for m in self.json_messages()]
                raise AssertionError(f"timed out; messages so far: {kinds}")
            time.sleep(0.05)

    def wait_done(self, prompt_id: str, timeout: float = 180.0) -> list[dict[str, Any]]:
        """Wait for the job's closing `executing` (node null); its messages."""

        def done() -> bool:
            return any(
                m["type"] == "executing" and m["data"]["node"] is None for m in self.of(prompt_id)
            )

        self.wait_for(done, timeout)
        return self.of(prompt_id)

    def _main(self) -> None:
        asyncio.run(self._listen())

    async def _listen(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with aiohttp.ClientSession() as session, session.ws_connect(self._url) as socket:
            self._ready.set()
            reader = asyncio.create_task(self._read(socket))
            await self._stop.wait()
            reader.cancel()

    async def _read(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        async for item in socket:
            if item.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(item.data))
            elif item.type == aiohttp.WSMsgType.BINARY:
                self.messages.append(bytes(item.data))
            self.arrived.append(time.time())


def toy_workflow(steps: int = 20, batch: int = 1, seed: int = 1, prompt: str | None = None) -> Any:
    """The default txt2img workflow, with a few inputs changed."""
    document = json.loads((REPO / "workflows" / "toy_txt2img.json").read_text())
    nodes = document["nodes"]
    nodes["sample"]["inputs"].update(steps=steps, seed=seed)
    nodes["latent"]["inputs"]["batch_size"] = batch
    if prompt is not None:
        nodes["prompt"]["inputs"]["text"] = prompt
    return document


def make_home(root: Path, with_models: bool = True) -> Path:
    """A diffgraph home whose models/ is the project's (embedded toy model included)."""
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("input", "output", "temp", "user"):
        (root / sub).mkdir(exist_ok=True)
    if with_models:
        (root / "models").symlink_to(REPO / "models", target_is_directory=True)
    return root
