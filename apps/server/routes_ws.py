"""The WebSocket: /ws?clientId=... receives ComfyUI's messages for the jobs that client
queued, and `status` broadcasts. The first message tells the client its session id."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from aiohttp import web

from apps.jobs.messages import status_message
from apps.server.hub import Connection
from apps.server.state import SERVICES

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
    try:
        async for _ in socket:  # clients only listen; what they send is ignored
            pass
    finally:
        services.hub.remove(client_id, connection)
        with contextlib.suppress(asyncio.QueueFull):
            connection.outbox.put_nowait(None)
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(writer, 5)
    return socket
