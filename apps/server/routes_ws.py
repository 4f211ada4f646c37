"""The WebSocket: /ws?clientId=... receives ComfyUI's messages for the jobs that client
queued, and `status` broadcasts. The first message tells the client its session id.

A client may open with ComfyUI's `feature_flags` message (its frontend does); it is answered
with the server's. Nothing else a client sends is read."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

from aiohttp import web

from apps.jobs.messages import status_message
from apps.server.hub import Connection
from apps.server.state import SERVICES, Services

routes = web.RouteTableDef()


@routes.get("/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    services = request.app[SERVICES]
    client_id = request.query.get("clientId") or uuid.uuid4().hex
    socket = web.WebSocketResponse(heartbeat=30)
    await socket.prepare(request)
    connection = Connection(socket)
    services.hub.add(client_id, connection)
    writer = asyncio.create_task(connection.write_until_closed())
    remaining = services.queue.count("pending") + services.queue.count("running")
    connection.outbox.put_nowait(status_message(remaining, sid=client_id))
    services.hub.tell_running_node(client_id, connection)
    try:
        first = True
        async for item in socket:
            if first and item.type == web.WSMsgType.TEXT:
                _answer_feature_flags(item.data, connection, services)
            first = False
    finally:
        services.hub.remove(client_id, connection)
        with contextlib.suppress(asyncio.QueueFull):
            connection.outbox.put_nowait(None)
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(writer, 5)
    return socket


def server_features(services: Services) -> dict[str, Any]:
    """What ComfyUI's server announces. We send previews in the plain frame (event 1),
    not the one with metadata (event 4), so we do not claim `supports_preview_metadata`."""
    return {
        "supports_preview_metadata": False,
        "max_upload_size": services.config.max_upload_bytes,
    }


def _answer_feature_flags(text: str, connection: Connection, services: Services) -> None:
    try:
        sent = json.loads(text)
    except ValueError:
        return
    # ComfyUI keeps the client's flags to choose its preview frame; we have one kind of
    # frame, so only the answer matters.
    if isinstance(sent, dict) and sent.get("type") == "feature_flags":
        reply = {"type": "feature_flags", "data": server_features(services)}
        with contextlib.suppress(asyncio.QueueFull):
            connection.outbox.put_nowait(reply)
