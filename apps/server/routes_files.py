"""Files in and out: /view serves outputs, inputs and temp files; /upload/image and
/upload/mask write into them. Every name is confined to its folder (no `..`, no absolute
paths, no symlinks leading out, no odd characters) and uploads must decode as images."""

from __future__ import annotations

import io
import mimetypes
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from PIL import Image, UnidentifiedImageError

from apps.server.http import fail, ok
from apps.server.limits import off_loop
from apps.server.state import SERVICES
from apps.server.view_images import CHANNELS, Encoded, channel_only, preview_request, previewed
from engine.jsontext import JSONRefused, parse_json
from engine.model_paths import KINDS, ModelPaths, kind_named, safetensors_metadata
from engine.paths import NAME_MAX_BYTES, UnsafePath, folder_of, safe_join, split_annotation
from engine.settings import Settings

routes = web.RouteTableDef()
FOLDER_TYPES = ("output", "input", "temp")
# ComfyUI's list: served as downloads, so a page written into a folder never runs as ours.
_DOWNLOAD_ONLY = {
    "text/html",
    "text/html-sandboxed",
    "application/xhtml+xml",
    "text/javascript",
    "text/css",
}
_PLAIN_NAME = re.compile(r"^[^\x00-\x1f<>:\"|?*\\]+$")  # no control or shell-hostile characters


def folder(settings: Settings, kind: str) -> Path:
    if kind not in FOLDER_TYPES:
        fail(400, f"type must be one of {', '.join(FOLDER_TYPES)}, not {kind!r}")
    return folder_of(settings, kind)


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
    """A file of the output, input or temp folder. The filename may carry ComfyUI's
    annotation (`x.png [temp]`), which picks the folder over `type`."""
    settings = request.app[SERVICES].settings
    query = request.query
    filename, annotated = split_annotation(query.get("filename", ""))
    kind = annotated or query.get("type", "output")
    path = confined(folder(settings, kind), query.get("subfolder", ""), filename)
    if not path.is_file():
        fail(404, f"no file {filename!r} in {kind}")
    channel = query.get("channel", "rgba")
    if channel not in CHANNELS:
        fail(400, f"channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    disposition = {"Content-Disposition": _disposition(path.name)}
    if "preview" in query or channel != "rgba":
        # The channel as given: for a preview's format, an explicit rgba asks for alpha.
        encoded = await off_loop(_transformed, path, query.get("preview"), query.get("channel", ""))
        return web.Response(
            body=encoded.body, content_type=encoded.content_type, headers=disposition
        )
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if content_type in _DOWNLOAD_ONLY:
        content_type = "application/octet-stream"  # a page in output/ must not run as ours
    headers = {"Cache-Control": "no-cache", "Content-Type": content_type, **disposition}
    return web.FileResponse(path, headers=headers)


def _transformed(path: Path, preview: str | None, channel: str) -> Encoded:
    try:
        if preview is not None:
            image_format, quality = preview_request(preview, channel)
            return previewed(path.read_bytes(), image_format, quality, channel)
        return channel_only(path.read_bytes(), channel)
    except ValueError as exc:  # NotAnImage, or a quality past 100
        fail(400, f"{path.name}: {exc}")


def _disposition(name: str) -> str:
    """The file's name for a browser saving it (RFC 6266; UTF-8 names in the * form)."""
    if name.isascii():
        return f'filename="{name}"'
    return f"filename*=UTF-8''{quote(name)}"


@routes.get("/view_metadata/{folder}")
async def view_metadata(request: web.Request) -> web.Response:
    """The `__metadata__` of a .safetensors model file, as ComfyUI's route: the folder is a
    model kind (ComfyUI's names), the filename one the model listing shows."""
    settings = request.app[SERVICES].settings
    folder_name = request.match_info["folder"]
    filename = request.query.get("filename", "")
    kind = kind_named(folder_name)
    if kind is None:
        fail(404, f"no model folder {folder_name!r}; there are {', '.join(KINDS)}")
    if not filename.endswith(".safetensors"):
        fail(404, f"filename must name a .safetensors file, not {filename!r}")
    paths = ModelPaths.from_settings(settings)
    try:
        path = await off_loop(paths.resolve, kind, filename)
    except (UnsafePath, FileNotFoundError):
        fail(404, f"no {kind} model named {filename!r}")
    metadata = await off_loop(safetensors_metadata, path)
    if metadata is None:
        fail(404, f"{filename!r} carries no metadata")
    return ok(metadata)


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
    filename, annotated = split_annotation(ref.get("filename", ""))  # `x.png [output]`, too
    root = folder(settings, annotated or ref.get("type", "input"))
    original_path = confined(root, ref.get("subfolder", ""), filename)
    if not original_path.is_file():
        fail(404, f"original_ref: no file {filename!r}")
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
    """Write an upload, as ComfyUI does: under its own name with `overwrite`; else under
    the first of name, name (1), name (2), ... that is free or already holds these very
    bytes (then nothing is written and that name is answered: re-uploading the same picture
    does not pile up copies)."""
    settings = request.app[SERVICES].settings
    kind = str(form.get("type", "input"))
    subfolder = str(form.get("subfolder", ""))
    path = confined(folder(settings, kind), subfolder, name)
    if str(form.get("overwrite", "")).lower() not in ("true", "1"):
        path = _name_for(path, data)
        if _holds(path, data):
            return {"name": path.name, "subfolder": subfolder, "type": kind}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
        fail(409, f"cannot store {name!r} in {subfolder or kind!r}: {exc.strerror}")
    return {"name": path.name, "subfolder": subfolder, "type": kind}


def _holds(path: Path, data: bytes) -> bool:
    """Whether `path` is a plain file (never a link) with exactly `data` in it."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _name_for(path: Path, data: bytes) -> Path:
    """name.png, or name (1).png, name (2).png, ... as ComfyUI names a clash: the first that
    is free or holds `data` already (the stem shortened when the number would make the
    name too long for the file system)."""
    number = 0
    candidate = path
    while candidate.exists() or candidate.is_symlink():
        if _holds(candidate, data):
            return candidate
        number += 1
        ending = f" ({number}){path.suffix}"
        if len(os.fsencode(ending)) > NAME_MAX_BYTES:
            fail(409, f"{path.name!r} exists, and its extension leaves no room to number it")
        stem = path.stem
        while stem and len(os.fsencode(stem + ending)) > NAME_MAX_BYTES:
            stem = stem[:-1]
        candidate = path.with_name(stem + ending)
    return candidate
