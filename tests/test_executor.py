"""The executor: what runs, what is cached, interruption, failures, memory budget."""

from __future__ import annotations

import threading

from engine.cache import ENTRY_BYTES, RESULTS_PER_NODE, OutputCache
from engine.events import (
    NodeCached,
    NodeFailed,
    NodeStarted,
    Progress,
    RunFinished,
    RunInterrupted,
    RunStarted,
)
from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from tests.conftest import Recorder, graph, link


def diamond(b: int = 0, label: str = "x"):
    """n1 -> add(+b) -> sink, plus an unrelated branch n4 -> sink2."""
    return graph(
        n1=("test.number", {"value": 2}),
        n2=("test.add", {"a": link("n1"), "b": b}),
        n3=("test.add", {"a": link("n1"), "b": 10}),
        n5=("test.add", {"a": link("n2"), "b": link("n3")}),
        out=("test.sink", {"value": link("n5"), "label": label}),
    )


def test_runs_dependencies_first_and_reports_outputs(executor: Executor) -> None:
    rec = Recorder()
    result = executor.run(diamond(b=5), listener=rec)
    assert result.status == "success"
    started = rec.nodes(NodeStarted)
    assert set(started) == {"n1", "n2", "n3", "n5", "out"}
    assert started.index("n1") < started.index("n2") < started.index("n5") < started.index("out")
    assert started.index("n3") < started.index("n5")
    assert result.ui == {"out": {"value": (2 + 5) + (2 + 10)}}
    assert isinstance(rec.events[0], RunStarted) and isinstance(rec.events[-1], RunFinished)
    assert rec.events[-1].outputs == {"out": {"value": 19}}


def test_changing_one_widget_reruns_exactly_what_depends_on_it(executor: Executor) -> None:
    executor.run(diamond(b=5))
    rec = Recorder()
    result = executor.run(diamond(b=6), listener=rec)
    assert result.status == "success"
    assert rec.nodes(NodeStarted) == ["n2", "n5", "out"]
    assert sorted(rec.nodes(NodeCached)) == ["n1", "n3"]
    assert result.ui["out"] == {"value": 8 + 12}


def test_unchanged_rerun_runs_nothing_and_still_reports_outputs(executor: Executor) -> None:
    executor.run(diamond())
    rec = Recorder()
    result = executor.run(diamond(), listener=rec)
    assert rec.nodes(NodeStarted) == []
    assert result.executed == [] and result.ui == {"out": {"value": 14}}
    assert rec.of(RunStarted)[0].to_run == ()


def test_output_widget_change_reruns_only_the_output(executor: Executor) -> None:
    executor.run(diamond(label="x"))
    rec = Recorder()
    executor.run(diamond(label="y"), listener=rec)
    assert rec.nodes(NodeStarted) == ["out"]


def test_only_requested_targets_and_their_ancestors_run(executor: Executor) -> None:
    workflow = graph(
        a=("test.number", {"value": 1}),
        sa=("test.sink", {"value": link("a")}),
        b=("test.number", {"value": 2}),
        sb=("test.sink", {"value": link("b")}),
    )
    rec = Recorder()
    result = executor.run(workflow, targets=["sb"], listener=rec)
    assert rec.nodes(NodeStarted) == ["b", "sb"]
    assert result.ui == {"sb": {"value": 2}}


def test_fingerprint_change_invalidates(executor: Executor, settings: Settings) -> None:
    data = settings.input_dir / "data.txt"
    data.write_text("abc")
    workflow = graph(
        f=("test.read_file", {"name": "data.txt"}),
        out=("test.sink", {"value": link("f", "length")}),
    )
    assert executor.run(workflow).ui["out"] == {"value": 3}
    rec = Recorder()
    executor.run(workflow, listener=rec)
    assert rec.nodes(NodeStarted) == []
    data.write_text("abcdef")  # same name, new content: the fingerprint changes
    rec = Recorder()
    result = executor.run(workflow, listener=rec)
    assert rec.nodes(NodeStarted) == ["f", "out"]
    assert result.ui["out"] == {"value": 6}


def test_failing_fingerprint_names_the_node(executor: Executor) -> None:
    workflow = graph(
        f=("test.read_file", {"name": "nope.txt"}),
        out=("test.sink", {"value": link("f", "length")}),
    )
    result = executor.run(workflow)
    assert result.status == "failed"
    assert result.error is not None and result.error.node == "f"
    assert "nope.txt" in result.error.message


def test_failing_node_is_named_and_earlier_results_stay_cached(executor: Executor) -> None:
    failing = graph(
        n1=("test.number", {"value": 3}),
        n2=("test.add", {"a": link("n1"), "b": 1}),
        bad=("test.fail", {"value": link("n2"), "message": "kaput"}),
        out=("test.sink", {"value": link("bad")}),
    )
    rec = Recorder()
    result = executor.run(failing, listener=rec)
    assert result.status == "failed"
    failure = rec.of(NodeFailed)[0]
    assert (failure.node, failure.type, failure.exception) == ("bad", "test.fail", "RuntimeError")
    assert failure.message == "kaput" and "RuntimeError: kaput" in failure.traceback
    assert result.error == failure
    assert "out" not in rec.nodes(NodeStarted)
    assert not rec.of(RunFinished)

    fixed = failing.model_copy(deep=True)
    fixed.nodes["bad"].type = "test.add"
    fixed.nodes["bad"].inputs = {"a": link("n2"), "b": 0}
    rec = Recorder()
    result = executor.run(fixed, listener=rec)
    assert result.status == "success"
    assert sorted(rec.nodes(NodeCached)) == ["n1", "n2"]
    assert rec.nodes(NodeStarted) == ["bad", "out"]


def test_node_input_error_names_the_input(executor: Executor) -> None:
    workflow = graph(
        b=("test.bad_input", {"path": "x.txt"}),
        out=("test.sink", {"value": link("b")}),
    )
    result = executor.run(workflow)
    assert result.error is not None
    assert (result.error.node, result.error.input) == ("b", "path")
    assert "x.txt" in result.error.message


def test_linked_value_breaking_a_constraint_is_a_node_input_error(executor: Executor) -> None:
    # 2000 passes validation (it comes through a link) but Add.b allows at most 1000.
    workflow = graph(
        n=("test.number", {"value": 1000}),
        big=("test.add", {"a": link("n"), "b": 1000}),
        add=("test.add", {"a": 0, "b": link("big")}),
        out=("test.sink", {"value": link("add")}),
    )
    result = executor.run(workflow)
    assert result.status == "failed" and result.error is not None
    assert (result.error.node, result.error.input) == ("add", "b")
    assert "1000" in result.error.message


def test_invalid_workflow_runs_nothing(executor: Executor) -> None:
    rec = Recorder()
    result = executor.run(graph(out=("test.sink", {"value": link("ghost")})), listener=rec)
    assert result.status == "invalid"
    assert [p.code for p in result.problems] == ["missing_link_node"]
    assert rec.events == []


def test_interrupt_from_another_thread_stops_within_one_step(executor: Executor) -> None:
    workflow = graph(
        s=("test.slow", {"steps": 1000, "delay": 0.005}),
        after=("test.add", {"a": link("s"), "b": 1}),
        out=("test.sink", {"value": link("after")}),
    )
    rec = Recorder()
    steps_at_interrupt: list[int] = []

    def listener(event: object) -> None:
        rec(event)  # type: ignore[arg-type]
        if isinstance(event, Progress) and event.step == 20:
            steps_at_interrupt.append(event.step)
            threading.Thread(target=executor.interrupt).start()

    result = executor.run(workflow, listener=listener)
    assert result.status == "interrupted"
    last_step = rec.of(Progress)[-1].step
    assert 20 <= last_step <= 22  # the flag is honoured at the next step boundary
    interrupted = rec.of(RunInterrupted)
    assert len(interrupted) == 1 and interrupted[0].node == "s"
    assert "after" not in rec.nodes(NodeStarted)
    # The interrupt does not stick: the next run goes through.
    assert executor.run(graph(n=("test.number", {}), o=("test.sink", {"value": link("n")})))


def test_memory_budget_evicts_least_recently_used(registry: Registry, settings: Settings) -> None:
    # Room for three 1 MiB blobs and the four sums: each entry costs ENTRY_BYTES besides.
    cache = OutputCache(budget_bytes=3 * (1024 * 1024 + ENTRY_BYTES) + 4 * ENTRY_BYTES)
    executor = Executor(registry, settings, cache=cache)

    def blob(fill: float):
        return graph(
            b=("test.blob", {"kib": 1024, "fill": fill}),
            s=("test.blob_sum", {"blob": link("b", "blob")}),
        )

    for fill in (1.0, 2.0, 3.0, 4.0):
        assert executor.run(blob(fill)).status == "success"
    assert cache.bytes_used <= cache.budget_bytes
    assert cache.evictions >= 1
    assert cache.evictions == 1 and cache.bytes_used == cache.budget_bytes
    rec = Recorder()
    executor.run(blob(4.0), targets=["b"], listener=rec)  # the newest blob is still cached
    assert rec.nodes(NodeStarted) == []
    rec = Recorder()
    executor.run(blob(1.0), targets=["b"], listener=rec)  # the oldest was evicted: runs again
    assert rec.nodes(NodeStarted) == ["b"]


def test_result_bigger_than_the_budget_is_not_kept(registry: Registry, settings: Settings) -> None:
    cache = OutputCache(budget_bytes=512 * 1024)
    executor = Executor(registry, settings, cache=cache)
    workflow = graph(
        b=("test.blob", {"kib": 1024, "fill": 1.0}),
        s=("test.blob_sum", {"blob": link("b", "blob")}),
    )
    assert executor.run(workflow).ui["s"] == {"total": 1024 * 256.0}
    rec = Recorder()
    executor.run(workflow, listener=rec)
    assert rec.nodes(NodeStarted) == []  # the sum (a float) is cached: the walk stops there
    rec = Recorder()
    executor.run(workflow, targets=["b"], listener=rec)
    assert rec.nodes(NodeStarted) == ["b"]  # the 1 MiB blob itself was never kept


def test_no_cache_mode_reruns_everything(registry: Registry, settings: Settings) -> None:
    executor = Executor(registry, settings, cache=OutputCache(0))
    executor.run(diamond())
    rec = Recorder()
    result = executor.run(diamond(), listener=rec)
    assert result.status == "success"
    assert sorted(rec.nodes(NodeStarted)) == ["n1", "n2", "n3", "n5", "out"]
    assert result.ui == {"out": {"value": 14}}


def slow_then_sink(steps: int = 200):
    return graph(
        s=("test.slow", {"steps": steps, "delay": 0.005}),
        out=("test.sink", {"value": link("s")}),
    )


def test_an_interrupt_for_a_run_that_has_not_begun_stops_it_as_it_begins(
    executor: Executor,
) -> None:
    executor.interrupt("job-1")  # the runner claimed job-1; its run has not started yet
    rec = Recorder()
    result = executor.run(slow_then_sink(), listener=rec, run_id="job-1")
    assert result.status == "interrupted"
    assert rec.of(Progress) == []  # not one step ran
    assert executor.run(slow_then_sink(2), run_id="job-2").status == "success"


def test_an_interrupt_for_another_run_leaves_this_one_alone(executor: Executor) -> None:
    executor.interrupt("job-9")
    assert executor.run(slow_then_sink(2), run_id="job-1").status == "success"
    # ... and it is forgotten once another run began: job-9 itself is not stopped later.
    assert executor.run(slow_then_sink(2), run_id="job-9").status == "success"


def test_an_interrupted_run_ends_interrupted_even_when_everything_is_cached(
    executor: Executor,
) -> None:
    workflow = graph(n=("test.number", {}), out=("test.sink", {"value": link("n")}))
    assert executor.run(workflow).status == "success"
    executor.interrupt("again")
    assert executor.run(workflow, run_id="again").status == "interrupted"


def test_a_node_keeps_a_few_results_not_one_per_run(executor: Executor) -> None:
    """A server's jobs differ every time (a new seed): each node holds at most
    RESULTS_PER_NODE results, whatever the byte budget allows."""

    def run(value: int) -> None:
        workflow = graph(
            n=("test.number", {"value": value}), out=("test.sink", {"value": link("n")})
        )
        assert executor.run(workflow).status == "success"

    for value in range(50):
        run(value)
    assert len(executor.cache) == 2 * RESULTS_PER_NODE  # n's and out's newest results
    rec = Recorder()
    executor.run(
        graph(n=("test.number", {"value": 49}), out=("test.sink", {"value": link("n")})),
        listener=rec,
    )
    assert rec.nodes(NodeStarted) == []  # the newest are the ones kept


def test_a_result_in_use_outlives_newer_ones_of_its_node() -> None:
    cache = OutputCache(budget_bytes=1 << 20)
    cache.put("first", {}, None, "n")
    for i in range(RESULTS_PER_NODE - 1):
        cache.put(f"later{i}", {}, None, "n")
    assert cache.get("first") is not None  # used again: now the most recent of node n
    cache.put("newest", {}, None, "n")
    assert "first" in cache and "later0" not in cache
    assert len(cache) == RESULTS_PER_NODE
