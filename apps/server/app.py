"""The aiohttp application factory. One route table per concern; ComfyUI's routes are
mounted twice (at / and under /api/, as ComfyUI does); the worker thread starts and stops
with the application (`cleanup_ctx`)."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from apps.jobs.local import LocalRunner
from apps.jobs.queue import JobQueue
from apps.jobs.runner import JobRunner
from apps.server import (
    routes_comfy_frontend,
    routes_files,
    routes_info,
    routes_internal,
    routes_jobs,
    routes_userdata,
    routes_v1,
    routes_ws,
)
from apps.server.hub import Hub
from apps.server.security import guard
from apps.server.state import SERVICES, ServerConfig, Services
from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings

COMFY_TABLES = (
    routes_jobs.routes,
    routes_files.routes,
    routes_info.routes,
    routes_ws.routes,
    routes_userdata.routes,
    routes_comfy_frontend.routes,
)


def create_app(
    settings: Settings,
    config: ServerConfig,
    *,
    registry: Registry | None = None,
    executor: Executor | None = None,
) -> web.Application:
    registry = registry or Registry.discover(settings)
    executor = executor or Executor(registry, settings)
    queue = JobQueue(settings.user_dir / "queue.sqlite3", config.history_size)
    hub = Hub()
    runner: JobRunner
    if config.ray is not None:
        from apps.cluster.pool import RayPool  # imports Ray only when asked for

        runner = RayPool(queue, hub.publish, settings, config.ray, config.preview_method)
    else:
        runner = LocalRunner(queue, executor, hub.publish, config.preview_method)
    services = Services(settings, config, registry, queue, executor, runner, hub)
    app = web.Application(middlewares=[guard], client_max_size=config.max_upload_bytes)
    app[SERVICES] = services
    for table in COMFY_TABLES:
        app.router.add_routes(table)
        app.router.add_routes(_prefixed("/api", table))
    routes_internal.install(app)  # ComfyUI's /internal: its frontend's log panel, folders
    app.router.add_routes(routes_v1.routes)
    if config.comfyui_frontend_dir is not None:  # --frontend comfyui: theirs at /
        routes_comfy_frontend.mount(app, config.comfyui_frontend_dir)
    else:
        app.router.add_get("/", _index)
        if config.web_dir is not None and (config.web_dir / "assets").is_dir():
            app.router.add_static("/assets", config.web_dir / "assets")
    app.cleanup_ctx.append(_worker)
    app.on_shutdown.append(_close_sockets)
    return app


def _prefixed(prefix: str, table: web.RouteTableDef) -> list[web.RouteDef]:
    return [
        web.route(r.method, prefix + r.path, r.handler, **r.kwargs)
        for r in table
        if isinstance(r, web.RouteDef)
    ]


async def _worker(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    services.hub.bind(asyncio.get_running_loop())
    services.runner.start()
    yield
    await asyncio.get_running_loop().run_in_executor(None, services.runner.stop)
    services.queue.close()


async def _close_sockets(app: web.Application) -> None:
    await app[SERVICES].hub.close_all()


NOT_BUILT = """<!doctype html><title>diffgraph</title><body style="font-family:sans-serif">
<h1>diffgraph</h1><p>The server runs, but the graph editor is not built in <code>{}</code>.
Build it with <code>make setup</code> (it needs Node.js and npm), or use the API: the
ComfyUI routes at <code>/prompt</code>, ours under <code>/v1</code> (OpenAPI:
<a href="/v1/openapi.json">/v1/openapi.json</a>).</p></body>"""


async def _index(request: web.Request) -> web.StreamResponse:
    web_dir: Path | None = request.app[SERVICES].config.web_dir
    if web_dir is not None and (web_dir / "index.html").is_file():
        return web.FileResponse(web_dir / "index.html", headers={"Cache-Control": "no-cache"})
    text = NOT_BUILT.format(html.escape(str(web_dir)))
    return web.Response(status=503, text=text, content_type="text/html")
