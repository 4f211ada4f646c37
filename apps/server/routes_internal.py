"""ComfyUI's /internal routes (api_server/routes/internal in ComfyUI), which its frontend
calls without the /api prefix: the server log for its Logs panel (the last records, and
each new one over the WebSocket to the clients that subscribed), the model folders, and
the files in input/, output/ and temp/ newest first.

The log is this server's own `logging` records from INFO up, kept per application (no
global): what `diffgraph serve` prints, never the access token (it is printed, not logged)."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from aiohttp import web

from apps.server.http import fail, ok, read_json
from apps.server.hub import Hub
from apps.server.state import SERVICES
from engine.model_paths import KINDS, ModelPaths

routes = web.RouteTableDef()
KEPT_RECORDS = 300  # as ComfyUI's log panel
TERMINAL = {"cols": 120, "rows": 40}  # ComfyUI reports its terminal's; we have none


class LogRing(logging.Handler):
    """The last records, and each new one sent to the subscribed WebSocket clients."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.entries: deque[dict[str, str]] = deque(maxlen=KEPT_RECORDS)
        self.subscribers: set[str] = set()
        self.hub = hub
        self._sending = threading.local()  # a record logged while sending one is kept only

    def emit(self, record: logging.LogRecord) -> None:
        entry = {"t": datetime.now().isoformat(), "m": self.format(record) + "\n"}
        self.entries.append(entry)
        if getattr(self._sending, "busy", False):
            return
        self._sending.busy = True
        try:
            message = {"type": "logs", "data": {"entries": [entry], "size": TERMINAL}}
            for client_id in list(self.subscribers):
                self.hub.publish(message, client_id)
        finally:
            self._sending.busy = False


LOG_RING = web.AppKey("log_ring", LogRing)


def install(app: web.Application) -> None:
    """Keep the server's log while the application runs, and answer the /internal routes."""
    app.router.add_routes(routes)
    app.cleanup_ctx.append(_keep_log)


async def _keep_log(app: web.Application) -> AsyncIterator[None]:
    ring = LogRing(app[SERVICES].hub)
    app[LOG_RING] = ring
    logging.getLogger().addHandler(ring)
    yield
    logging.getLogger().removeHandler(ring)


@routes.get("/internal/logs")
async def log_text(request: web.Request) -> web.Response:
    entries = request.app[LOG_RING].entries
    return ok("".join(f"{entry['t']} - {entry['m']}" for entry in entries))


@routes.get("/internal/logs/raw")
async def log_entries(request: web.Request) -> web.Response:
    return ok({"entries": list(request.app[LOG_RING].entries), "size": TERMINAL})


@routes.patch("/internal/logs/subscribe")
async def subscribe(request: web.Request) -> web.Response:
    body: Any = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("clientId"), str):
        fail(400, 'logs/subscribe takes {"clientId": ID, "enabled": true|false}')
    subscribers = request.app[LOG_RING].subscribers
    if body.get("enabled") is True:
        subscribers.add(body["clientId"])
    else:
        subscribers.discard(body["clientId"])
    return ok(None)


@routes.get("/internal/folder_paths")
async def folder_paths(request: web.Request) -> web.Response:
    paths = ModelPaths.from_settings(request.app[SERVICES].settings)
    return ok({kind: [str(folder) for folder in paths.folders(kind)] for kind in KINDS})


@routes.get("/internal/files/{kind}")
async def recent_files(request: web.Request) -> web.Response:
    settings = request.app[SERVICES].settings
    folders = {"input": settings.input_dir, "output": settings.output_dir}
    folders["temp"] = settings.temp_dir
    kind = request.match_info["kind"]
    if kind not in folders:
        fail(400, f"no file folder {kind!r}; there are input, output and temp")
    folder = folders[kind]
    files = [entry for entry in folder.iterdir() if entry.is_file()] if folder.is_dir() else []
    files.sort(key=lambda entry: -entry.stat().st_mtime)
    return ok([entry.name for entry in files])
