"""The open WebSockets, by client id. Messages may be published from any thread (the worker
runs jobs off the event loop); each socket has its own outgoing queue and writer task, so
messages keep their order and one slow client holds up no one else."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any

from aiohttp import web

from engine.jsontext import dump_json

log = logging.getLogger(__name__)
OUTBOX_LIMIT = 1000  # messages waiting for one slow client before it is dropped


class Connection:
    def __init__(self, socket: web.WebSocketResponse) -> None:
        self.socket = socket
        self.outbox: asyncio.Queue[dict[str, Any] | bytes | None] = asyncio.Queue(OUTBOX_LIMIT)

    async def write_until_closed(self) -> None:
        while (item := await self.outbox.get()) is not None:
            try:
                if isinstance(item, bytes):
                    await self.socket.send_bytes(item)
                else:
                    await self.socket.send_str(dump_json(item))
            except (ConnectionError, RuntimeError):
                return


class Hub:
    def __init__(self) -> None:
        self._clients: dict[str, set[Connection]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: set[asyncio.Task[bool]] = set()  # keeps the close tasks alive
        # The node running now for each client with a job under way (ComfyUI's last_node_id):
        # a client that connects after queueing is told it, as ComfyUI tells it.
        self._executing: dict[str, dict[str, Any]] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def add(self, client_id: str, connection: Connection) -> None:
        self._clients[client_id].add(connection)

    def remove(self, client_id: str, connection: Connection) -> None:
        self._clients[client_id].discard(connection)
        if not self._clients[client_id]:
            del self._clients[client_id]

    def publish(self, item: dict[str, Any] | bytes, client_id: str | None = None) -> None:
        """Send to one client's sockets, or to every socket when `client_id` is None.
        Safe from any thread; a no-op before the server runs."""
        if self._loop is None or self._loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self._loop.call_soon_threadsafe(self._deliver, item, client_id)

    async def close_all(self) -> None:
        """On shutdown: close every socket, so the server need not wait for clients."""
        for connection in [c for group in self._clients.values() for c in group]:
            await connection.socket.close(code=1001, message=b"server shutting down")

    def tell_running_node(self, client_id: str, connection: Connection) -> None:
        """On (re)connect: the `executing` message of the client's running node, if any."""
        if client_id in self._executing:
            self._offer(connection, self._executing[client_id])

    def _deliver(self, item: dict[str, Any] | bytes, client_id: str | None) -> None:
        if client_id is not None and isinstance(item, dict) and item.get("type") == "executing":
            if item["data"].get("node") is None:
                self._executing.pop(client_id, None)
            else:
                self._executing[client_id] = item
        if client_id is None:
            targets = [c for group in self._clients.values() for c in group]
        else:
            targets = list(self._clients.get(client_id, ()))
        for connection in targets:
            self._offer(connection, item)

    def _offer(self, connection: Connection, item: dict[str, Any] | bytes | None) -> None:
        try:
            connection.outbox.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("a WebSocket client is not reading; closing it")
            task = asyncio.ensure_future(connection.socket.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
