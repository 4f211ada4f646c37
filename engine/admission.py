"""Whether a valid job may take a place in the queue: not too many nodes, no input over a
node's limit, and an estimated peak memory within the budget (torch-free, milliseconds).

The estimate walks the nodes in the order they would run, asking each for its cost
(`engine.footprint`): the weights loaded so far stay resident, an output is held until its
last reader has run, and each node adds what it works in. The largest moment is compared
with the RAM budget (with the VRAM budget for what sits on an accelerator). A job over it
is refused naming the input that chose the size (a batch_size, a width) and the node
where the memory would be needed, before it can take the machine down.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from engine.context import NodeInputError
from engine.footprint import CostInputs, Estimate, NodeCost
from engine.graph import CycleError, WorkflowGraph
from engine.node import NodeSpec
from engine.plan import literal_inputs
from engine.registry import Registry
from engine.settings import Settings
from engine.validate import Problem, output_nodes
from engine.workflow import Link, Workflow

log = logging.getLogger(__name__)

CODES = ("too_many_nodes", "over_limit", "too_much_memory")
# A large hand-made ComfyUI graph has a few hundred nodes; 5,000 leave room for generated
# ones while bounding what one job costs to validate, plan, store and list (a 20,000-node
# prompt is 2.4 MB, and made every GET /history of the time take 0.7 s).
MAX_NODES = 5_000
MIB, GIB = 1024**2, 1024**3


@dataclass(frozen=True)
class Budget:
    """Memory a job may use: RAM, and VRAM when networks run on an accelerator (None:
    no limit of ours there)."""

    ram: int
    vram: int | None = None
    accelerator: bool = False
    half: bool = False  # networks compute in 2-byte values (bfloat16 on some CPUs)

    @classmethod
    def of(cls, settings: Settings, accelerator: bool, half: bool = False) -> Budget:
        return cls(settings.ram_budget, settings.vram_budget, accelerator, half)


@dataclass(frozen=True)
class Moment:
    """The memory in use while one node runs."""

    node: str
    cost: NodeCost
    links: Mapping[str, Estimate]
    models: int  # weights loaded so far (they stay resident)
    held: int  # outputs still to be read, this node's own included

    @property
    def device(self) -> int:
        """Where networks run: weights and working memory."""
        return self.models + self.cost.working

    def total(self, budget: Budget) -> int:
        """What must fit in RAM: everything on the CPU; only the outputs beside a GPU."""
        return self.held if budget.accelerator else self.device + self.held


def default_cost(spec: NodeSpec, given: CostInputs) -> NodeCost:
    """Each output as large as the largest linked input of its type, and as much again to
    work in: right for the many nodes that transform a tensor (invert, blur, masks)."""
    outputs: dict[str, Estimate] = {}
    driver: str | None = None
    for name, out in spec.outputs.items():
        same = [i for i, inp in spec.inputs.items() if inp.type is out.type and i in given.links]
        if same:
            largest = max(same, key=lambda i: given.links[i].nbytes)
            outputs[name], driver = given.links[largest], driver or largest
    return NodeCost(outputs, sum(e.nbytes for e in outputs.values()), driver=driver)


def admit(
    workflow: Workflow,
    registry: Registry,
    settings: Settings,
    budget: Budget,
    *,
    targets: Collection[str] | None = None,
    max_nodes: int = MAX_NODES,
) -> list[Problem]:
    """The problems that keep a valid workflow out of the queue (none: admit it)."""
    too_many = node_count_problem(len(workflow.nodes), max_nodes)
    if too_many is not None:
        return [too_many]
    moments, problems = walk(
        workflow, registry, settings, budget.accelerator, targets, half=budget.half
    )
    if not problems and moments:
        problems.extend(_over_budget(moments, budget, workflow, registry))
    return problems


def node_count_problem(count: int, max_nodes: int = MAX_NODES) -> Problem | None:
    if count <= max_nodes:
        return None
    return Problem(
        "too_many_nodes", f"the workflow has {count:,} nodes; a job may have at most {max_nodes:,}"
    )


def walk(
    workflow: Workflow,
    registry: Registry,
    settings: Settings,
    accelerator: bool,
    targets: Collection[str] | None = None,
    half: bool = False,
) -> tuple[list[Moment], list[Problem]]:
    """Each node's moment in run order, and the inputs its node refused (over a limit)."""
    graph = WorkflowGraph(workflow)
    goal = list(targets) if targets is not None else output_nodes(workflow, registry)
    try:
        order = graph.order(graph.needed(goal))
    except CycleError:
        return [], []  # validation reports it
    needed = set(order)
    readers = {n: sum(1 for r in graph.graph.succ[n] if r in needed) for n in order}
    estimates: dict[str, Mapping[str, Estimate]] = {}
    held: dict[str, int] = {}
    models: dict[str, int] = {}
    moments: list[Moment] = []
    problems: list[Problem] = []
    for node_id in order:
        links = _linked_estimates(workflow, node_id, estimates)
        widgets = literal_inputs(workflow, registry, node_id)
        given = CostInputs(node_id, widgets, links, settings, accelerator, half or accelerator)
        cost = _cost(registry, workflow, given, problems)
        models.update(cost.models)
        estimates[node_id] = cost.outputs
        held[node_id] = sum(e.nbytes for e in cost.outputs.values())
        moments.append(Moment(node_id, cost, links, sum(models.values()), sum(held.values())))
        inputs = workflow.nodes[node_id].inputs.values()
        for source in {v.node for v in inputs if isinstance(v, Link)}:
            readers[source] -= 1
            if readers[source] == 0 and source not in goal:
                held.pop(source, None)
    return moments, problems


def _linked_estimates(
    workflow: Workflow, node_id: str, estimates: Mapping[str, Mapping[str, Estimate]]
) -> dict[str, Estimate]:
    found: dict[str, Estimate] = {}
    for name, value in workflow.nodes[node_id].inputs.items():
        if isinstance(value, Link) and value.output in estimates.get(value.node, {}):
            found[name] = estimates[value.node][value.output]
    return found


def _cost(
    registry: Registry, workflow: Workflow, given: CostInputs, problems: list[Problem]
) -> NodeCost:
    spec = registry.get(workflow.nodes[given.node_id].type)
    assert spec is not None  # validated before
    if spec.cost is None:
        return default_cost(spec, given)
    try:
        return spec.cost(given)
    except NodeInputError as exc:  # the node refuses a value (a prompt over its token limit)
        problems.append(Problem("over_limit", str(exc), given.node_id, exc.input))
    except Exception:  # a pack's broken estimate must not keep its jobs out
        log.exception("the cost estimate of %s failed; using the default", spec.id)
    return default_cost(spec, given)


def _over_budget(
    moments: list[Moment], budget: Budget, workflow: Workflow, registry: Registry
) -> list[Problem]:
    worst_ram = max(moments, key=lambda m: m.total(budget))
    if worst_ram.total(budget) > budget.ram:
        return [_refusal(worst_ram, worst_ram.total(budget), "RAM", budget.ram, registry, workflow)]
    if budget.accelerator and budget.vram is not None:
        worst = max(moments, key=lambda m: m.device)
        if worst.device > budget.vram:
            return [_refusal(worst, worst.device, "VRAM", budget.vram, registry, workflow)]
    return []


def _refusal(
    moment: Moment, needed: int, kind: str, budget: int, registry: Registry, workflow: Workflow
) -> Problem:
    spec = registry.get(workflow.nodes[moment.node].type)
    title = spec.title if spec else workflow.nodes[moment.node].type
    driver = moment.cost.driver
    made = sorted(moment.cost.outputs.values(), key=lambda e: e.nbytes)
    # The size that drove the work: an input's, or (for a node whose widgets set the size,
    # like Empty Image) its largest output's.
    estimate = moment.links.get(driver or "") or (made[-1] if made else None)
    node, input_name = (moment.node, driver)
    if estimate is not None and estimate.origin is not None:
        node, input_name = estimate.origin
    where = f" for {estimate.what}" if estimate is not None and estimate.what else ""
    return Problem(
        "too_much_memory",
        f"the job would need about {_size(needed)} of memory at node {moment.node} ({title})"
        f"{where}, more than the {kind} budget of {_size(budget)}; choose a smaller value",
        node,
        input_name,
    )


def _size(nbytes: int) -> str:
    return f"{nbytes / GIB:.1f} GiB" if nbytes >= GIB else f"{max(1, round(nbytes / MIB))} MiB"
