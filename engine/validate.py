"""Every check that can be made before anything runs, all problems collected.

Each problem names the node and input at fault, a machine code and a sentence for people.
No torch here: validating a large graph takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from engine.graph import WorkflowGraph
from engine.node import InputSpec, NodeSpec
from engine.paths import relative_name_problem
from engine.registry import Registry
from engine.settings import Settings
from engine.types import can_connect, type_name
from engine.workflow import Link, Workflow

CODES = (
    "unknown_node_type",
    "unknown_input",
    "missing_input",
    "missing_link_node",
    "missing_link_output",
    "type_mismatch",
    "cycle",
    "wrong_value_type",
    "value_out_of_range",
    "value_not_in_choices",
    "no_output_node",
    "unknown_target",
    "unsafe_path",
)
# A refused choice's message lists the choices up to this many: a whole sampler list (40
# names), the first of a long folder listing.
SHOWN_CHOICES = 60


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    node: str | None = None
    input: str | None = None

    def __str__(self) -> str:
        where = f"node {self.node}" if self.node else "workflow"
        if self.input:
            where += f", input {self.input!r}"
        return f"{where}: {self.message} [{self.code}]"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def output_nodes(workflow: Workflow, registry: Registry) -> list[str]:
    """Ids of the nodes that produce results (Save Image and the like)."""
    return [
        node_id
        for node_id, n in workflow.nodes.items()
        if (spec := registry.get(n.type)) is not None and spec.is_output
    ]


def validate(
    workflow: Workflow,
    registry: Registry,
    settings: Settings,
    targets: Collection[str] | None = None,
) -> list[Problem]:
    """All problems of the nodes that would run for `targets` (default: all output nodes)."""
    problems: list[Problem] = []
    if targets is None:
        targets = output_nodes(workflow, registry)
        scope: Collection[str] = workflow.nodes.keys()
        if not targets:
            problems.append(
                Problem(
                    "no_output_node",
                    "the workflow has no output node "
                    "(such as Save Image), so running it would produce nothing",
                )
            )
    else:
        for target in targets:
            if target not in workflow.nodes:
                problems.append(Problem("unknown_target", f"there is no node {target!r} to run"))
        scope = WorkflowGraph(workflow).needed(targets)
    choice_lists: dict[int, list[Any] | None] = {}  # a dynamic list is read once per call
    for node_id in scope:
        problems.extend(_check_node(node_id, workflow, registry, settings, choice_lists))
    problems.extend(_check_cycles(workflow, scope))
    return problems


def _check_node(
    node_id: str,
    workflow: Workflow,
    registry: Registry,
    settings: Settings,
    choice_lists: dict[int, list[Any] | None],
) -> Iterator[Problem]:
    node = workflow.nodes[node_id]
    spec = registry.get(node.type)
    if spec is None:
        yield Problem("unknown_node_type", f"unknown node type {node.type!r}", node_id)
        return
    for name in node.inputs.keys() - spec.inputs.keys():
        yield Problem("unknown_input", f"{spec.title} has no input {name!r}", node_id, name)
    for name, inp in spec.inputs.items():
        value = node.inputs.get(name)
        if isinstance(value, Link):
            yield from _check_link(node_id, inp, value, workflow, registry)
        elif value is None:
            if inp.widget and name in node.inputs and not inp.nullable:
                expected = type_name(inp.type)
                message = f"expects {expected}, got null (leave the input out for its default)"
                yield Problem("wrong_value_type", message, node_id, name)
            elif inp.required:
                what = "a link" if not inp.widget else "a value"
                yield Problem("missing_input", f"required input needs {what}", node_id, name)
        elif not inp.widget:
            yield Problem(
                "wrong_value_type",
                f"expects a link from a {type_name(inp.type)} output, got a literal value",
                node_id,
                name,
            )
        else:
            problem = _check_value(spec, inp, value, settings, choice_lists)
            if problem:
                yield Problem(problem[0], problem[1], node_id, name)


def _check_link(
    node_id: str, inp: InputSpec, link: Link, workflow: Workflow, registry: Registry
) -> Iterator[Problem]:
    source = workflow.nodes.get(link.node)
    if source is None:
        yield Problem(
            "missing_link_node",
            f"is linked to node {link.node!r}, which does not exist",
            node_id,
            inp.name,
        )
        return
    source_spec = registry.get(source.type)
    if source_spec is None:
        return  # reported on the source node itself
    out = source_spec.outputs.get(link.output)
    if out is None:
        have = ", ".join(source_spec.outputs) or "none"
        yield Problem(
            "missing_link_output",
            f"is linked to output {link.output!r} of node "
            f"{link.node} ({source_spec.title}), which has no such output (it has: "
            f"{have})",
            node_id,
            inp.name,
        )
    elif not can_connect(out.type, inp.type):
        yield Problem(
            "type_mismatch",
            f"expects {type_name(inp.type)} but is linked to "
            f"{source_spec.title} output {link.output!r} of type "
            f"{type_name(out.type)}",
            node_id,
            inp.name,
        )


def _check_value(
    spec: NodeSpec,
    inp: InputSpec,
    value: Any,
    settings: Settings,
    choice_lists: dict[int, list[Any] | None],
) -> tuple[str, str] | None:
    expected = inp.type
    if expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, expected)
    if not ok:
        return "wrong_value_type", f"expects {type_name(expected)}, got {value!r}"
    for bound, test, words in (
        (inp.ge, lambda b: value >= b, "at least"),
        (inp.le, lambda b: value <= b, "at most"),
        (inp.gt, lambda b: value > b, "greater than"),
        (inp.lt, lambda b: value < b, "less than"),
    ):
        if bound is not None and not test(bound):
            return "value_out_of_range", f"must be {words} {bound}, got {value!r}"
    if inp.multiple_of is not None and value % inp.multiple_of != 0:
        return "value_out_of_range", f"must be a multiple of {inp.multiple_of}, got {value!r}"
    if inp.file_name and (problem := relative_name_problem(value)):
        return "unsafe_path", problem
    if inp.has_choices:
        key = id(inp)
        if key not in choice_lists:
            try:
                choice_lists[key] = inp.choices(settings)
            except Exception as exc:  # a broken choice source must not hide other problems
                choice_lists[key] = None
                return "value_not_in_choices", f"could not list the choices: {exc}"
        choices = choice_lists[key]
        if choices is not None and value not in choices:
            accepted = inp.accepts(settings, value) if inp.accepts else False
            if accepted is True:
                return None
            if isinstance(accepted, str):
                return "value_not_in_choices", accepted
            cut = len(choices) > SHOWN_CHOICES
            shown = ", ".join(map(repr, choices[:SHOWN_CHOICES])) + (" ..." if cut else "")
            return "value_not_in_choices", f"{value!r} is not one of: {shown or '(none found)'}"
    return None


def _check_cycles(workflow: Workflow, scope: Collection[str]) -> Iterator[Problem]:
    for loop in WorkflowGraph(workflow).cycles(scope):
        members = ", ".join(loop)
        for node_id in loop:
            yield Problem(
                "cycle",
                f"is part of a cycle through nodes {members}; a workflow "
                "must not loop back on itself",
                node_id,
            )
