"""ComfyUI's per-user routes, single-user mode (app/user_manager.py, app/app_settings.py in
ComfyUI): /users, /settings[/{id}], /userdata (list, read, write, delete, move) and
/v2/userdata. What ComfyUI's frontend keeps on the server lives here: its settings
(`comfy.settings.json`) and saved workflows (`workflows/NAME.json`).

The files live in `user/default/` (ComfyUI's layout: a ComfyUI user can copy their
`user/default/` over), never in `user/` itself, which holds the queue and the access
token. Every name goes through `safe_join`, so no request reaches outside that folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from apps.server.http import fail, ok, read_json
from apps.server.state import SERVICES
from engine.jsontext import JSONRefused, dump_json, parse_json
from engine.paths import UnsafePath, safe_join

routes = web.RouteTableDef()
USER = "default"  # ComfyUI's one user when it runs without --multi-user
SETTINGS_FILE = "comfy.settings.json"


def user_root(request: web.Request) -> Path:
    return request.app[SERVICES].settings.user_dir / USER


@routes.get("/users")
async def users(request: web.Request) -> web.Response:
    # "migrated": the frontend moves settings from browser storage only when False.
    return ok({"storage": "server", "migrated": user_root(request).is_dir()})


@routes.post("/users")
async def add_user(request: web.Request) -> web.Response:
    fail(400, "this server has a single user; there are no user profiles to add")


@routes.get("/settings")
async def all_settings(request: web.Request) -> web.Response:
    return ok(_read_settings(request))


@routes.get("/settings/{id}")
async def one_setting(request: web.Request) -> web.Response:
    return ok(_read_settings(request).get(request.match_info["id"]))


@routes.post("/settings")
async def change_settings(request: web.Request) -> web.Response:
    changes = await read_json(request)
    if not isinstance(changes, dict):
        fail(400, f"settings must be a JSON object of id: value, not {type(changes).__name__}")
    _write_settings(request, {**_read_settings(request), **changes})
    return ok(None)


@routes.post("/settings/{id}")
async def change_setting(request: web.Request) -> web.Response:
    value = await read_json(request)
    _write_settings(request, {**_read_settings(request), request.match_info["id"]: value})
    return ok(None)


def _read_settings(request: web.Request) -> dict[str, Any]:
    """The stored settings; {} when there are none yet or the file is not a JSON object
    (as ComfyUI: a damaged file must not keep the frontend from starting)."""
    path = user_root(request) / SETTINGS_FILE
    try:
        stored = parse_json(path.read_bytes())
    except (OSError, JSONRefused):
        return {}
    return stored if isinstance(stored, dict) else {}


def _write_settings(request: web.Request, settings: dict[str, Any]) -> None:
    root = user_root(request)
    root.mkdir(parents=True, exist_ok=True)
    temporary = root / f".{SETTINGS_FILE}.tmp"
    temporary.write_text(dump_json(settings, indent=4), encoding="utf-8")
    os.replace(temporary, root / SETTINGS_FILE)  # never a half-written settings file


def user_file(request: web.Request, param: str = "file") -> Path:
    """The path named by the route's `param` inside the user's folder, or a 400 saying why
    not. The frontend sends `workflows%2Fa.json` (one path segment), decoded here."""
    name = request.match_info[param]
    if "%" in name:
        name = unquote(name)
    try:
        return safe_join(user_root(request), name)
    except UnsafePath as exc:
        fail(400, f"userdata {param}: {exc}")


def _query_flag(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    return default if value is None else value.lower() == "true"


def file_info(path: Path, root: Path) -> dict[str, Any]:
    stat = path.stat()
    return {
        "path": path.relative_to(root).as_posix(),
        "size": stat.st_size,
        "modified": stat.st_mtime,
        "created": stat.st_ctime,
    }


def _inside_files(folder: Path, root: Path, recurse: bool) -> list[Path]:
    """The files under `folder` whose real path stays inside `root` (a symlink leading
    out is left out, not followed)."""
    found = folder.rglob("*") if recurse else folder.glob("*")
    inside: list[Path] = []
    for path in found:
        try:
            real = safe_join(root, path.relative_to(root).as_posix())
        except UnsafePath:
            continue
        if real.is_file():
            inside.append(path)
    return sorted(inside)


@routes.get("/userdata")
async def list_user_files(request: web.Request) -> web.Response:
    wanted = request.query.get("dir", "")
    if not wanted:
        fail(400, "userdata: the query parameter dir (a folder, e.g. workflows) is required")
    root = user_root(request)
    try:
        folder = safe_join(root, unquote(wanted).rstrip("/"))  # the frontend asks "subgraphs/"
    except UnsafePath as exc:
        fail(400, f"userdata dir: {exc}")
    if not folder.is_dir():
        fail(404, f"userdata: there is no folder {wanted!r}")
    files = _inside_files(folder, root, _query_flag(request, "recurse"))
    if _query_flag(request, "full_info"):
        return ok([file_info(path, folder) for path in files])
    names = [path.relative_to(folder).as_posix() for path in files]
    if _query_flag(request, "split"):
        return ok([[name, *name.split("/")] for name in names])
    return ok(names)


@routes.get("/v2/userdata")
async def list_user_folder(request: web.Request) -> web.Response:
    root = user_root(request)
    wanted = unquote(request.query.get("path", ""))
    try:
        folder = safe_join(root, wanted) if wanted else root
    except UnsafePath as exc:
        fail(400, f"userdata path: {exc}")
    if not folder.exists():
        if folder == root:
            return ok([])
        fail(404, f"userdata: there is no folder {wanted!r}")
    if not folder.is_dir():
        fail(400, f"userdata: {wanted!r} is a file, not a folder")
    entries: list[dict[str, Any]] = []
    for path in _inside_entries(folder, root):
        entry: dict[str, Any] = {"name": path.name, "path": path.relative_to(root).as_posix()}
        if path.is_dir():
            entries.append({**entry, "type": "directory"})
        else:
            stat = path.stat()
            entries.append({**entry, "type": "file", "size": stat.st_size,
                            "modified": stat.st_mtime})  # fmt: skip
    entries.sort(key=lambda e: (e["type"] != "directory", e["name"].lower()))
    return ok(entries)


def _inside_entries(folder: Path, root: Path) -> list[Path]:
    entries: list[Path] = []
    for path in folder.rglob("*"):
        try:
            safe_join(root, path.relative_to(root).as_posix())
        except UnsafePath:
            continue
        entries.append(path)
    return entries


@routes.get("/userdata/{file}")
async def read_user_file(request: web.Request) -> web.StreamResponse:
    path = user_file(request)
    if not path.is_file():
        fail(404, f"userdata: there is no file {request.match_info['file']!r}")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


@routes.post("/userdata/{file}")
async def write_user_file(request: web.Request) -> web.Response:
    path = user_file(request)
    if not _query_flag(request, "overwrite", default=True) and path.exists():
        fail(409, f"userdata: {request.match_info['file']!r} exists (overwrite=false)")
    body = await request.read()  # bounded by the server's upload limit (--max-upload-mb)
    _store(path, body)
    return _written(request, path)


def _store(path: Path, body: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_bytes(body)
        os.replace(temporary, path)
    except OSError as exc:
        fail(409, f"userdata: cannot write {path.name!r}: {exc.strerror or exc}")


def _written(request: web.Request, path: Path) -> web.Response:
    root = user_root(request)
    if _query_flag(request, "full_info"):
        return ok(file_info(path, root))
    return ok(path.relative_to(root).as_posix())


@routes.delete("/userdata/{file}")
async def delete_user_file(request: web.Request) -> web.Response:
    path = user_file(request)
    if not path.is_file():
        fail(404, f"userdata: there is no file {request.match_info['file']!r}")
    path.unlink()
    return web.Response(status=204)


@routes.post("/userdata/{file}/move/{dest}")
async def move_user_file(request: web.Request) -> web.Response:
    source, target = user_file(request), user_file(request, "dest")
    if not source.is_file():
        fail(404, f"userdata: there is no file {request.match_info['file']!r}")
    if not _query_flag(request, "overwrite", default=True) and target.exists():
        fail(409, f"userdata: {request.match_info['dest']!r} exists (overwrite=false)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
    except OSError as exc:
        fail(409, f"userdata: cannot move to {request.match_info['dest']!r}: {exc}")
    return _written(request, target)
