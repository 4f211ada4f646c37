"""Files in and out: /view serves outputs, inputs and temp files; /upload/image and
/upload/mask write into them. Every name is confined to its folder (no `..`, no absolute
paths, no symlinks leading out, no odd characters) and uploads must decode as images."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from PIL import Image, UnidentifiedImageError

from apps.server.http import fail, ok
from apps.server.state import SERVICES
from engine.jsontext import JSONRefused, parse_json
from engine.paths import NAME_MAX_BYTES, UnsafePath, safe_join
from engine.settings import Settings

routes = web.RouteTableDef()
FOLDER_TYPES = ("output", "input", "temp")
_PLAIN_NAME = re.compile(r"^[^\x00-\x1f<>:\"|?*\\]+$")  # no control or shell-hostile characters


def folder(settings: Settings, kind: str) -> Path:
    if kind not in FOLDER_TYPES:
        fail(400, f"type must be one of {', '.join(FOLDER_TYPES)}, not {kind!r}")
    return {"output": settings.output_dir, "input": settings.input_dir, "temp": settings.temp_dir}[
        kind
    ]


def confined(root: Path, subfolder: str, filename: str) -> Path:
    """root/subfolder/filename, or a 400 naming what is wrong with it."""
    for label, value in (("subfolder", subfolder), ("filename", filename)):
        if value and not _PLAIN_NAME.match(value):
            fail(400, f"{label} {value!r} contains characters that are not allowed")
    if not filename or "/" in filename:
        fail(400, f"filename {filename!r} must be a plain file name")
    try:
        return safe_join(root, f"{subfolder}/{filename}" if subfolder else filename)
    except UnsafePath as exc:
        fail(400, str(exc))


@routes.get("/view")
async def view(request: web.Request) -> web.StreamResponse:
    settings = request.app[SERVICES].settings
    query = request.query
    root = folder(settings, query.get("type", "output"))
    path = confined(root, query.get("subfolder", ""), query.get("filename", ""))
    if not path.is_file():
        fail(404, f"no file {query.get('filename')!r} in {query.get('type', 'output')}")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


@routes.post("/upload/image")
async def upload_image(request: web.Request) -> web.Response:
    form = await _form(request)
    image, name = _uploaded(form, "image")
    _decoded(image, "image")
    return ok(_store(request, form, name, image))


@routes.post("/upload/mask")
async def upload_mask(request: web.Request) -> web.Response:
    """The uploaded image's alpha becomes the alpha of an existing image (ComfyUI's mask
    editor): `original_ref` names that image as {filename, subfolder, type}."""
    form = await _form(request)
    data, name = _uploaded(form, "image")
    mask = _decoded(data, "image")
    ref = _original_ref(form.get("original_ref"))
    settings = request.app[SERVICES].settings
    root = folder(settings, ref.get("type", "input"))
    original_path = confined(root, ref.get("subfolder", ""), ref.get("filename", ""))
    if not original_path.is_file():
        fail(404, f"original_ref: no file {ref.get('filename')!r}")
    original = _decoded(original_path.read_bytes(), "original_ref").convert("RGBA")
    alpha = mask.convert("RGBA").getchannel("A").resize(original.size)
    original.putalpha(alpha)
    buffer = io.BytesIO()
    original.save(buffer, format="PNG")
    return ok(_store(request, form, name, buffer.getvalue()))


async def _form(request: web.Request) -> Any:
    try:
        return await request.post()
    except (ValueError, BadHttpMessage) as exc:  # no boundary, a NUL in a part's head, ...
        reason = exc.message if isinstance(exc, BadHttpMessage) else str(exc)
        fail(400, f"the request body is not a readable form: {reason}")


def _original_ref(raw: Any) -> dict[str, str]:
    """The mask editor's original image, {filename, subfolder, type}, all texts."""
    explained = "original_ref must be JSON naming the image: {filename, subfolder, type}"
    if not isinstance(raw, str):
        fail(400, explained)
    try:
        ref = parse_json(raw)
    except JSONRefused as exc:
        fail(400, f"{explained} ({exc})")
    if not isinstance(ref, dict) or not all(isinstance(v, str) for v in ref.values()):
        fail(400, explained)
    return ref


def _uploaded(form: Any, field: str) -> tuple[bytes, str]:
    item = form.get(field)
    if item is None or not hasattr(item, "file"):
        fail(400, f"the form has no file field {field!r}")
    return item.file.read(), str(item.filename or "")


def _decoded(data: bytes, field: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        fail(400, f"{field}: not an image we can read ({exc})")
    return image


def _store(request: web.Request, form: Any, name: str, data: bytes) -> dict[str, str]:
    settings = request.app[SERVICES].settings
    kind = str(form.get("type", "input"))
    subfolder = str(form.get("subfolder", ""))
    path = confined(folder(settings, kind), subfolder, name)
    if path.exists() and str(form.get("overwrite", "")).lower() not in ("true", "1"):
        path = _free_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
        fail(409, f"cannot store {name!r} in {subfolder or kind!r}: {exc.strerror}")
    return {"name": path.name, "subfolder": subfolder, "type": kind}


def _free_name(path: Path) -> Path:
    """name (1).png, name (2).png, ... as ComfyUI names a clash (the stem shortened when
    the number would make the name too long for the file system)."""
    number = 1
    while True:
        ending = f" ({number}){path.suffix}"
        if len(os.fsencode(ending)) > NAME_MAX_BYTES:
            fail(409, f"{path.name!r} exists, and its extension leaves no room to number it")
        stem = path.stem
        while stem and len(os.fsencode(stem + ending)) > NAME_MAX_BYTES:
            stem = stem[:-1]
        candidate = path.with_name(stem + ending)
        if not candidate.exists():
            return candidate
        number += 1
