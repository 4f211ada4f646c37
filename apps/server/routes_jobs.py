"""ComfyUI's job routes: /prompt, /queue, /interrupt, /history, /free (same request and
response shapes, so existing clients work)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from apps.jobs.queue import FINISHED, Job, JobQueue, JobStatus
from apps.server.http import fail, ok, read_object
from apps.server.limits import off_loop, read_job_object
from apps.server.listings import HISTORY_MAX_PAGE, HISTORY_PAGE
from apps.server.state import SERVICES, Services
from apps.server.submit import Rejected, queue_workflow
from engine.jsontext import dump_json

routes = web.RouteTableDef()
MAX_QUERY_NUMBER = 2**31 - 1  # far past any history; SQLite's LIMIT overflows at 2**63


def queue_entry(job: Job) -> list[Any]:
    """ComfyUI's [number, prompt_id, prompt, extra_data, outputs_to_execute]."""
    prompt = job.prompt if job.prompt is not None else job.workflow
    return [job.number, job.id, prompt, job.extra_data, job.targets or []]


def history_entry(job: Job) -> dict[str, Any]:
    return {
        "prompt": queue_entry(job),
        "outputs": job.outputs,
        "status": {
            "status_str": "success" if job.status == "done" else "error",
            "completed": job.status == "done",
            "messages": job.messages,
        },
        "meta": {node: {"node_id": node, "display_node": node} for node in job.outputs},
        "diffgraph": {"status": job.status, "error": job.error, "cached": job.cached},
    }


@routes.get("/prompt")
async def queue_info(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    return ok({"exec_info": {"queue_remaining": _remaining(services)}})


@routes.post("/prompt")
async def post_prompt(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await read_job_object(request, services.config.max_job_bytes)
    extra = body.get("extra_data") or {}
    if not isinstance(extra, dict):
        fail(400, "'extra_data' must be an object")
    targets = body.get("partial_execution_targets")
    if targets is not None and not (
        isinstance(targets, list) and all(isinstance(t, str) for t in targets)
    ):
        fail(400, "'partial_execution_targets' must be a list of node ids")
    client_id = body.get("client_id")
    if client_id is not None and not isinstance(client_id, str):
        fail(400, f"'client_id' must be text, not {type(client_id).__name__}")
    front = body.get("front", False)
    if not isinstance(front, bool):  # "no" is truthy: only a real boolean says what is meant
        fail(400, f"'front' must be true or false, not {type(front).__name__}")
    prompt_id = _client_prompt_id(body.get("prompt_id"))
    if client_id is not None:  # ComfyUI keeps it there too: queue and history show it
        extra = {**extra, "client_id": client_id}
    try:
        job = await off_loop(
            queue_workflow,
            services,
            body.get("prompt"),
            client_id=client_id,
            extra_data=extra,
            targets=targets,
            front=front,
            job_id=prompt_id,
        )
    except Rejected as exc:
        return ok(exc.body, status=400)
    return ok({"prompt_id": job.id, "number": job.number, "node_errors": {}})


@routes.get("/queue")
async def get_queue(request: web.Request) -> web.Response:
    """Clients poll this while jobs run, so it is built from the stored JSON texts without
    decoding them, and kept until the queue changes (`listings`)."""
    queue = request.app[SERVICES].queue
    listings = request.app[SERVICES].listings
    body = await listings.body("queue", queue.revision, lambda: _queue_body(queue))
    return web.Response(text=body, content_type="application/json")


def _queue_body(queue: JobQueue) -> str:
    return (
        f'{{"queue_running": {_raw_list(queue, "running")}, '
        f'"queue_pending": {_raw_list(queue, "pending")}}}'
    )


def _raw_list(queue: JobQueue, status: JobStatus) -> str:
    """ComfyUI's entries (see `queue_entry`) as one JSON array, from stored JSON texts."""
    entries = [
        f"[{number}, {json.dumps(job_id)}, {prompt}, {extra}, {_or_empty(targets)}]"
        for number, job_id, prompt, extra, targets in queue.raw_entries(status)
    ]
    return f"[{', '.join(entries)}]"


@routes.post("/queue")
async def post_queue(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await read_object(request)
    if body.get("clear"):
        services.queue.clear(["pending"])
    if "delete" in body:
        services.queue.delete(_ids(body["delete"]), ["pending"])
    services.runner.announce()
    return ok({})


@routes.post("/interrupt")
async def interrupt(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    prompt_id = None
    if request.can_read_body:
        body = await read_object(request)
        prompt_id = body.get("prompt_id")
    services.runner.interrupt(str(prompt_id) if prompt_id is not None else None)
    return ok({})


@routes.get("/history")
async def get_history(request: web.Request) -> web.Response:
    """ComfyUI's history, a page at a time: the newest `max_items` (default and cap in
    `listings`), or `max_items` from the `offset`-th oldest on, as ComfyUI pages it."""
    queue, listings = request.app[SERVICES].queue, request.app[SERVICES].listings
    asked = _int_query(request, "max_items")
    limit = HISTORY_PAGE if asked is None else min(asked, HISTORY_MAX_PAGE)
    offset = _int_query(request, "offset")

    def build() -> str:
        entries = (_raw_history_entry(row) for row in queue.raw_history(limit, offset))
        return f"{{{', '.join(entries)}}}"

    body = await listings.body(("history", limit, offset), queue.history_revision, build)
    return web.Response(text=body, content_type="application/json")


_PROMPT_HERE = json.dumps(f"prompt-{uuid.uuid4().hex}")  # what no history entry contains


def _raw_history_entry(row: tuple[int, str, JobStatus, str, str, str, str | None]) -> str:
    """`"id": history_entry` with the stored prompt's JSON text spliced in, not decoded
    and encoded again (a 5,000-node prompt took tens of milliseconds each way)."""
    number, job_id, status, prompt, extra, targets, result = row
    outcome = json.loads(result) if result else {}
    job = Job(job_id, number, status, {}, outputs=outcome.get("outputs") or {})
    job.error, job.cached = outcome.get("error"), outcome.get("cached") or []
    job.messages = outcome.get("messages") or []
    entry = history_entry(job)
    entry["prompt"] = json.loads(_PROMPT_HERE)  # first key: the first occurrence below
    stored = f"[{number}, {json.dumps(job_id)}, {prompt}, {extra}, {_or_empty(targets)}]"
    return f"{json.dumps(job_id)}: {dump_json(entry).replace(_PROMPT_HERE, stored, 1)}"


@routes.get("/history/{prompt_id}")
async def get_history_item(request: web.Request) -> web.Response:
    job = request.app[SERVICES].queue.get(request.match_info["prompt_id"])
    if job is None or job.status not in FINISHED:
        return ok({})  # ComfyUI answers an unknown (or unfinished) id with {}
    return ok({job.id: history_entry(job)})


@routes.post("/history")
async def post_history(request: web.Request) -> web.Response:
    queue = request.app[SERVICES].queue
    body = await read_object(request)
    if body.get("clear"):
        queue.clear(FINISHED)
    if "delete" in body:
        queue.delete(_ids(body["delete"]), FINISHED)
    return ok({})


@routes.post("/free")
async def free(request: web.Request) -> web.Response:
    body = await read_object(request)
    request.app[SERVICES].runner.free(
        bool(body.get("unload_models")), bool(body.get("free_memory"))
    )
    return ok({})


MAX_PROMPT_ID = 200  # a UUID is 36; room for a client's own scheme, not for a payload


def _client_prompt_id(value: Any) -> str | None:
    """The client's own id for its job (clients wait for messages that carry it)."""
    if value is None:
        return None
    if not isinstance(value, str):
        fail(400, f"'prompt_id' must be text, not {type(value).__name__}")
    if not 0 < len(value) <= MAX_PROMPT_ID or not value.isprintable() or "/" in value:
        fail(400, f"'prompt_id' must be 1 to {MAX_PROMPT_ID} printable characters, no '/'")
    return value


def _or_empty(targets: str) -> str:
    return "[]" if targets == "null" else targets  # None: every output, listed as []


def _remaining(services: Services) -> int:
    return services.queue.count("pending") + services.queue.count("running")


def _ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fail(400, "'delete' must be a list of prompt ids")
    return list(value)


def _int_query(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        fail(400, f"query parameter {name!r} must be a whole number, not {raw!r}")
    if not 0 <= value <= MAX_QUERY_NUMBER:
        fail(400, f"query parameter {name!r} must be between 0 and {MAX_QUERY_NUMBER}")
    return value
