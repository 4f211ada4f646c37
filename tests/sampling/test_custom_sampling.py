"""ComfyUI's custom-sampling nodes (noise, sampler, sigmas and guider as nodes of their own)
on the embedded toy model: put together they sample exactly what KSampler samples."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import Link, Workflow, WorkflowNode
from tests.conftest import REPO

CHECKPOINT = REPO / "models" / "checkpoints" / "diffgraph-toy.safetensors"
pytestmark = pytest.mark.skipif(not CHECKPOINT.is_file(), reason="the toy model is missing")
PROMPT = "a large red circle on the left, blue background"


def link(node: str, output: str) -> Link:
    return Link(node=node, output=output)


def shared(batch: int = 2) -> dict[str, WorkflowNode]:
    n = WorkflowNode
    return {
        "ckpt": n(type="sd.load_checkpoint", inputs={"ckpt_name": CHECKPOINT.name}),
        "pos": n(type="sd.encode_prompt", inputs={"text": PROMPT, "clip": link("ckpt", "clip")}),
        "neg": n(type="sd.encode_prompt", inputs={"text": "", "clip": link("ckpt", "clip")}),
        "latent": n(
            type="sd.empty_latent", inputs={"width": 64, "height": 64, "batch_size": batch}
        ),
    }


def ksampler(seed: int, **settings: Any) -> WorkflowNode:
    inputs = {
        "model": link("ckpt", "model"),
        "positive": link("pos", "conditioning"),
        "negative": link("neg", "conditioning"),
        "latent_image": link("latent", "latent"),
        "seed": seed,
        **settings,
    }
    return WorkflowNode(type="sd.sample", inputs=inputs)


def custom_nodes(seed: int, guider: str = "sampling.cfg_guider", **s: Any) -> dict[str, Any]:
    n = WorkflowNode
    guide: dict[str, Any] = {"model": link("ckpt", "model")}
    if guider == "sampling.cfg_guider":
        guide |= {"positive": link("pos", "conditioning"), "negative": link("neg", "conditioning")}
        guide["cfg"] = s["cfg"]
    else:
        guide["conditioning"] = link("pos", "conditioning")
    scheduler = {"model": link("ckpt", "model"), "scheduler": s["scheduler"], "steps": s["steps"]}
    return {
        "noise": n(type="sampling.random_noise", inputs={"noise_seed": seed}),
        "sampler": n(type="sampling.select_sampler", inputs={"sampler_name": s["sampler_name"]}),
        "sigmas": n(type="sampling.basic_scheduler", inputs=scheduler | {"denoise": 1.0}),
        "guider": n(type=guider, inputs=guide),
        "custom": n(
            type="sampling.custom_advanced",
            inputs={
                "noise": link("noise", "noise"),
                "guider": link("guider", "guider"),
                "sampler": link("sampler", "sampler"),
                "sigmas": link("sigmas", "sigmas"),
                "latent_image": link("latent", "latent"),
            },
        ),
    }


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Executor:
    home = tmp_path_factory.mktemp("home")
    settings = Settings.at(home, models_dir=REPO / "models", threads=1)
    return Executor(Registry.discover(plugins=False), settings)


def latents(executor: Executor, nodes: dict[str, WorkflowNode], target: str) -> Any:
    result = executor.run(Workflow(nodes=nodes), targets=[target])
    assert result.status == "success", result.error or result.problems
    return result.values[target]


@pytest.mark.parametrize("sampler_name", ["euler", "dpmpp_2m", "euler_ancestral"])
def test_the_custom_nodes_sample_what_ksampler_samples(
    executor: Executor, sampler_name: str
) -> None:
    settings = {"steps": 8, "cfg": 6.0, "sampler_name": sampler_name, "scheduler": "karras"}
    expected = latents(executor, shared() | {"k": ksampler(7, **settings)}, "k")["latent"]
    custom = latents(executor, shared() | custom_nodes(7, **settings), "custom")
    assert torch.equal(custom["output"].samples, expected.samples)


def test_the_basic_guider_is_ksampler_at_cfg_1(executor: Executor) -> None:
    settings = {"steps": 6, "cfg": 1.0, "sampler_name": "euler", "scheduler": "normal"}
    expected = latents(executor, shared() | {"k": ksampler(3, **settings)}, "k")["latent"]
    nodes = shared() | custom_nodes(3, guider="sampling.basic_guider", **settings)
    assert torch.equal(latents(executor, nodes, "custom")["output"].samples, expected.samples)


def test_denoised_output_is_the_last_estimate_of_the_clean_latent(executor: Executor) -> None:
    settings = {"steps": 6, "cfg": 6.0, "sampler_name": "euler", "scheduler": "normal"}
    out = latents(executor, shared() | custom_nodes(5, **settings), "custom")
    # Sigmas ending at 0: Euler's last step lands on the estimate.
    torch.testing.assert_close(out["denoised_output"].samples, out["output"].samples)


def test_disabled_noise_is_sampler_custom_without_noise(executor: Executor) -> None:
    settings = {"steps": 4, "cfg": 6.0, "sampler_name": "euler", "scheduler": "normal"}
    nodes = shared(batch=1) | custom_nodes(5, **settings)
    nodes["noise"] = WorkflowNode(type="sampling.disable_noise", inputs={})
    advanced = latents(executor, nodes, "custom")["output"].samples
    nodes["plain"] = WorkflowNode(
        type="sampling.custom",
        inputs={
            "model": link("ckpt", "model"),
            "add_noise": False,
            "noise_seed": 123,  # unused: no noise is drawn
            "cfg": 6.0,
            "positive": link("pos", "conditioning"),
            "negative": link("neg", "conditioning"),
            "sampler": link("sampler", "sampler"),
            "sigmas": link("sigmas", "sigmas"),
            "latent_image": link("latent", "latent"),
        },
    )
    assert torch.equal(latents(executor, nodes, "plain")["output"].samples, advanced)


def test_basic_scheduler_gives_the_last_steps_of_a_longer_schedule_below_denoise_1(
    executor: Executor,
) -> None:
    def sigmas(denoise: float, steps: int) -> Any:
        scheduler = {"model": link("ckpt", "model"), "scheduler": "normal", "steps": steps}
        node = WorkflowNode(
            type="sampling.basic_scheduler", inputs=scheduler | {"denoise": denoise}
        )
        return latents(executor, shared() | {"s": node}, "s")["sigmas"].values

    full, half = sigmas(1.0, 10), sigmas(0.5, 5)
    assert len(half) == 6 and float(half[-1]) == 0.0
    assert float(half[0]) < float(full[0])


def test_a_latent_of_another_family_is_refused_before_sampling(executor: Executor) -> None:
    settings = {"steps": 4, "cfg": 6.0, "sampler_name": "euler", "scheduler": "normal"}
    nodes = shared() | {"k": ksampler(1, **settings)}
    nodes["latent"] = WorkflowNode(
        type="sd.empty_latent_sd3", inputs={"width": 64, "height": 64, "batch_size": 1}
    )
    result = executor.run(Workflow(nodes=nodes), targets=["k"])
    assert result.status == "failed" and result.error is not None
    assert (result.error.node, result.error.input) == ("k", "latent_image")
    assert "16 channels" in result.error.message and "4-channel" in result.error.message
    assert "Empty Latent" in result.error.message


def test_beta_sampling_scheduler_is_the_beta_scheduler_with_its_shape(executor: Executor) -> None:
    def sigmas(**shape: float) -> Any:
        inputs: dict[str, Any] = {"model": link("ckpt", "model"), "steps": 8} | shape
        node = WorkflowNode(type="sampling.beta_scheduler", inputs=inputs)
        return latents(executor, shared() | {"s": node}, "s")["sigmas"].values

    scheduler = {"model": link("ckpt", "model"), "scheduler": "beta", "steps": 8, "denoise": 1.0}
    basic = WorkflowNode(type="sampling.basic_scheduler", inputs=scheduler)
    assert torch.equal(sigmas(), latents(executor, shared() | {"b": basic}, "b")["sigmas"].values)
    # Beta(3, 3) puts few steps at the ends: its first step goes further down than
    # Beta(0.6, 0.6)'s, which lingers near the top.
    default, middle = sigmas(), sigmas(alpha=3.0, beta=3.0)
    assert float(middle[1]) < float(default[1])
    refused = WorkflowNode(
        type="sampling.beta_scheduler",
        inputs={"model": link("ckpt", "model"), "steps": 8, "alpha": 0.0, "beta": 0.6},
    )
    result = executor.run(Workflow(nodes=shared() | {"s": refused}), targets=["s"])
    assert result.status == "invalid"
    assert [(p.node, p.input) for p in result.problems] == [("s", "alpha")]
