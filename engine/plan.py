"""Planning a run: which nodes are needed, in what order, under which cache keys, and
which of them must actually execute because the cache does not hold their result."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from engine.cache import CacheEntry, OutputCache, cache_key
from engine.graph import WorkflowGraph
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import Link, Workflow


class FingerprintError(Exception):
    """A node's fingerprint hook failed (e.g. its file vanished)."""

    def __init__(self, node: str, type_id: str, cause: Exception) -> None:
        super().__init__(f"node {node}: {cause}")
        self.node, self.type_id, self.cause = node, type_id, cause


@dataclass
class Plan:
    order: list[str]  # every needed node, dependencies first
    keys: dict[str, str]
    to_run: list[str] = field(default_factory=list)  # in order
    cached: dict[str, CacheEntry] = field(default_factory=dict)  # node id -> its result
    consumers: dict[str, int] = field(default_factory=dict)  # node id -> runs that read it
    # Needed nodes the walk never reached: everything they feed is cached, so they are as
    # good as cached (reported so, without touching the cache).
    up_to_date: list[str] = field(default_factory=list)


def literal_inputs(workflow: Workflow, registry: Registry, node_id: str) -> dict[str, Any]:
    """The node's widget values, defaults filled in (so they are part of its cache key)."""
    node = workflow.nodes[node_id]
    spec = registry.get(node.type)
    assert spec is not None
    values: dict[str, Any] = {}
    for name, inp in spec.inputs.items():
        value = node.inputs.get(name, inp.default)
        if not isinstance(value, Link) and (value is not None or inp.widget):
            values[name] = value
    return values


def make_plan(
    workflow: Workflow,
    registry: Registry,
    settings: Settings,
    targets: Collection[str],
    cache: OutputCache,
) -> Plan:
    graph = WorkflowGraph(workflow)
    order = graph.order(graph.needed(targets))
    keys: dict[str, str] = {}
    for node_id in order:
        node = workflow.nodes[node_id]
        spec = registry.get(node.type)
        assert spec is not None
        literals = literal_inputs(workflow, registry, node_id)
        upstream = {
            name: (keys[v.node], v.output) for name, v in node.inputs.items() if isinstance(v, Link)
        }
        fingerprint = None
        if spec.fingerprint is not None:
            try:
                fingerprint = spec.fingerprint(literals, settings)
            except Exception as exc:
                raise FingerprintError(node_id, spec.id, exc) from exc
        keys[node_id] = cache_key(spec.id, spec.version, literals, upstream, fingerprint)

    # Walk back from the targets: a cached node ends the walk, so an evicted ancestor of
    # a cached result is not rerun. Cached results are taken now, so a put during the run
    # cannot evict one that a later node still needs.
    plan = Plan(order, keys)
    must_run: set[str] = set()
    stack = [t for t in targets if t in workflow.nodes]
    while stack:
        node_id = stack.pop()
        if node_id in must_run or node_id in plan.cached:
            continue
        entry = cache.get(keys[node_id])
        if entry is not None:
            plan.cached[node_id] = entry
            continue
        must_run.add(node_id)
        for value in workflow.nodes[node_id].inputs.values():
            if isinstance(value, Link):
                plan.consumers[value.node] = plan.consumers.get(value.node, 0) + 1
                stack.append(value.node)
    plan.to_run = [n for n in order if n in must_run]
    plan.up_to_date = [n for n in order if n not in must_run and n not in plan.cached]
    return plan
