"""`diffgraph serve`: run the application until Ctrl+C or SIGTERM, then stop cleanly
(the running job goes back to pending)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from dataclasses import replace

from aiohttp import web

from apps.cluster.config import ClusterUnreachable
from apps.jobs.queue import SERVER_STOPPED
from apps.server.app import create_app
from apps.server.security import load_or_create_token
from apps.server.state import SERVICES, ServerConfig
from engine.registry import Registry
from engine.settings import Settings


def serve(settings: Settings, config: ServerConfig, registry: Registry) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    if config.token is None and not config.loopback_only:
        token_file = settings.user_dir / "server_token"
        config = replace(config, token=load_or_create_token(token_file))
        print(
            f"listening beyond loopback: every request needs the access token\n"
            f"  {config.token}\n  (kept in {token_file}; send it as 'Authorization: Bearer "
            f"TOKEN' or ?token=TOKEN)",
            file=sys.stderr,
        )
    app = create_app(settings, config, registry=registry)
    crashed = app[SERVICES].queue.crashed
    if crashed:
        print(
            f"{len(crashed)} job(s) were running when the server last died; marked failed "
            f"({SERVER_STOPPED!r}). Queue one again: POST /v1/jobs/ID/requeue",
            file=sys.stderr,
        )
    try:
        asyncio.run(_serve(app, config))
    except ClusterUnreachable as exc:
        print(f"diffgraph: {exc}", file=sys.stderr)
        return 2
    return 0


async def _serve(app: web.Application, config: ServerConfig) -> None:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"diffgraph serving on http://{host}:{port}/", flush=True)
    if config.ray is None:  # on Ray the workers load models, and warm up themselves
        # Only now, so that readiness never waits on torch; the first load then does not.
        app[SERVICES].executor.warm_imports()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
