"""What one request may make the server do: a job's body is bounded (413 past
`ServerConfig.max_job_bytes`, checked before it is parsed), and work that grows with a
job or a listing (validating a large graph, building a large JSON body) runs on a thread,
so the event loop keeps answering everyone else meanwhile."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from aiohttp import web

from apps.server.http import read_object

T = TypeVar("T")
MIB = 1024**2


async def read_job_object(request: web.Request, limit: int) -> dict[str, Any]:
    """The JSON object of a job request (POST /prompt, /v1/jobs), or a 413 past `limit`
    bytes (`ServerConfig.max_job_bytes`)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        _too_large(declared, limit)
    size = len(await request.read())  # a body without a length is bounded by aiohttp
    if size > limit:
        _too_large(size, limit)
    return await read_object(request)


def _too_large(size: int, limit: int) -> NoReturn:
    message = (
        f"the request is {size / MIB:.1f} MiB; a job (its workflow with extra_data) may be "
        f"at most {limit / MIB:.0f} MiB"
    )
    raise web.HTTPRequestEntityTooLarge(  # it takes the sizes, which `fail` does not pass
        max_size=limit,
        actual_size=size,
        text=json.dumps({"error": message}),
        content_type="application/json",
    )


async def off_loop(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`work(*args, **kwargs)` on the loop's thread pool, awaited."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(work, *args, **kwargs))
