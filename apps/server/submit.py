"""Turning a request into a queued job: read any workflow format we know, validate it
completely, and only then queue it. A bad graph is refused with every problem named by
node and input, in ComfyUI's `node_errors` shape."""

from __future__ import annotations

import json
from typing import Any

from apps.jobs.queue import DuplicateJob, Job
from apps.server.state import Services
from engine.admission import admit, node_count_problem
from engine.graph import WorkflowGraph
from engine.registry import Registry
from engine.validate import Problem, output_nodes, validate
from engine.workflow import DocumentError, Workflow
from formats.load import to_workflow


class Rejected(Exception):
    """The request cannot be queued: `body` is ComfyUI's answer (HTTP 400), `problems`
    ours, flat, each with code, message, node and input (the /v1 answer)."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["error"]["message"])
        self.body = body
        self.problems: list[dict[str, Any]] = body["problems"]


def read_workflow(data: Any, registry: Registry) -> Workflow:
    try:
        return to_workflow(data, registry)
    except DocumentError as exc:
        raise Rejected(_error("invalid_prompt", str(exc))) from None


def queue_workflow(
    services: Services,
    data: Any,
    *,
    client_id: str | None = None,
    extra_data: dict[str, Any] | None = None,
    targets: list[str] | None = None,
    front: bool = False,
    job_id: str | None = None,
) -> Job:
    """Validate `data` (our document, ComfyUI API or editor JSON), admit it (not too many
    nodes, within the memory budget: `engine.admission`) and queue it, under the client's
    `job_id` when given. It takes up to tens of milliseconds for a large graph, so the
    routes call it off the event loop."""
    if data is None:
        raise Rejected(_error("no_prompt", "no workflow given (the 'prompt' field is missing)"))
    too_many = node_count_problem(_declared_nodes(data), services.config.max_nodes)
    if too_many is not None:  # before reading a huge graph at all
        raise Rejected(_general(too_many))
    workflow = read_workflow(data, services.registry)
    check_workflow(services, workflow, targets)
    try:
        job = services.queue.add(
            json.loads(workflow.to_json(indent=None)),
            prompt=data,
            client_id=client_id,
            extra_data=extra_data,
            # ComfyUI lists the outputs a job runs (`outputs_to_execute`), all by default.
            targets=targets if targets is not None else output_nodes(workflow, services.registry),
            front=front,
            job_id=job_id,
        )
    except DuplicateJob:
        message = f"prompt_id {job_id!r} is taken: a job with this id exists already"
        raise Rejected(_error("duplicate_prompt_id", message)) from None
    services.runner.wake()
    return job


def check_workflow(services: Services, workflow: Workflow, targets: list[str] | None) -> None:
    """Refuse (Rejected) a workflow that is invalid here and now or cannot be admitted: the
    check every job passes before it takes a place in the queue, a re-queued one included
    (its models may be gone, or the server restarted with a smaller budget)."""
    problems = validate(workflow, services.registry, services.settings, targets)
    if not problems:
        problems = admit(
            workflow,
            services.registry,
            services.settings,
            services.budget,
            targets=targets,
            max_nodes=services.config.max_nodes,
        )
    if problems:
        raise Rejected(node_errors(workflow, services.registry, problems))


def _declared_nodes(data: Any) -> int:
    """How many nodes a workflow in any of our formats declares, before reading it."""
    if not isinstance(data, dict):
        return 0
    nodes = data.get("nodes")
    return len(nodes) if isinstance(nodes, dict | list) else len(data)  # API: a key a node


def _general(problem: Problem) -> dict[str, Any]:
    """The 400 body of a problem with the workflow as a whole."""
    body = _error(problem.code, problem.message)
    body["problems"] = [problem.to_dict()]
    return body


def node_errors(workflow: Workflow, registry: Registry, problems: list[Problem]) -> dict[str, Any]:
    """ComfyUI's 400 body: a summary `error` plus the problems of each node."""
    general = [p for p in problems if p.node is None or p.node not in workflow.nodes]
    per_node: dict[str, Any] = {}
    graph = WorkflowGraph(workflow)
    needs = {output: graph.needed([output]) for output in output_nodes(workflow, registry)}
    for problem in problems:
        if problem in general:
            continue
        node_id = str(problem.node)
        if node_id not in per_node:
            spec = registry.get(workflow.nodes[node_id].type)
            per_node[node_id] = {
                "errors": [],
                "dependent_outputs": [o for o, needed in needs.items() if node_id in needed],
                "class_type": (spec.comfy or spec.id) if spec else workflow.nodes[node_id].type,
            }
        per_node[node_id]["errors"].append(
            {
                "type": problem.code,
                "message": problem.message,
                "details": f"{problem.input}: {problem.message}" if problem.input else "",
                "extra_info": {"input_name": problem.input} if problem.input else {},
            }
        )
    if general:
        first = general[0]
        body = _error(first.code, "; ".join(p.message for p in general))
    else:
        body = _error("prompt_outputs_failed_validation", "Prompt outputs failed validation")
    body["node_errors"] = per_node
    body["problems"] = [p.to_dict() for p in problems]  # ours: flat, with node and input
    return body


def _error(kind: str, message: str) -> dict[str, Any]:
    return {
        "error": {"type": kind, "message": message, "details": "", "extra_info": {}},
        "node_errors": {},
        "problems": [{"code": kind, "message": message, "node": None, "input": None}],
    }
