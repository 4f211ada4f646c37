"""The workflow as a graph: what the outputs need, the order nodes run in, loops, and how
deep each node sits (the column ComfyUI's editor export draws it in)."""

from __future__ import annotations

import pytest

from engine.graph import CycleError, WorkflowGraph
from engine.workflow import Workflow
from tests.conftest import graph, link


def chain_and_stray() -> Workflow:
    # a -> b -> sink, and c which nothing reads; written in the order c, b, a, sink.
    return graph(
        c=("test.number", {"value": 3}),
        b=("test.add", {"a": link("a"), "b": 1}),
        a=("test.number", {"value": 1}),
        sink=("test.sink", {"value": link("b")}),
    )


def test_needed_nodes_are_the_targets_and_their_ancestors() -> None:
    assert WorkflowGraph(chain_and_stray()).needed(["sink"]) == {"a", "b", "sink"}


def test_needed_nodes_ignore_targets_that_are_not_in_the_workflow() -> None:
    assert WorkflowGraph(chain_and_stray()).needed(["nope"]) == set()


def test_a_node_runs_after_what_it_reads_and_ties_follow_the_document() -> None:
    workflow = chain_and_stray()
    assert WorkflowGraph(workflow).order(workflow.nodes.keys()) == ["c", "a", "b", "sink"]


def test_the_order_of_part_of_the_graph_leaves_the_rest_out() -> None:
    assert WorkflowGraph(chain_and_stray()).order({"sink", "b", "a"}) == ["a", "b", "sink"]


def test_a_loop_has_no_execution_order() -> None:
    loop = graph(x=("test.add", {"a": link("y"), "b": 1}), y=("test.add", {"a": link("x")}))
    with pytest.raises(CycleError):
        WorkflowGraph(loop).order(loop.nodes.keys())


def test_loops_are_found_with_their_members_including_a_node_reading_itself() -> None:
    workflow = graph(
        x=("test.add", {"a": link("y"), "b": 1}),
        y=("test.add", {"a": link("x"), "b": 1}),
        me=("test.add", {"a": link("me"), "b": 1}),
        free=("test.number", {"value": 1}),
    )
    assert WorkflowGraph(workflow).cycles() == [["me"], ["x", "y"]]
    assert WorkflowGraph(workflow).cycles(scope={"free", "me"}) == [["me"]]


def test_a_link_to_a_missing_node_is_left_to_validation() -> None:
    workflow = graph(sink=("test.sink", {"value": link("ghost")}))
    assert WorkflowGraph(workflow).needed(["sink"]) == {"sink"}
    assert WorkflowGraph(workflow).order(["sink"]) == ["sink"]


def test_depth_is_the_longest_way_in() -> None:
    workflow = graph(
        a=("test.number", {"value": 1}),
        b=("test.add", {"a": link("a"), "b": 1}),
        c=("test.add", {"a": link("a"), "b": link("b")}),
    )
    assert WorkflowGraph(workflow).depths(["a", "b", "c"]) == {"a": 0, "b": 1, "c": 2}
