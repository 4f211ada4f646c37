"""Safe defaults on every request: only the Host names the server is reached by (DNS
rebinding, see hosts.py), an access token when one is configured (always when the server
listens beyond loopback), and no cross-origin browser requests (CSRF) unless the origin was
allowed. Also the last line against tracebacks: an unexpected error becomes a
500 with a plain sentence, the details go to the log."""

from __future__ import annotations

import functools
import hmac
import json
import logging
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from apps.server.hosts import HostRule
from apps.server.state import SERVICES

log = logging.getLogger(__name__)
# Set by the ComfyUI frontend's page (routes_comfy_frontend), which cannot send a header.
TOKEN_COOKIE = "diffgraph_token"


def load_or_create_token(path: Path) -> str:
    """The token kept in `path`, made on first use (readable by the owner only)."""
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(0o600)
    return token


def _json(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, text=json.dumps({"error": message}), content_type="application/json"
    )


@functools.cache
def host_rule(listen: str, allowed: tuple[str, ...]) -> HostRule:
    return HostRule(listen, allowed)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    config = request.app[SERVICES].config
    if not host_rule(config.host, config.allow_hosts).accepts(request.host):
        return _json(
            403,
            f"this server does not answer to the host name {request.host!r} (a defence "
            "against DNS rebinding); start it with --allow-host NAME to allow it",
        )
    origin = request.headers.get("Origin")
    allowed_cors = origin is not None and origin in config.cors_origins
    if origin is not None and not allowed_cors and not _same_origin(origin, request.host):
        return _json(403, f"cross-origin request from {origin} refused")
    if request.method == "OPTIONS" and allowed_cors:
        response: web.StreamResponse = web.Response(status=204)
    else:
        if config.token is not None and not _has_token(request, config.token):
            return _json(401, "an access token is required (Authorization: Bearer TOKEN)")
        response = await _handle(request, handler)
    if allowed_cors and origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS"
    return response


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return _json(exc.status, exc.text or exc.reason)
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return _json(500, "internal server error; the server log has the details")


def _same_origin(origin: str, host: str) -> bool:
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc.lower() == host.lower()


def _has_token(request: web.Request, token: str) -> bool:
    given = request.query.get("token", "") or request.cookies.get(TOKEN_COOKIE, "")
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":  # schemes are case-insensitive (RFC 7235)
        given = credentials.strip()
    return hmac.compare_digest(given.encode(), token.encode())
