"""Validation: every kind of problem, all collected in one pass, no torch needed."""

from __future__ import annotations

import json
import subprocess
import sys

from engine.registry import Registry
from engine.settings import Settings
from engine.validate import CODES, validate
from engine.workflow import Workflow
from tests.conftest import REPO, graph, link


def codes(problems) -> list[tuple[str, str | None, str | None]]:
    return sorted((p.code, p.node, p.input) for p in problems)


def test_a_good_workflow_has_no_problems(registry: Registry, settings: Settings) -> None:
    workflow = graph(n=("test.number", {"value": 3}), out=("test.sink", {"value": link("n")}))
    assert validate(workflow, registry, settings) == []


def test_every_problem_is_collected_with_node_and_input(
    registry: Registry, settings: Settings
) -> None:
    workflow = graph(
        unknown=("test.nope", {}),
        missing=("test.add", {}),  # a is required
        extra=("test.number", {"value": 1, "colour": "red"}),
        ghost=("test.sink", {"value": link("nobody")}),
        no_out=("test.sink", {"value": link("extra", "total")}),
        wrong_type=("test.blob_sum", {"blob": link("extra")}),
        literal_port=("test.blob_sum", {"blob": 3}),
        low=("test.number", {"value": -1}),
        high=("test.add", {"a": 1, "b": 5000}),
        not_int=("test.number", {"value": "7"}),
        bool_int=("test.number", {"value": True}),
        bad_choice=("test.sink", {"value": 1, "label": "z"}),
        bad_dynamic=("test.sink", {"value": 1, "letter": "q"}),
    )
    problems = validate(workflow, registry, settings)
    assert codes(problems) == sorted(
        [
            ("unknown_node_type", "unknown", None),
            ("missing_input", "missing", "a"),
            ("unknown_input", "extra", "colour"),
            ("missing_link_node", "ghost", "value"),
            ("missing_link_output", "no_out", "value"),
            ("type_mismatch", "wrong_type", "blob"),
            ("wrong_value_type", "literal_port", "blob"),
            ("value_out_of_range", "low", "value"),
            ("value_out_of_range", "high", "b"),
            ("wrong_value_type", "not_int", "value"),
            ("wrong_value_type", "bool_int", "value"),
            ("value_not_in_choices", "bad_choice", "label"),
            ("value_not_in_choices", "bad_dynamic", "letter"),
        ]
    )
    by_node = {p.node: p for p in problems}
    assert "test.nope" in by_node["unknown"].message
    assert "TEST_BLOB" in by_node["wrong_type"].message and "INT" in by_node["wrong_type"].message
    assert "at least 0" in by_node["low"].message
    assert "'a'" in by_node["bad_dynamic"].message  # lists what is allowed
    assert "it has: value" in by_node["no_out"].message
    assert str(by_node["high"]) == "node high, input 'b': must be at most 1000, got 5000 " + (
        "[value_out_of_range]"
    )


def test_int_may_feed_float_but_not_the_reverse(registry: Registry, settings: Settings) -> None:
    ok = graph(
        n=("test.number", {}),
        s=("test.slow", {"value": 0, "delay": link("n")}),
        out=("test.sink", {"value": link("s")}),
    )
    assert validate(ok, registry, settings) == []
    bad = graph(
        f=("value.float", {"value": 1.5}),
        out=("test.sink", {"value": link("f")}),
    )
    assert codes(validate(bad, registry, settings)) == [("type_mismatch", "out", "value")]


def test_cycles_are_reported_on_each_member(registry: Registry, settings: Settings) -> None:
    workflow = graph(
        a=("test.add", {"a": link("c")}),
        b=("test.add", {"a": link("a")}),
        c=("test.add", {"a": link("b")}),
        self_loop=("test.add", {"a": link("self_loop")}),
        out=("test.sink", {"value": link("c")}),
    )
    problems = validate(workflow, registry, settings)
    assert codes(problems) == [
        ("cycle", "a", None),
        ("cycle", "b", None),
        ("cycle", "c", None),
        ("cycle", "self_loop", None),
    ]
    assert "a, b, c" in problems[0].message or any("a, b, c" in p.message for p in problems)


def test_no_output_node(registry: Registry, settings: Settings) -> None:
    problems = validate(graph(n=("test.number", {})), registry, settings)
    assert codes(problems) == [("no_output_node", None, None)]


def test_targets_limit_the_scope(registry: Registry, settings: Settings) -> None:
    workflow = graph(
        n=("test.number", {}),
        good=("test.sink", {"value": link("n")}),
        broken=("test.sink", {"value": link("nobody")}),
    )
    assert validate(workflow, registry, settings, targets=["good"]) == []
    assert codes(validate(workflow, registry, settings, targets=["missing"])) == [
        ("unknown_target", None, None)
    ]


def test_codes_are_documented(registry: Registry, settings: Settings) -> None:
    assert len(set(CODES)) == len(CODES)
    readme = (REPO / "README.md").read_text()
    assert all(f"`{code}`" in readme for code in CODES)


def test_validation_imports_no_torch(tmp_path) -> None:
    """Listing the built-in nodes and validating a 1,000-node graph leaves torch unloaded."""
    nodes = {"0": {"type": "image.empty", "inputs": {"width": 64, "height": 64}}}
    for i in range(1, 999):
        nodes[str(i)] = {
            "type": "image.invert",
            "inputs": {"image": {"node": str(i - 1), "output": "image"}},
        }
    nodes["999"] = {"type": "image.save", "inputs": {"images": {"node": "998", "output": "image"}}}
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"nodes": nodes}))
    code = (
        "import sys, apps.cli.main as c\n"
        f"rc = c.main(['--home', {str(tmp_path)!r}, 'validate', {str(path)!r}])\n"
        "assert rc == 0, rc\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "1000 nodes, no problems" in done.stderr


def test_workflow_with_problems_still_parses(registry: Registry) -> None:
    # The document format accepts any node type and links to anything: judging that is
    # validation's job, so all problems can be shown at once.
    doc = {"nodes": {"x": {"type": "who.knows", "inputs": {"a": {"node": "y", "output": "z"}}}}}
    assert Workflow.model_validate(doc).nodes["x"].type == "who.knows"


def test_an_explicit_null_widget_is_refused_but_a_left_out_one_takes_its_default(
    registry: Registry, settings: Settings
) -> None:
    workflow = graph(
        nulled=("test.number", {"value": None}),
        out=("test.sink", {"value": link("nulled")}),
        defaulted=("test.number", {}),
        out2=("test.sink", {"value": link("defaulted")}),
    )
    problems = validate(workflow, registry, settings)
    assert codes(problems) == [("wrong_value_type", "nulled", "value")]
    assert "got null" in problems[0].message and "default" in problems[0].message


def test_a_file_name_that_would_leave_its_folder_is_refused_before_a_run(
    registry: Registry, settings: Settings
) -> None:
    bad = ["../escape", "/etc/evil", "sub/../../x", "a\x00b", "C:\\temp\\x", "x" * 300]
    nodes = {
        f"save{i}": ("image.save", {"images": link("img", "image"), "filename_prefix": name})
        for i, name in enumerate(bad)
    }
    nodes["ok"] = ("image.save", {"images": link("img", "image"), "filename_prefix": "sub/pic"})
    workflow = graph(img=("image.empty", {"width": 8, "height": 8}), **nodes)
    problems = validate(workflow, registry, settings)
    assert codes(problems) == sorted(
        ("unsafe_path", f"save{i}", "filename_prefix") for i in range(len(bad))
    )
    assert "unsafe_path" in CODES
