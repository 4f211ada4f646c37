"""The OpenAPI 3.1 document of the typed API, generated from the pydantic models and the
endpoint table below (the one list of what /v1 offers)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from apps.server import api_models as m
from engine.workflow import Workflow

# (method, path, summary, request body model, {status: response model or None})
Endpoint = tuple[str, str, str, type[BaseModel] | None, dict[int, type[BaseModel] | None]]
ENDPOINTS: list[Endpoint] = [
    ("get", "/v1/nodes", "Every node type's schema", None, {200: m.NodeSchemas}),
    ("get", "/v1/nodes/{type_id}", "One node type's schema", None, {200: None, 404: m.ErrorBody}),
    ("post", "/v1/jobs", "Validate and queue a workflow", m.JobRequest,
     {201: m.JobView, 400: m.ErrorBody}),
    ("get", "/v1/jobs", "Jobs, ?status=pending,running,...&limit=N&offset=M (a page)", None,
     {200: m.JobList}),
    ("get", "/v1/jobs/{job_id}", "One job", None, {200: m.JobView, 404: m.ErrorBody}),
    ("delete", "/v1/jobs/{job_id}",
     "Cancel a pending job, interrupt a running one, or delete a finished one", None,
     {200: m.JobView, 404: m.ErrorBody}),
    ("post", "/v1/jobs/{job_id}/requeue", "Queue a finished job again, as a new job", None,
     {201: m.JobView, 404: m.ErrorBody, 409: m.ErrorBody}),
    ("get", "/v1/workers", "The workers running jobs: the local one, or the Ray pool's actors"
     " (state, device, resident models, model-store events)", None, {200: m.WorkerList}),
    ("get", "/v1/workflows", "Workflow files: the project's examples and the user's", None,
     {200: m.WorkflowList}),
    ("get", "/v1/workflows/{source}/{name}", "One workflow file", None,
     {200: None, 404: m.ErrorBody}),
    ("put", "/v1/workflows/user/{name}", "Save a workflow in the user folder", None,
     {200: m.WorkflowEntry, 400: m.ErrorBody}),
    ("delete", "/v1/workflows/user/{name}", "Delete a user workflow", None,
     {200: m.WorkflowEntry, 404: m.ErrorBody}),
    ("post", "/v1/workflows/import",
     "Any workflow as our document: body our JSON, ComfyUI API or editor JSON, or a PNG"
     " carrying one", None, {200: Workflow, 400: m.ErrorBody}),
]  # fmt: skip


def openapi_document() -> dict[str, Any]:
    models = {
        model
        for *_, body, responses in ENDPOINTS
        for model in [body, *responses.values()]
        if model is not None
    }
    _, schemas = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda x: x.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, Any] = {}
    for method, path, summary, body, responses in ENDPOINTS:
        operation: dict[str, Any] = {"summary": summary, "responses": {}}
        params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
        if params:
            operation["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        if body is not None:
            operation["requestBody"] = {"required": True, "content": _json(body)}
        for status, model in responses.items():
            answer: dict[str, Any] = {"description": "OK" if status < 300 else "Error"}
            answer["content"] = _json(model) if model else {"application/json": {}}
            operation["responses"][str(status)] = answer
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "diffgraph", "version": "0.1.0"},
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {})},
    }


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
