"""Sampling nodes: turn noise (or a noised image) into a latent that matches the prompt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, Field

from engine.context import NodeContext, NodeInputError
from engine.node import Widget, node
from engine.types import Conditioning, Latent, Model
from nodes.footprints import costs
from nodes.footprints.formulas import hook

# Imported in the background once the server is up (`engine.warmup`); cheap once torch is in.
WARM_IMPORTS = ("nodes.ops.sampling.sample", "nodes.ops.text.encoding", "nodes.ops.pixels.vae")

# The one list of names; tests check they match the registries in nodes.ops.
SAMPLER_NAMES = (
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2",
    "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp",
    "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde",
    "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde",
    "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v", "deis", "res_multistep",
    "res_multistep_cfg_pp", "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp",
    "gradient_estimation", "gradient_estimation_cfg_pp", "er_sde", "seeds_2", "seeds_3",
    "exp_heun_2_x0", "exp_heun_2_x0_sde", "ddim", "uni_pc", "uni_pc_bh2",
)  # fmt: skip
SCHEDULER_NAMES = (
    "normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta",
    "linear_quadratic", "kl_optimal",
)  # fmt: skip
SEED_MAX = 2**64 - 1

Seed = Annotated[int, Widget(randomize=True)]
Steps = Annotated[int, Widget(step=1)]
Cfg = Annotated[float, Widget(step=0.1)]
SamplerName = Annotated[str, Widget(choices=SAMPLER_NAMES)]
SchedulerName = Annotated[str, Widget(choices=SCHEDULER_NAMES)]


class SamplerInputs(Protocol):
    """The inputs both Sample nodes share, under ComfyUI's names."""

    model: Model
    positive: Conditioning
    negative: Conditioning
    latent_image: Latent
    steps: int
    cfg: float
    sampler_name: str
    scheduler: str


def run_sampler(ctx: NodeContext, inputs: SamplerInputs, **settings: Any) -> Latent:
    """Sample `inputs.latent_image` with the shared inputs and a node's own `settings`
    (seed, denoise, step range...: see SampleSettings)."""
    from nodes.ops.families.patches import unet_in_use
    from nodes.ops.sampling.progress import reporter
    from nodes.ops.sampling.sample import SampleSettings, sample

    model, latent = inputs.model, inputs.latent_image

    shared = SampleSettings(
        steps=inputs.steps,
        cfg=inputs.cfg,
        sampler=inputs.sampler_name,
        scheduler=inputs.scheduler,
        **settings,
    )
    with unet_in_use(model, ctx.models, ctx.settings.compile) as unet:
        prompts = [("positive", inputs.positive), ("negative", inputs.negative)]
        check_fit(model, unet, latent, prompts)
        samples = sample(
            unet,
            dict(model.config),
            inputs.positive.parts,
            inputs.negative.parts,
            latent,
            shared,
            reporter(ctx, model.config),
        )
    return Latent(samples, latent.noise_mask, latent.batch_index)


def check_fit(
    model: Model, network: Any, latent: Latent, prompts: Sequence[tuple[str, Conditioning]]
) -> None:
    """Refuse, naming the input, a latent or a prompt the model cannot sample."""
    from nodes.ops.sampling.compatibility import latent_problem, prompt_problem

    problem = latent_problem(model.config, latent.samples)
    if problem:
        raise NodeInputError("latent_image", problem)
    for name, conditioning in prompts:
        problem = prompt_problem(model.config, network, conditioning.parts)
        if problem:
            raise NodeInputError(name, problem)


@node("sd.sample", title="Sample", category="sampling", comfy="KSampler")
class Sample:
    """Denoise a latent guided by the prompts: from pure noise (denoise 1) or part way
    from an encoded image (img2img, denoise < 1)."""

    class Inputs(BaseModel):
        model: Model
        seed: Seed = Field(0, ge=0, le=SEED_MAX)
        steps: Steps = Field(20, ge=1, le=10000)
        cfg: Cfg = Field(8.0, ge=0.0, le=100.0)
        sampler_name: SamplerName = "euler"
        scheduler: SchedulerName = "normal"
        positive: Conditioning
        negative: Conditioning
        latent_image: Latent
        denoise: Annotated[float, Widget(step=0.01, slider=True)] = Field(1.0, ge=0.0, le=1.0)

    class Outputs(BaseModel):
        latent: Latent

    cost = hook(costs.sampler)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        latent = run_sampler(ctx, inputs, seed=inputs.seed, denoise=inputs.denoise)
        return self.Outputs(latent=latent)


@node(
    "sd.sample_advanced", title="Sample (Advanced)", category="sampling", comfy="KSamplerAdvanced"
)
class SampleAdvanced:
    """Run only steps start..end of a schedule, optionally without adding noise first or
    leaving the remaining noise in: how SDXL's base hands over to the refiner."""

    class Inputs(BaseModel):
        model: Model
        add_noise: Literal["enable", "disable"] = "enable"
        noise_seed: Seed = Field(0, ge=0, le=SEED_MAX)
        steps: Steps = Field(20, ge=1, le=10000)
        cfg: Cfg = Field(8.0, ge=0.0, le=100.0)
        sampler_name: SamplerName = "euler"
        scheduler: SchedulerName = "normal"
        positive: Conditioning
        negative: Conditioning
        latent_image: Latent
        start_at_step: int = Field(0, ge=0, le=10000)
        end_at_step: int = Field(10000, ge=0, le=10000)
        return_with_leftover_noise: Literal["disable", "enable"] = "disable"

    class Outputs(BaseModel):
        latent: Latent

    cost = hook(costs.sampler)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        latent = run_sampler(
            ctx,
            inputs,
            seed=inputs.noise_seed,
            add_noise=inputs.add_noise == "enable",
            start_step=inputs.start_at_step,
            end_step=inputs.end_at_step,
            leave_noise=inputs.return_with_leftover_noise == "enable",
        )
        return self.Outputs(latent=latent)
