"""What ComfyUI's frontend asks of a server besides jobs and files: its web extensions,
translations, server features and custom-node templates (server.py and
app/custom_node_manager.py in ComfyUI), and, with `--frontend comfyui`, the frontend's
own files at / (`mount`).

Access token: the frontend cannot send one (it has no setting for it), so when the server
has a token, opening the page with `?token=TOKEN` (checked by `security.guard` first) sets
it as a cookie the browser then sends with every request and the WebSocket: HttpOnly (page
scripts cannot read it) and SameSite=Strict (no other site's page can make the browser
send it). The guard accepts that cookie like the header."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from apps.server.comfy_frontend import workflow_templates_dir
from apps.server.http import fail, ok
from apps.server.security import TOKEN_COOKIE
from apps.server.state import SERVICES
from engine.model_paths import KINDS, ModelPaths

routes = web.RouteTableDef()


@routes.get("/extensions")
async def extensions(request: web.Request) -> web.Response:
    # ComfyUI lists custom nodes' web scripts; our packs declare no browser code.
    return ok([])


@routes.get("/i18n")
async def translations(request: web.Request) -> web.Response:
    return ok({})  # custom nodes' locales; ours have none


@routes.get("/features")
async def features(request: web.Request) -> web.Response:
    config = request.app[SERVICES].config
    # Our preview frames are ComfyUI's plain ones (type 1), without the metadata variant.
    return ok({"supports_preview_metadata": False, "max_upload_size": config.max_upload_bytes})


@routes.get("/workflow_templates")
async def custom_node_templates(request: web.Request) -> web.Response:
    return ok({})  # custom-node pack name -> its example workflows; none are served


@routes.get("/experiment/models")
async def model_folders(request: web.Request) -> web.Response:
    """The model kinds with the folders searched for each (its model library sidebar)."""
    paths = ModelPaths.from_settings(request.app[SERVICES].settings)
    return ok([{"name": kind, "folders": [str(f) for f in paths.folders(kind)]} for kind in KINDS])


@routes.get("/experiment/models/{folder}")
async def model_files(request: web.Request) -> web.Response:
    """Each model file of a kind with the index of the folder it was found in."""
    kind = request.match_info["folder"]
    if kind not in KINDS:
        fail(404, f"no model folder {kind!r}; there are {', '.join(KINDS)}")
    paths = ModelPaths.from_settings(request.app[SERVICES].settings)
    folders = paths.folders(kind)
    files = []
    for name in paths.list(kind):
        found = [i for i, folder in enumerate(folders) if (folder / name).is_file()]
        files.append({"name": name, "pathIndex": found[0] if found else 0})
    return ok(files)


def mount(app: web.Application, static_dir: Path) -> None:
    """Serve ComfyUI's frontend from `static_dir` at /, and ComfyUI's workflow templates
    at /templates when installed. Call after every other route: the static route at /
    answers whatever path nothing else took."""
    app.router.add_get("/", _index)
    templates = workflow_templates_dir()
    if templates is not None:
        app.router.add_static("/templates", templates)
    app.router.add_static("/", static_dir)
    app[FRONTEND_DIR] = static_dir


FRONTEND_DIR = web.AppKey("comfyui_frontend_dir", Path)


async def _index(request: web.Request) -> web.StreamResponse:
    response = web.FileResponse(
        request.app[FRONTEND_DIR] / "index.html", headers={"Cache-Control": "no-cache"}
    )
    token = request.app[SERVICES].config.token
    if token is not None:  # the guard let this request in, so it carried the token
        response.set_cookie(
            TOKEN_COOKIE, token, httponly=True, samesite="Strict", path="/",
            secure=request.secure,
        )  # fmt: skip
    return response
