"""Admission: a valid job is refused before it is queued when it cannot fit the memory
budget (naming the input that chose the size and the node where the memory goes), has a
prompt over its token limit, or too many nodes. The estimate is torch-free and quick."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from engine.admission import Budget, admit, walk
from engine.executor import Executor
from engine.footprint import CostInputs, NodeCost
from engine.node import node, spec_of
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import Workflow
from formats.load import to_workflow
from nodes.footprints.costs import MAX_PROMPT_TOKENS
from nodes.footprints.formulas import least_tokens, weight_params
from tests.conftest import REPO
from tests.server.harness import make_home, toy_workflow

GIB = 1024**3
TOY = REPO / "models" / "checkpoints" / "diffgraph-toy.safetensors"
pytestmark = pytest.mark.skipif(not TOY.is_file(), reason="the toy model is not here")
CPU_4GB = Budget(ram=4 * GIB)


@pytest.fixture(scope="module")
def toy_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings.at(make_home(tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="module")
def toy_registry(toy_settings: Settings) -> Registry:
    return Registry.discover(toy_settings)


def toy(registry: Registry, width: int = 64, height: int = 64, batch: int = 4, **more: Any):
    document = toy_workflow(batch=batch, prompt=more.get("prompt"))
    document["nodes"]["latent"]["inputs"].update(width=width, height=height)
    return to_workflow(document, registry)


def images(registry: Registry, width: int, height: int, batch: int) -> Workflow:
    empty = {"width": width, "height": height, "batch_size": batch}
    document = {
        "format": "diffgraph.workflow",
        "version": 1,
        "nodes": {
            "empty": {"type": "image.empty", "inputs": empty},
            "save": {
                "type": "image.save",
                "inputs": {"images": {"node": "empty", "output": "image"}},
            },
        },
    }
    return to_workflow(document, registry)


def problem_of(workflow: Workflow, registry: Registry, settings: Settings, budget: Budget) -> Any:
    problems = admit(workflow, registry, settings, budget)
    assert len(problems) == 1, problems
    return problems[0]


def test_the_default_toy_job_is_admitted(toy_registry: Registry, toy_settings: Settings) -> None:
    assert admit(toy(toy_registry), toy_registry, toy_settings, CPU_4GB) == []
    assert admit(toy(toy_registry, 512, 512, 4), toy_registry, toy_settings, CPU_4GB) == []


def test_a_huge_batch_is_refused_at_its_batch_size_for_the_sampler(
    toy_registry: Registry, toy_settings: Settings
) -> None:
    refused = problem_of(toy(toy_registry, batch=4096), toy_registry, toy_settings, CPU_4GB)
    assert (refused.code, refused.node, refused.input) == (
        "too_much_memory",
        "latent",
        "batch_size",
    )
    assert "at node sample (Sample) for 4,096 latents of 64x64 pixels" in refused.message
    assert "more than the RAM budget of 4.0 GiB" in refused.message


def test_a_huge_latent_is_refused_at_its_width(
    toy_registry: Registry, toy_settings: Settings
) -> None:
    refused = problem_of(toy(toy_registry, 16384, 16384, 1), toy_registry, toy_settings, CPU_4GB)
    assert (refused.node, refused.input) == ("latent", "width")
    assert "a latent of 16384x16384 pixels" in refused.message


@pytest.mark.parametrize(
    ("width", "batch", "culprit"), [(4096, 64, "batch_size"), (16384, 1, "width")]
)
def test_huge_images_are_refused_where_their_size_is_chosen(
    toy_registry: Registry, toy_settings: Settings, width: int, batch: int, culprit: str
) -> None:
    workflow = images(toy_registry, width, width, batch)
    refused = problem_of(workflow, toy_registry, toy_settings, CPU_4GB)
    assert (refused.code, refused.node, refused.input) == ("too_much_memory", "empty", culprit)
    assert "at node save (Save Image)" in refused.message


def test_the_estimate_grows_with_the_batch_and_counts_a_checkpoint_once(
    toy_registry: Registry, toy_settings: Settings
) -> None:
    def peak(batch: int) -> int:
        moments, _ = walk(toy(toy_registry, batch=batch), toy_registry, toy_settings, False)
        return max(m.total(CPU_4GB) for m in moments)

    assert peak(1) < peak(64) < peak(1024)
    moments, _ = walk(toy(toy_registry), toy_registry, toy_settings, False)
    weights = sum(weight_params(TOY).values()) * 4  # float32 on the CPU, three parts, one file
    assert {m.models for m in moments[1:]} == {weights}


def test_the_checkpoint_is_split_into_its_parts_from_its_header() -> None:
    parts = weight_params(TOY)
    assert parts["denoiser"] > parts["text"] > parts["vae"] > 0
    assert 4_000_000 < parts["denoiser"] < 4_500_000  # the toy UNet's 4.19M parameters


def test_on_a_gpu_the_vram_budget_bounds_weights_and_activations(
    toy_registry: Registry, toy_settings: Settings
) -> None:
    workflow = toy(toy_registry, batch=1024)
    roomy_gpu = Budget(ram=4 * GIB, vram=8 * GIB, accelerator=True)
    small_gpu = Budget(ram=4 * GIB, vram=256 * 1024**2, accelerator=True)
    assert admit(workflow, toy_registry, toy_settings, roomy_gpu) == []
    refused = problem_of(workflow, toy_registry, toy_settings, small_gpu)
    assert "more than the VRAM budget of 256 MiB" in refused.message


def test_a_prompt_over_the_token_limit_is_refused_naming_its_input(
    toy_registry: Registry, toy_settings: Settings
) -> None:
    long = toy(toy_registry, prompt="circle " * (MAX_PROMPT_TOKENS + 1))
    refused = problem_of(long, toy_registry, toy_settings, CPU_4GB)
    assert (refused.code, refused.node, refused.input) == ("over_limit", "prompt", "text")
    assert f"more than {MAX_PROMPT_TOKENS:,} tokens" in refused.message
    at_limit = toy(toy_registry, prompt="circle " * MAX_PROMPT_TOKENS)
    assert admit(at_limit, toy_registry, toy_settings, CPU_4GB) == []


def test_tokens_are_counted_as_used_not_as_characters(
    toy_registry: Registry, toy_settings: Settings
) -> None:
    spaces = toy(toy_registry, prompt="a red circle" + " " * 1_000_000)
    assert admit(spaces, toy_registry, toy_settings, CPU_4GB) == []
    assert least_tokens("a red, circle_2 日本", 100) == 4
    began = time.perf_counter()
    assert least_tokens("word " * 2_000_000, MAX_PROMPT_TOKENS) == MAX_PROMPT_TOKENS + 1
    assert time.perf_counter() - began < 0.05  # stops counting past the limit


def test_a_prompt_over_the_limit_that_reaches_the_node_is_refused_when_it_runs(
    toy_registry: Registry, toy_settings: Settings
) -> None:
    # Admission counts a lower bound; the node counts its tokenizer's real tokens.
    long = toy(toy_registry, prompt=", " * (MAX_PROMPT_TOKENS + 1))  # no word: 1 token each
    assert admit(long, toy_registry, toy_settings, CPU_4GB) == []
    result = Executor(toy_registry, toy_settings).run(long)
    assert result.status == "failed" and result.error is not None
    assert (result.error.node, result.error.input) == ("prompt", "text")
    assert f"at most {MAX_PROMPT_TOKENS:,} are encoded" in result.error.message


def test_too_many_nodes_are_refused_before_any_estimate(
    registry: Registry, settings: Settings
) -> None:
    chain = {"n0": {"type": "test.number", "inputs": {}}}
    for i in range(1, 30):
        chain[f"n{i}"] = {
            "type": "test.add",
            "inputs": {"a": {"node": f"n{i - 1}", "output": "value"}},
        }
    chain["out"] = {"type": "test.sink", "inputs": {"value": {"node": "n29", "output": "value"}}}
    workflow = Workflow.model_validate(
        {"format": "diffgraph.workflow", "version": 1, "nodes": chain}
    )
    [refused] = admit(workflow, registry, settings, CPU_4GB, max_nodes=20)
    assert refused.code == "too_many_nodes" and refused.node is None
    assert refused.message == "the workflow has 31 nodes; a job may have at most 20"
    assert admit(workflow, registry, settings, CPU_4GB, max_nodes=31) == []


def test_estimating_the_largest_allowed_graph_takes_milliseconds(
    toy_registry: Registry, toy_settings: Settings
) -> None:
    nodes: dict[str, Any] = {"img": {"type": "image.empty", "inputs": {"width": 64, "height": 64}}}
    for i in range(4998):
        source = "img" if i == 0 else f"inv{i - 1}"
        nodes[f"inv{i}"] = {
            "type": "image.invert",
            "inputs": {"image": {"node": source, "output": "image"}},
        }
    nodes["save"] = {
        "type": "image.save",
        "inputs": {"images": {"node": "inv4997", "output": "image"}},
    }
    workflow = to_workflow(
        {"format": "diffgraph.workflow", "version": 1, "nodes": nodes}, toy_registry
    )
    began = time.perf_counter()
    moments, _ = walk(workflow, toy_registry, toy_settings, False)
    assert time.perf_counter() - began < 1.0
    image = 64 * 64 * 3 * 4  # held: the input and the output of the running invert, no more
    assert max(m.held for m in moments) == 2 * image


@node("test.broken_estimate", title="Broken Estimate", category="test")
class BrokenEstimate:
    class Inputs(BaseModel):
        value: int = 1

    class Outputs(BaseModel):
        value: int

    @classmethod
    def cost(cls, given: CostInputs) -> NodeCost:
        raise KeyError("a bug in a pack's estimate")

    def run(self, inputs: Inputs, ctx: Any) -> Outputs:
        return self.Outputs(value=inputs.value)


def test_a_broken_estimate_does_not_keep_the_job_out(
    registry: Registry, settings: Settings
) -> None:
    spec = spec_of(BrokenEstimate)
    assert spec is not None
    registry.add(spec)
    workflow = Workflow.model_validate(
        {
            "format": "diffgraph.workflow",
            "version": 1,
            "nodes": {
                "n": {"type": "test.broken_estimate", "inputs": {}},
                "o": {"type": "test.sink", "inputs": {"value": {"node": "n", "output": "value"}}},
            },
        }
    )
    assert admit(workflow, registry, settings, CPU_4GB) == []


def test_admission_imports_no_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from engine.admission import admit;"
        "import nodes.footprints.costs, nodes.footprints.formulas;"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_networks_computing_in_half_precision_on_the_cpu_need_half_the_memory(
    toy_registry: Registry, toy_settings: Settings
) -> None:
    workflow = toy(toy_registry)
    wide = {m.node: m.cost for m in walk(workflow, toy_registry, toy_settings, False)[0]}
    half = {m.node: m.cost for m in walk(workflow, toy_registry, toy_settings, False, half=True)[0]}
    assert 2 * sum(half["ckpt"].models.values()) == sum(wide["ckpt"].models.values())
    assert half["sample"].working < wide["sample"].working  # activations halve, latents stay
