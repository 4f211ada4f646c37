"""The workflow as a directed graph: the one place its links are walked.

An edge goes from the node that produces a value to the node that reads it. Validation asks
for loops, planning for what the outputs need and in which order to run it, the ComfyUI
editor export for an order and a column per node; all of them ask a `WorkflowGraph`.
Links to nodes that are not in the workflow are left out (validation reports them).
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable

import networkx as nx

from engine.workflow import Link, Workflow


class CycleError(ValueError):
    """The workflow loops back on itself, so it has no execution order."""


class WorkflowGraph:
    """A workflow's links as a networkx DiGraph (source -> reader), built once, asked often.
    Nodes keep the document's order, which breaks ties so that runs are repeatable."""

    def __init__(self, workflow: Workflow) -> None:
        self.graph = nx.DiGraph()
        self.graph.add_nodes_from(workflow.nodes)
        self.graph.add_edges_from(
            (value.node, node_id)
            for node_id, node in workflow.nodes.items()
            for value in node.inputs.values()
            if isinstance(value, Link) and value.node in workflow.nodes
        )
        self._position = {node_id: i for i, node_id in enumerate(workflow.nodes)}

    def needed(self, targets: Iterable[str]) -> set[str]:
        """The targets (those in the workflow) and every node they depend on."""
        found: set[str] = set()
        stack = [t for t in targets if t in self.graph]
        while stack:  # one walk back from all targets (one nx.ancestors each costs more)
            node_id = stack.pop()
            if node_id not in found:
                found.add(node_id)
                stack.extend(self.graph.pred[node_id])
        return found

    def order(self, nodes: Collection[str]) -> list[str]:
        """`nodes` with each after the ones it reads; of the nodes ready at one time, the one
        written first in the document goes first. A loop raises `CycleError`."""
        chosen = set(nodes)
        waiting = {n: len(chosen.intersection(self.graph.pred[n])) for n in chosen}
        ready = [(self._position[n], n) for n, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        ordered: list[str] = []
        while ready:
            _, node_id = heapq.heappop(ready)
            ordered.append(node_id)
            for reader in self.graph.succ[node_id]:
                if reader in waiting:
                    waiting[reader] -= 1
                    if waiting[reader] == 0:
                        heapq.heappush(ready, (self._position[reader], reader))
        if len(ordered) < len(chosen):
            raise CycleError("the workflow loops back on itself")
        return ordered

    def cycles(self, scope: Collection[str] | None = None) -> list[list[str]]:
        """Each loop through the nodes of `scope` (default: all): its members, sorted."""
        loops = [
            sorted(component)
            for component in nx.strongly_connected_components(self.graph)
            if len(component) > 1 or self.graph.has_edge(*(2 * tuple(component)))
        ]
        # A loop through a node is made of that node's ancestors: all in a `needed` scope.
        return sorted(loop for loop in loops if scope is None or loop[0] in scope)

    def depths(self, order: Iterable[str]) -> dict[str, int]:
        """How many links lie on the longest way into each node (0: it reads none), along an
        `order` that puts each node after the ones it reads (loops: any order will do)."""
        depth: dict[str, int] = {}
        for node_id in order:
            sources = self.graph.predecessors(node_id)
            depth[node_id] = 1 + max((depth.get(s, 0) for s in sources), default=-1)
        return depth
