"""Our typed API under /v1: node schemas, jobs with their status, workflow files.
Bodies are the pydantic models of `api_models`; /v1/openapi.json describes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from apps.jobs.queue import FINISHED, JobStatus
from apps.server.api_models import JobList, JobRequest, JobView, WorkflowEntry, WorkflowList
from apps.server.http import fail, json_body, ok, read_json
from apps.server.limits import off_loop, read_job_object
from apps.server.openapi import openapi_document
from apps.server.state import SERVICES, Services
from apps.server.submit import Rejected, check_workflow, queue_workflow, read_workflow
from engine.jsontext import JSONRefused, dump_json, parse_json
from engine.paths import UnsafePath, list_files, safe_join
from engine.workflow import DocumentError, parse_workflow
from formats.load import from_png_bytes, to_workflow

routes = web.RouteTableDef()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STATUSES: tuple[JobStatus, ...] = ("pending", "running", "done", "failed", "interrupted")
# GET /v1/jobs answers a page: a server keeps up to 10,000 finished jobs (--history-size),
# too many to encode on every poll.
JOBS_PAGE, JOBS_MAX_PAGE = 100, 1_000


def reply(model: BaseModel, status: int = 200) -> web.Response:
    return ok(model.model_dump(mode="json"), status=status)


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return ok(openapi_document())


@routes.get("/v1/nodes")
async def nodes(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    return ok({"nodes": services.registry.schema(services.settings)})


@routes.get("/v1/nodes/{type_id}")
async def one_node(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    spec = services.registry.get(request.match_info["type_id"])
    if spec is None:
        fail(404, f"no node type {request.match_info['type_id']!r}")
    return ok(spec.schema(services.settings))


@routes.get("/v1/workers")
async def workers(request: web.Request) -> web.Response:
    return ok({"workers": request.app[SERVICES].runner.workers()})


@routes.post("/v1/jobs")
async def submit(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        body = JobRequest.model_validate(
            await read_job_object(request, services.config.max_job_bytes)
        )
    except ValidationError as exc:
        fail(400, f"bad job request: {_first(exc)}")
    try:
        job = await off_loop(
            queue_workflow,
            services,
            body.workflow,
            client_id=body.client_id,
            targets=body.targets,
            front=body.front,
        )
    except Rejected as exc:
        return ok({"error": exc.body["error"]["message"], "problems": exc.problems}, 400)
    return reply(JobView.of(job), 201)


@routes.get("/v1/jobs")
async def jobs(request: web.Request) -> web.Response:
    """A page of jobs (`limit`, default and cap below; `offset`): the waiting and running
    ones in queue order, then the finished ones oldest first; `next_offset` continues."""
    raw = request.query.get("status", ",".join(STATUSES))
    wanted = [s for s in raw.split(",") if s]
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        fail(400, f"unknown status {unknown[0]!r}; one of {', '.join(STATUSES)}")
    limit = min(_count_query(request, "limit", JOBS_PAGE), JOBS_MAX_PAGE)
    offset = _count_query(request, "offset", 0)
    queue = request.app[SERVICES].queue

    def build() -> str:
        found = queue.page([s for s in STATUSES if s in wanted], limit + 1, offset)
        more = offset + limit if len(found) > limit else None
        page = JobList(jobs=[JobView.of(j) for j in found[:limit]], next_offset=more)
        return dump_json(page.model_dump(mode="json"))

    return web.Response(text=await off_loop(build), content_type="application/json")


def _count_query(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        fail(400, f"query parameter {name!r} must be a whole number of at least 0, not {raw!r}")
    return int(raw)


@routes.get("/v1/jobs/{job_id}")
async def job(request: web.Request) -> web.Response:
    found = request.app[SERVICES].queue.get(request.match_info["job_id"])
    if found is None:
        fail(404, f"no job {request.match_info['job_id']!r}")
    return reply(JobView.of(found))


@routes.delete("/v1/jobs/{job_id}")
async def delete_job(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    found = services.queue.get(request.match_info["job_id"])
    if found is None:
        fail(404, f"no job {request.match_info['job_id']!r}")
    if found.status == "running":
        services.runner.interrupt(found.id)
    else:
        services.queue.delete([found.id], [found.status])
        services.runner.announce()
    return reply(JobView.of(found))


@routes.post("/v1/jobs/{job_id}/requeue")
async def requeue(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    job_id = request.match_info["job_id"]
    found = services.queue.get(job_id)
    if found is None:
        fail(404, f"no job {job_id!r}")
    if found.status in FINISHED:
        try:
            workflow = parse_workflow(found.workflow)
            await off_loop(check_workflow, services, workflow, found.targets)
        except Rejected as exc:
            return ok({"error": exc.body["error"]["message"], "problems": exc.problems}, 400)
    new = services.queue.requeue(job_id)
    if new is None:
        fail(409, f"job {job_id!r} is {found.status}; only finished jobs can be re-queued")
    services.runner.wake()
    return reply(JobView.of(new), 201)


@routes.get("/v1/workflows")
async def workflows(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    entries = [
        WorkflowEntry(name=n, source="project", default=n == services.config.default_workflow)
        for n in _names(_project_dir(services))
    ]
    entries += [WorkflowEntry(name=n, source="user") for n in _names(services.user_workflows)]
    return reply(WorkflowList(workflows=entries))


@routes.get("/v1/workflows/{source}/{name}")
async def read_workflow_file(request: web.Request) -> web.Response:
    path = _workflow_path(request, must_exist=True)
    try:
        return ok(parse_json(path.read_bytes()))
    except JSONRefused as exc:
        fail(400, f"{path.name}: {exc}")


@routes.post("/v1/workflows/import")
async def import_workflow(request: web.Request) -> web.Response:
    """Whatever a user has, as our document: our JSON, ComfyUI's API or editor JSON (body
    JSON), or a PNG that carries a workflow (body: the PNG's bytes)."""
    services = request.app[SERVICES]
    data = await request.read()
    try:
        if data.startswith(PNG_SIGNATURE):
            # Off the loop: an A1111 PNG's model may be looked up by hashing files.
            document = await off_loop(
                from_png_bytes, data, services.registry, "the dropped PNG", services.settings
            )
        else:
            decoded = json_body(data, "a workflow (JSON or PNG)", "neither a PNG nor JSON")
            document = to_workflow(decoded, services.registry)
    except DocumentError as exc:
        fail(400, str(exc))
    return ok(document.model_dump(mode="json", exclude_none=True))


@routes.put("/v1/workflows/user/{name}")
async def save_workflow(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await read_json(request)
    try:
        document = read_workflow(data, services.registry)
    except Rejected as exc:
        fail(400, exc.body["error"]["message"])
    path = _workflow_path(request, must_exist=False)
    if path.is_dir():
        fail(409, f"user workflow {path.name!r} is a folder; it cannot be replaced")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document.to_json() + "\n", encoding="utf-8")
    return reply(WorkflowEntry(name=path.name, source="user"))


@routes.delete("/v1/workflows/user/{name}")
async def delete_workflow(request: web.Request) -> web.Response:
    path = _workflow_path(request, must_exist=True)
    path.unlink()
    return reply(WorkflowEntry(name=path.name, source="user"))


def _project_dir(services: Services) -> Path | None:
    return services.config.workflows_dir


def _names(folder: Path | None) -> list[str]:
    return [] if folder is None else [n for n in list_files(folder, (".json",)) if "/" not in n]


def _workflow_path(request: web.Request, must_exist: bool) -> Path:
    services = request.app[SERVICES]
    source = request.match_info.get("source", "user")
    name = request.match_info["name"]
    folders: dict[str, Any] = {"project": _project_dir(services), "user": services.user_workflows}
    if source not in folders or folders[source] is None:
        fail(404, f"no workflow folder {source!r}; there are project and user")
    if not name.endswith(".json") or "/" in name or "\\" in name:
        fail(400, f"workflow name {name!r} must be a plain file name ending in .json")
    try:
        path = safe_join(folders[source], name)
    except UnsafePath as exc:
        fail(400, str(exc))
    if must_exist and not path.is_file():
        fail(404, f"no {source} workflow {name!r}")
    return path


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "(body)"
    return f"{where}: {error['msg']}"
