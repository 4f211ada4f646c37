"""Sampling in parts, as ComfyUI's custom-sampling nodes split it (its Flux examples use
them): the noise, the sampler algorithm, the sigmas and the guider are chosen by nodes of
their own, and SamplerCustomAdvanced puts them together. They work for every family."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, Field

from engine.context import NodeContext
from engine.node import Widget, node
from engine.types import (
    Conditioning,
    Guider,
    Latent,
    Model,
    Noise,
    SamplerChoice,
    Sigmas,
)
from nodes.footprints import costs
from nodes.footprints.formulas import hook
from nodes.sd_sampling import SEED_MAX, Cfg, SamplerName, SchedulerName, Seed, Steps, check_fit

Denoise = Annotated[float, Widget(step=0.01)]
Shape = Annotated[float, Widget(step=0.01)]


@node(
    "sampling.random_noise",
    title="Random Noise",
    category="sampling/custom_sampling/noise",
    comfy="RandomNoise",
)
class RandomNoise:
    """Gaussian starting noise from a seed (each batch item from seed + its index)."""

    class Inputs(BaseModel):
        noise_seed: Seed = Field(0, ge=0, le=SEED_MAX)

    class Outputs(BaseModel):
        noise: Noise

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(noise=Noise(inputs.noise_seed))


@node(
    "sampling.disable_noise",
    title="Disable Noise",
    category="sampling/custom_sampling/noise",
    comfy="DisableNoise",
)
class DisableNoise:
    """No starting noise: the latent is sampled as it is (one left noisy on purpose)."""

    class Inputs(BaseModel):
        pass

    class Outputs(BaseModel):
        noise: Noise

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(noise=Noise(None))


@node(
    "sampling.select_sampler",
    title="Select Sampler",
    category="sampling/custom_sampling/samplers",
    comfy="KSamplerSelect",
)
class SelectSampler:
    class Inputs(BaseModel):
        sampler_name: SamplerName = "euler"

    class Outputs(BaseModel):
        sampler: SamplerChoice

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(sampler=SamplerChoice(inputs.sampler_name))


@node(
    "sampling.basic_scheduler",
    title="Basic Scheduler",
    category="sampling/custom_sampling/schedulers",
    comfy="BasicScheduler",
)
class BasicScheduler:
    """The sigmas of `steps` steps of the model's schedule (the last steps of a longer
    schedule when denoise < 1, as img2img starts part way down)."""

    class Inputs(BaseModel):
        model: Model
        scheduler: SchedulerName = "simple"
        steps: Steps = Field(20, ge=1, le=10000)
        denoise: Denoise = Field(1.0, ge=0.0, le=1.0)

    class Outputs(BaseModel):
        sigmas: Sigmas

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.sampling.sample import SampleSettings, model_schedule, sigmas_for

        settings = SampleSettings(
            seed=0,
            steps=inputs.steps,
            cfg=1.0,
            sampler="euler",
            scheduler=inputs.scheduler,
            denoise=inputs.denoise,
        )
        sigmas = sigmas_for(model_schedule(inputs.model.config), settings)
        return self.Outputs(sigmas=Sigmas(sigmas))


@node(
    "sampling.beta_scheduler",
    title="Beta Sampling Scheduler",
    category="sampling/custom_sampling/schedulers",
    comfy="BetaSamplingScheduler",
)
class BetaSamplingScheduler:
    """The beta scheduler with its shape chosen: timesteps at the quantiles of
    Beta(alpha, beta) (below 1: dense at that end; the `beta` scheduler is 0.6, 0.6)."""

    class Inputs(BaseModel):
        model: Model
        steps: Steps = Field(20, ge=1, le=10000)
        # ComfyUI's minimum is 0, where the distribution does not exist: refused here.
        alpha: Shape = Field(0.6, gt=0.0, le=50.0)
        beta: Shape = Field(0.6, gt=0.0, le=50.0)

    class Outputs(BaseModel):
        sigmas: Sigmas

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.sampling.sample import model_schedule
        from nodes.ops.sampling.schedules import get_sigmas_beta

        schedule = model_schedule(inputs.model.config)
        sigmas = get_sigmas_beta(schedule, inputs.steps, inputs.alpha, inputs.beta)
        return self.Outputs(sigmas=Sigmas(sigmas))


@node(
    "sampling.basic_guider",
    title="Basic Guider",
    category="sampling/custom_sampling/guiders",
    comfy="BasicGuider",
)
class BasicGuider:
    """The prompt alone, no negative (CFG 1): what guidance-distilled models such as
    Flux dev and schnell are sampled with."""

    class Inputs(BaseModel):
        model: Model
        conditioning: Conditioning

    class Outputs(BaseModel):
        guider: Guider

    cost = hook(costs.guider)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(guider=Guider(inputs.model, inputs.conditioning))


@node(
    "sampling.cfg_guider",
    title="CFG Guider",
    category="sampling/custom_sampling/guiders",
    comfy="CFGGuider",
)
class CfgGuider:
    """Classifier-free guidance: uncond + cfg * (cond - uncond)."""

    class Inputs(BaseModel):
        model: Model
        positive: Conditioning
        negative: Conditioning
        cfg: Cfg = Field(8.0, ge=0.0, le=100.0)

    class Outputs(BaseModel):
        guider: Guider

    cost = hook(costs.guider)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        guider = Guider(inputs.model, inputs.positive, inputs.negative, inputs.cfg)
        return self.Outputs(guider=guider)


@node(
    "sampling.custom_advanced",
    title="Sampler (Custom, Advanced)",
    category="sampling/custom_sampling",
    comfy="SamplerCustomAdvanced",
)
class SamplerCustomAdvanced:
    """Sample a latent with the given noise, guider, sampler and sigmas. `denoised_output`
    is the last step's estimate of the clean latent (the same as `output` when the sigmas
    end at 0)."""

    class Inputs(BaseModel):
        noise: Noise
        guider: Guider
        sampler: SamplerChoice
        sigmas: Sigmas
        latent_image: Latent

    class Outputs(BaseModel):
        output: Latent
        denoised_output: Latent

    cost = hook(costs.guided_sampler)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        i = inputs
        prompts = [("guider", i.guider.positive)]
        if i.guider.negative is not None:
            prompts.append(("guider", i.guider.negative))
        output, denoised = custom_sample(
            ctx, i.guider, i.noise, i.sampler, i.sigmas, i.latent_image, prompts
        )
        return self.Outputs(output=output, denoised_output=denoised)


@node(
    "sampling.custom",
    title="Sampler (Custom)",
    category="sampling/custom_sampling",
    comfy="SamplerCustom",
)
class SamplerCustom:
    """Sample a latent with a chosen sampler and sigmas, CFG against the negative."""

    class Inputs(BaseModel):
        model: Model
        add_noise: bool = True
        noise_seed: Seed = Field(0, ge=0, le=SEED_MAX)
        cfg: Cfg = Field(8.0, ge=0.0, le=100.0)
        positive: Conditioning
        negative: Conditioning
        sampler: SamplerChoice
        sigmas: Sigmas
        latent_image: Latent

    class Outputs(BaseModel):
        output: Latent
        denoised_output: Latent

    cost = hook(costs.sampler)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        i = inputs
        guider = Guider(i.model, i.positive, i.negative, i.cfg)
        noise = Noise(i.noise_seed if i.add_noise else None)
        prompts = [("positive", i.positive), ("negative", i.negative)]
        output, denoised = custom_sample(
            ctx, guider, noise, i.sampler, i.sigmas, i.latent_image, prompts
        )
        return self.Outputs(output=output, denoised_output=denoised)


def custom_sample(
    ctx: NodeContext,
    guider: Guider,
    noise: Noise,
    sampler: SamplerChoice,
    sigmas: Sigmas,
    latent: Latent,
    prompts: Sequence[tuple[str, Conditioning]],
) -> tuple[Latent, Latent]:
    """(the sampled latent, the last step's estimate of the clean one). `prompts` names
    the input each of the guider's prompts came through, for errors."""
    from nodes.ops.families.patches import unet_in_use
    from nodes.ops.sampling.progress import reporter
    from nodes.ops.sampling.sample import Guidance, denoise_latent

    model = guider.model
    negative = guider.negative.parts if guider.negative is not None else ()
    guidance = Guidance(guider.positive.parts, negative, guider.cfg if negative else 1.0)
    with unet_in_use(model, ctx.models, ctx.settings.compile) as network:
        check_fit(model, network, latent, prompts)
        samples, denoised = denoise_latent(
            network,
            model.config,
            guidance,
            latent,
            sigmas.values,
            sampler.name,
            seed=noise.seed or 0,
            add_noise=noise.seed is not None,
            progress=reporter(ctx, model.config),
        )
    keep = (latent.noise_mask, latent.batch_index)
    return Latent(samples, *keep), Latent(denoised, *keep)
