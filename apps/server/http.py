"""Small helpers every route table uses: JSON errors that say what is wrong (never a
traceback), reading a JSON body (through the one strict reader, `engine.jsontext`: no
NaN, no 5,000-digit numbers, no runaway nesting, UTF-8 only) and writing JSON answers
(never NaN, which browsers cannot parse)."""

from __future__ import annotations

from typing import Any, NoReturn

from aiohttp import web

from engine.jsontext import JSONRefused, dump_json, parse_json


def fail(status: int, message: str, **extra: Any) -> NoReturn:
    """Stop the handler with a JSON error body: {"error": message, ...extra}. (A 413 needs
    the sizes: see `limits.read_job_object`.)"""
    body = dump_json({"error": message, **extra})
    raise _ERRORS[status](text=body, content_type="application/json")


_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    405: web.HTTPMethodNotAllowed,
    409: web.HTTPConflict,
    415: web.HTTPUnsupportedMediaType,
}


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, or a 400 that says why it is not accepted."""
    return json_body(await request.read())


def json_body(data: bytes, expected: str = "JSON", refused: str = "the request body") -> Any:
    """`data` decoded as JSON, or a 400 naming what is wrong with it."""
    if not data.strip():
        fail(400, f"the request body is empty; {expected} was expected")
    try:
        return parse_json(data)
    except JSONRefused as exc:
        fail(400, f"{refused}: {exc}")


async def read_object(request: web.Request) -> dict[str, Any]:
    data = await read_json(request)
    if not isinstance(data, dict):
        fail(400, f"the request body must be a JSON object, not {type(data).__name__}")
    return data


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dump_json)
