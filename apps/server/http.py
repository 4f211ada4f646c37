"""Small helpers every route table uses: JSON errors that say what is wrong (never a
traceback), reading a JSON body, and the state stored on the application."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from aiohttp import web


def fail(status: int, message: str, **extra: Any) -> NoReturn:
    """Stop the handler with a JSON error body: {"error": message, ...extra}."""
    body = json.dumps({"error": message, **extra})
    raise _ERRORS[status](text=body, content_type="application/json")


_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    405: web.HTTPMethodNotAllowed,
    409: web.HTTPConflict,
    413: web.HTTPRequestEntityTooLarge,
    415: web.HTTPUnsupportedMediaType,
}


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, or a 400 that says why it is not JSON."""
    text = await request.text()
    if not text.strip():
        fail(400, "the request body is empty; JSON was expected")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(400, f"the request body is not valid JSON: {exc}")


async def read_object(request: web.Request) -> dict[str, Any]:
    data = await read_json(request)
    if not isinstance(data, dict):
        fail(400, f"the request body must be a JSON object, not {type(data).__name__}")
    return data


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)
