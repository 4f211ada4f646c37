"""GPU throughput: sampler iterations per second, diffgraph against diffusers' plain pipeline.

SD 1.5 at 512x512 and SDXL at 1024x1024, batch 1 and 4, 20 euler steps, cfg 7.5 (the prompt
and the negative in one UNet call on both sides). One UNet, built from the full-size configs
we ship (nodes/ops/families/sd/configs) with seeded random weights drawn straight on the
device, in fp16 on CUDA (fp32 on a CPU), serves both sides in the same process, or is read
from a checkpoint file that bench/make_random_checkpoint.py wrote (`--checkpoint`):

- diffgraph: `nodes.ops.sampling.sample.sample`, what the Sample node calls (scheduler
  sigmas, seeded noise, the guided denoiser over `UNetCall`, the euler sampler, the progress
  callback), with the prompts as Encode Prompt hands them over (float32, on the CPU);
- diffusers: `StableDiffusionPipeline` / `StableDiffusionXLPipeline` with the same UNet, an
  `EulerDiscreteScheduler`, the same prompt embeddings and `output_type="latent"`.

Runs alternate (diffgraph, diffusers, diffusers, diffgraph, ...) after one warm-up run each,
so a device that heats up or a neighbour that wakes up slows both. Iterations per second come
from each sampler's own step callbacks: a CUDA event recorded at the end of every step (no
wait), read after a single synchronise once the run is over; on a CPU, where every operation
has finished when it returns, the clock. The first step (one-off work: cuDNN's algorithm
choice, the scheduler's set-up) is left out: it/s = (steps - 1) / (end of the last step - end
of the first). The ratio diffgraph/diffusers pairs run i with run i: above 1, diffgraph is
faster.

Run: .venv/bin/python bench/gpu_throughput.py     (on a machine with a CUDA device)
     --families sd15,sdxl --batches 1,4 --steps 20 --repeats 5 [--device cuda] [--tiny]
     [--checkpoint sd15=/path/sd15_random.safetensors]
`--tiny` uses the tiny UNets of the tests at 64x64 (the CPU check CI runs; its figures mean
nothing for speed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is not installed

FAMILIES = {"sd15": ("sd1", 512), "sdxl": ("sdxl", 1024)}  # our family name, image side
TINY_SIDE = 64
CFG, SEED, TOKENS = 7.5, 1234, 77
TARGETS = {"sd15": 100.0, "sdxl": 20.0}  # issue 18, batch 1 on an H100-class GPU; and >= 2x


class StepClock:
    """The end of each sampler step, marked without waiting for the device."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.device = device
        self.marks: list[Any] = []

    def start(self) -> None:
        self.marks = []
        self.synchronize()  # nothing queued before the run counts

    def mark(self) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append(event)
        else:
            self.marks.append(perf_counter())

    def synchronize(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def rate(self) -> float:
        """Steps after the first per second (waits for the device once)."""
        self.synchronize()
        if len(self.marks) < 2:
            raise ValueError("at least 2 steps are needed to time one")
        if self.cuda:
            seconds = self.marks[0].elapsed_time(self.marks[-1]) / 1e3
        else:
            seconds = self.marks[-1] - self.marks[0]
        return (len(self.marks) - 1) / seconds


@dataclass
class Case:
    name: str  # sd15, sdxl
    family: str  # sd1, sdxl
    side: int  # image side in pixels
    batch: int
    ours: list[float] = field(default_factory=list)  # it/s per run
    theirs: list[float] = field(default_factory=list)


@dataclass
class Prompts:
    """Random prompt embeddings of the UNet's widths, as Encode Prompt hands them over."""

    embeds: torch.Tensor  # [2, tokens, width]: the prompt, the negative
    pooled: torch.Tensor | None  # [2, width] (SDXL)


def unet_config(family: str, tiny: bool) -> dict[str, Any]:
    if tiny:
        from tests.sd import tiny as tiny_models

        return tiny_models.unet_config(family)
    from nodes.ops.families.sd.shipped_configs import load_config

    return load_config(family, "unet")


def random_unet(config: dict[str, Any], device: torch.device, dtype: torch.dtype) -> Any:
    """A UNet with seeded weights of a sensible scale, allocated once, on the device."""
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(config).to(dtype)
    unet = unet.to_empty(device=device)
    generator = torch.Generator(device).manual_seed(0)
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if param.dim() <= 1:  # norms 1, biases 0: activations stay of order one in fp16
                param.fill_(1.0 if name.endswith("weight") else 0.0)
                continue
            std = param[0].numel() ** -0.5
            param.copy_(torch.randn(param.shape, generator=generator, device=device) * std)
    return unet.eval().requires_grad_(False)


def checkpoint_unet(path: Path, device: torch.device) -> Any:
    """The UNet of a checkpoint file, loaded by our Load Checkpoint code."""
    from engine.device import DevicePolicy
    from engine.model_store import ModelStore
    from nodes.ops.families.sd.loading import load_checkpoint

    model = load_checkpoint(path, ModelStore(), DevicePolicy(str(device)))[0]
    return model.handle.get()


def prompts(unet: Any) -> Prompts:
    config = unet.config
    width = config.cross_attention_dim
    width = int(width[0] if isinstance(width, list | tuple) else width)
    generator = torch.Generator().manual_seed(SEED)
    embeds = torch.randn(2, TOKENS, width, generator=generator)
    pooled = None
    if getattr(config, "addition_embed_type", None) == "text_time":
        ids = 6 * config.addition_time_embed_dim
        pooled = torch.randn(2, config.projection_class_embeddings_input_dim - ids)
    return Prompts(embeds, pooled)


def run_diffgraph(unet: Any, case: Case, p: Prompts, steps: int, clock: StepClock) -> None:
    from engine.types import ConditioningPart, Latent
    from nodes.ops.sampling.sample import SampleSettings, sample

    def part(i: int) -> ConditioningPart:
        pooled = None if p.pooled is None else p.pooled[i : i + 1]
        return ConditioningPart(p.embeds[i : i + 1], pooled)

    latent = Latent(torch.zeros(case.batch, 4, case.side // 8, case.side // 8))
    config = {"family": case.family, "prediction_type": "epsilon", "patches": ()}
    settings = SampleSettings(seed=SEED, steps=steps, cfg=CFG, sampler="euler", scheduler="normal")
    sample(unet, config, [part(0)], [part(1)], latent, settings, lambda *_: clock.mark())


def diffusers_pipeline(unet: Any, family: str) -> Any:
    """diffusers' plain pipeline around our UNet: no text encoders, no VAE (it is handed
    the prompt embeddings and returns latents)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline
    from diffusers import StableDiffusionXLPipeline as XL

    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    parts: dict[str, Any] = dict(vae=None, text_encoder=None, tokenizer=None, unet=unet)
    if family == "sdxl":
        pipe = XL(**parts, text_encoder_2=None, tokenizer_2=None, scheduler=scheduler)
    else:
        parts.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        pipe = StableDiffusionPipeline(**parts, scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run_diffusers(pipe: Any, case: Case, p: Prompts, steps: int, clock: StepClock) -> None:
    dtype, device = pipe.unet.dtype, pipe.unet.device
    embeds = p.embeds.to(device, dtype)
    kwargs: dict[str, Any] = {}
    if p.pooled is not None:
        pooled = p.pooled.to(device, dtype)
        kwargs = dict(pooled_prompt_embeds=pooled[:1], negative_pooled_prompt_embeds=pooled[1:])

    def on_step(*_: Any) -> dict[str, Any]:
        clock.mark()
        return {}

    pipe(
        prompt_embeds=embeds[:1], negative_prompt_embeds=embeds[1:], height=case.side,
        width=case.side, num_inference_steps=steps, guidance_scale=CFG,
        num_images_per_prompt=case.batch, generator=torch.Generator().manual_seed(SEED),
        output_type="latent", callback_on_step_end=on_step, **kwargs,
    )  # fmt: skip


def measure(unet: Any, case: Case, steps: int, repeats: int, clock: StepClock) -> None:
    """Interleaved runs of both sides on one case, after a warm-up run of each."""
    p, pipe = prompts(unet), diffusers_pipeline(unet, case.family)
    sides: list[tuple[list[float], Callable[[], None]]] = [
        (case.ours, lambda: run_diffgraph(unet, case, p, steps, clock)),
        (case.theirs, lambda: run_diffusers(pipe, case, p, steps, clock)),
    ]
    for _, run in sides:
        run()
    for i in range(repeats):
        for rates, run in sides[:: 1 if i % 2 == 0 else -1]:
            clock.start()
            run()
            rates.append(clock.rate())


def table(cases: Sequence[Case], steps: int) -> list[str]:
    head = ["model", "size", "batch", "diffgraph it/s", "diffusers it/s", "diffgraph/diffusers"]
    lines = ["| " + " | ".join(head) + " |", "|---" * 3 + "|--:" * 3 + "|"]
    for c in cases:
        ratios = [a / b for a, b in zip(c.ours, c.theirs, strict=True)]
        cells = [c.name, f"{c.side}x{c.side}", str(c.batch)]
        for values in (c.ours, c.theirs, ratios):
            cells.append(f"{statistics.median(values):.2f} (min {min(values):.2f})")
        lines.append("| " + " | ".join(cells) + " |")
    n = len(cases[0].ours) if cases else 0
    lines.append(f"\nmedian (min) over {n} interleaved runs, {steps} euler steps, cfg {CFG}")
    return lines


def verdicts(cases: Sequence[Case]) -> list[str]:
    """Issue 18's GPU targets, batch 1: absolute it/s and twice diffusers' pipeline."""
    out = []
    for c in (c for c in cases if c.batch == 1 and c.name in TARGETS):
        ours = statistics.median(c.ours)
        ratio = statistics.median(a / b for a, b in zip(c.ours, c.theirs, strict=True))
        hit = ours >= TARGETS[c.name] and ratio >= 2.0
        goal = f">= {TARGETS[c.name]:.0f} it/s and >= 2x diffusers"
        out.append(f"target {c.name} batch 1 {goal}: {'PASS' if hit else 'MISS'}")
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny UNets, 64x64")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--families", default="sd15,sdxl")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=FILE")
    args = parser.parse_args(argv)
    args.families = [f for f in args.families.split(",") if f]
    args.batches = [int(b) for b in args.batches.split(",") if b]
    unknown = set(args.families) - set(FAMILIES)
    if unknown or args.steps < 2 or args.repeats < 1 or not args.batches:
        parser.error(f"families from {sorted(FAMILIES)}, --steps >= 2, --repeats >= 1")
    args.checkpoint = dict(item.split("=", 1) for item in args.checkpoint)
    return args


def header(device: torch.device, dtype: torch.dtype, tiny: bool) -> list[str]:
    import diffusers

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    models = "tiny test UNets" if tiny else "full-size UNets, random weights"
    return [
        f"## Sampler throughput: {name}{threads}, {str(dtype).removeprefix('torch.')}, {models}",
        f"torch {torch.__version__}, diffusers {diffusers.__version__}\n",
    ]


def quiet() -> None:
    """No per-load notices in the table's output (diffusers' "kept in float32: []")."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet()
    device = torch.device(args.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    clock, cases = StepClock(device), []
    for name in args.families:
        family, side = FAMILIES[name]
        side = TINY_SIDE if args.tiny else side
        if name in args.checkpoint:
            unet = checkpoint_unet(Path(args.checkpoint[name]), device)
        else:
            unet = random_unet(unet_config(family, args.tiny), device, dtype)
        for batch in args.batches:
            cases.append(Case(name, family, side, batch))
            measure(unet, cases[-1], args.steps, args.repeats, clock)
        del unet
        if device.type == "cuda":
            torch.cuda.empty_cache()
    lines = header(device, dtype, args.tiny) + table(cases, args.steps)
    if device.type == "cuda" and not args.tiny:
        lines += verdicts(cases)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
