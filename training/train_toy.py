"""Train diffgraph's embedded toy text-to-image model the way Stable Diffusion is trained.

    python -m training.train_toy vae          # autoencoder, 64x64 pixels <-> 4x8x8 latents
    python -m training.train_toy unet         # CLIP text encoder + UNet, epsilon objective
    python -m training.train_toy controlnet   # silhouette ControlNet on the frozen model
    python -m training.train_toy export       # fp16 single files under models/ + model card
    python -m training.train_toy sample --stage unet   # a grid of renders to look at

Each stage saves its whole state to training/runs/toy/<stage>.pt every few hundred steps;
running it again continues from there (or does nothing when it has finished).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # shared CPUs: no spinning threads

import argparse
import copy
import json
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from training import toy_data, toy_eval
from training.toy_loop import RUN_DIR, Ema, LrSchedule, Stage, ThreadTuner, load_images
from training.toy_models import (
    NoiseSchedule,
    encode_text,
    new_controlnet,
    new_text_encoder,
    new_unet,
    new_vae,
    token_ids,
)
from training.toy_parts import (
    stage_state,
    trained_unet,
    trained_vae,
    training_latents,
)

DEFAULTS = {  # steps, batch, peak lr, warm-up steps
    "vae": (2200, 32, 1e-3, 100),
    "unet": (4000, 64, 8e-4, 200),
    "controlnet": (800, 64, 2e-4, 50),
}
KL_WEIGHT = 1e-6
UNCOND_RATE = 0.1


@dataclass(frozen=True)
class Plan:
    steps: int
    batch: int
    lr: float  # peak learning rate
    warmup: int
    eval_every: int  # 0: the stage's default
    threads: int  # 0: pick 1 or 2 by measuring, as the CPU is shared
    shape_weight: float = 4.0  # vae: extra weight of the pixels on and around the shape

    def tuner(self) -> ThreadTuner | None:
        if self.threads:
            torch.set_num_threads(self.threads)
            return None
        return ThreadTuner()


def optimizer(params: list[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.99), weight_decay=0.0)


def train_vae(plan: Plan) -> None:
    steps, batch, lr, warmup = plan.steps, plan.batch, plan.lr, plan.warmup
    torch.manual_seed(0)
    data = load_images()
    images, masks = torch.from_numpy(data["images"]), torch.from_numpy(data["masks"])
    vae = new_vae()
    opt = optimizer(list(vae.parameters()), lr)
    gen = torch.Generator().manual_seed(1)
    stage = Stage(
        "vae",
        {"vae": vae},
        opt,
        LrSchedule(lr, warmup, steps),
        Ema({"vae": vae}, 0.999),
        gen,
        tuner=plan.tuner(),
    )
    stage.extra.update(batch=batch, peak_lr=lr)

    def step(at: int) -> dict[str, float]:
        stage.extra.setdefault("shape_weight_from_step", {}).setdefault(plan.shape_weight, at)
        idx = torch.randint(0, len(images), (batch,), generator=gen)
        x = images[idx].permute(0, 3, 1, 2).float() / 127.5 - 1.0
        # The shape is a few percent of the pixels but all that matters: weigh it (and its
        # edges, the mask grown by 2 px) more, so small shapes keep their corners.
        near = F.max_pool2d(masks[idx][:, None].float() / 255.0, 5, stride=1, padding=2)
        weight = 1.0 + plan.shape_weight * near
        flip = (torch.rand(batch, generator=gen) < 0.5)[:, None, None, None]
        x = torch.where(flip, x.flip(-1), x)  # mirrored scenes are scenes too
        weight = torch.where(flip, weight.flip(-1), weight)
        weight = weight / weight.mean()
        with torch.autocast("cpu", torch.bfloat16):  # ~1.7x faster here, fp32 master weights
            posterior = vae.encode(x).latent_dist
            mean, logvar = posterior.mean.float(), posterior.logvar.float()
            z = mean + (0.5 * logvar).exp() * torch.randn(mean.shape, generator=gen)
            reconstruction = vae.decode(z).sample.float()
        error = reconstruction - x
        l1, mse = error.abs().mean(), error.pow(2).mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=(1, 2, 3)).mean()
        loss = (weight * (error.abs() + error.pow(2))).mean() + KL_WEIGHT * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        return {"loss": loss.item(), "l1": l1.item(), "mse": mse.item(), "kl": kl.item()}

    stage.run(step)
    if stage.extra.get("scaled_at") != stage.step:
        finish_vae(stage)


@torch.no_grad()
def finish_vae(stage: Stage) -> None:
    """Latent std over held-out scenes -> scaling_factor = 1 / std; a reconstruction grid."""
    vae = copy.deepcopy(stage.modules["vae"])
    vae.load_state_dict(stage.ema.shadow["vae"])
    vae.eval()
    fresh, _, _ = toy_data.dataset(4096, seed=99)
    x = torch.from_numpy(fresh).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    means = torch.cat([vae.encode(c).latent_dist.mean for c in x.split(256)])
    std = float(means.std())
    reconstruction = vae.decode(means[:32]).sample
    error = float((reconstruction - x[:32]).abs().mean())
    pictures = ((torch.cat([x[:16], reconstruction[:16]]) + 1) * 127.5).clamp(0, 255)
    toy_eval.save_grid(
        pictures.round().byte().permute(0, 2, 3, 1).numpy(),
        RUN_DIR / "samples" / "vae_reconstruction.png",
        cols=16,
        scale=3,
    )
    stage.extra.update(
        scaled_at=stage.step,
        scaling_factor=1.0 / std,
        latent_std=std,
        latent_mean=float(means.mean()),
        eval_l1=error,
    )
    stage.save()
    print(f"vae: latent std {std:.4f} -> scaling_factor {1 / std:.4f}; held-out L1 {error:.4f}")


def train_unet(plan: Plan) -> None:
    steps, batch, lr, warmup = plan.steps, plan.batch, plan.lr, plan.warmup
    torch.manual_seed(0)
    vae_state = stage_state("vae")
    vae = trained_vae(vae_state)
    latents = training_latents(vae, vae_state["step"])
    ids = token_ids(load_images()["captions"])
    empty = token_ids([""])[0]
    unet, text = new_unet(), new_text_encoder()
    params = [*unet.parameters(), *text.parameters()]
    opt = optimizer(params, lr)
    gen = torch.Generator().manual_seed(2)
    modules = {"unet": unet, "text": text}
    stage = Stage(
        "unet",
        modules,
        opt,
        LrSchedule(lr, warmup, steps),
        Ema(modules, 0.999),
        gen,
        tuner=plan.tuner(),
    )
    stage.extra.update(batch=batch, peak_lr=lr, scaling_factor=float(vae.config.scaling_factor))
    noise_schedule = NoiseSchedule()

    def step(_: int) -> dict[str, float]:
        idx = torch.randint(0, len(latents), (batch,), generator=gen)
        x0, caption_ids = latents[idx], ids[idx].clone()
        caption_ids[torch.rand(batch, generator=gen) < UNCOND_RATE] = empty  # for CFG
        noise = torch.randn(x0.shape, generator=gen)
        t = noise_schedule.sample_t(batch, gen)
        prediction = unet(
            noise_schedule.add_noise(x0, noise, t), t, encode_text(text, caption_ids)
        ).sample
        loss = F.mse_loss(prediction, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return {"loss": loss.item()}

    def evaluate(at: int) -> None:
        parts = {"vae": vae, "scale": float(vae.config.scaling_factor)}
        for name, module in modules.items():
            parts[name] = copy.deepcopy(module).eval()
            parts[name].load_state_dict(stage.ema.shadow[name])
        scenes = toy_eval.eval_scenes()
        images = toy_eval.render(parts, [s.caption for s in scenes], seed=at)
        scores = toy_eval.score(images, scenes)
        stage.log({"step": at, "eval": scores})
        print(f"unet step {at}: {json.dumps(scores)}", flush=True)
        toy_eval.save_grid(images, RUN_DIR / "samples" / f"unet_{at:05d}.png", cols=8)

    stage.run(step, evaluate, every_steps=plan.eval_every or 500)


def geometry_shuffled(scene: toy_data.Scene, rng: random.Random) -> str:
    """The caption with another shape, size and place (colours kept): the silhouette must
    win over the words when they disagree."""
    return toy_data.Scene(
        rng.choice(toy_data.SHAPES),
        scene.color,
        rng.choice(["small", "large"]),
        rng.choice(list(toy_data.POSITIONS)),
        scene.background,
    ).caption


def train_controlnet(plan: Plan) -> None:
    steps, batch, lr, warmup = plan.steps, plan.batch, plan.lr, plan.warmup
    torch.manual_seed(0)
    vae_state = stage_state("vae")
    vae = trained_vae(vae_state)
    latents = training_latents(vae, vae_state["step"])
    data = load_images()
    masks = torch.from_numpy(data["masks"])
    unet, text = trained_unet()
    by_caption = {s.caption: s for s in toy_data.all_scenes()}
    table_captions = ["", *by_caption]
    row = {c: i for i, c in enumerate(table_captions)}
    with torch.no_grad():  # the frozen encoder's output for every caption there is
        table = torch.cat(
            [
                encode_text(text, token_ids(table_captions[i : i + 128]))
                for i in range(0, len(table_captions), 128)
            ]
        )
    scenes = [by_caption[c] for c in data["captions"]]
    controlnet = new_controlnet(unet).train()
    opt = optimizer(list(controlnet.parameters()), lr)
    gen = torch.Generator().manual_seed(3)
    rng = random.Random(3)
    modules = {"controlnet": controlnet}
    stage = Stage(
        "controlnet",
        modules,
        opt,
        LrSchedule(lr, warmup, steps),
        Ema(modules, 0.999),
        gen,
        tuner=plan.tuner(),
    )
    stage.extra.update(batch=batch, peak_lr=lr)
    noise_schedule = NoiseSchedule()

    def step(_: int) -> dict[str, float]:
        idx = torch.randint(0, len(latents), (batch,), generator=gen)
        rows = []
        for i in idx.tolist():
            r = rng.random()
            caption = (
                ""
                if r < 0.15
                else (geometry_shuffled(scenes[i], rng) if r < 0.5 else scenes[i].caption)
            )
            rows.append(row[caption])
        context = table[rows]
        hint = (masks[idx].float() / 255.0)[:, None].expand(-1, 3, -1, -1)
        x0 = latents[idx]
        noise = torch.randn(x0.shape, generator=gen)
        t = noise_schedule.sample_t(batch, gen)
        xt = noise_schedule.add_noise(x0, noise, t)
        down, mid = controlnet(xt, t, context, controlnet_cond=hint, return_dict=False)
        prediction = unet(
            xt, t, context, down_block_additional_residuals=down, mid_block_additional_residual=mid
        ).sample
        loss = F.mse_loss(prediction, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(controlnet.parameters(), 1.0)
        opt.step()
        return {"loss": loss.item()}

    def evaluate(at: int) -> None:
        net = copy.deepcopy(controlnet).eval()
        net.load_state_dict(stage.ema.shadow["controlnet"])
        parts = {
            "vae": vae,
            "unet": unet,
            "text": text,
            "controlnet": net,
            "scale": float(vae.config.scaling_factor),
        }
        result = evaluate_control(parts, seed=at)
        stage.log({"step": at, "eval": result})
        print(f"controlnet step {at}: {json.dumps(result)}", flush=True)

    stage.run(step, evaluate, every_steps=plan.eval_every or 200)


def evaluate_control(parts: dict[str, object], seed: int, count: int = 48) -> dict[str, float]:
    """Share of renders whose silhouette IoU with the hint is >= 0.7, with the caption's
    own geometry and with shuffled geometry words; and the colours' accuracy."""
    rng = random.Random(seed)
    scenes = toy_eval.eval_scenes(count, seed=4321)
    drawn = [toy_data.draw(s, rng) for s in scenes]
    masks = np.stack([np.asarray(m) for _, m in drawn])
    hints = torch.from_numpy(masks).float().div(255)[..., None].expand(-1, -1, -1, 3)
    result: dict[str, float] = {}
    for name, captions in (
        ("same", [s.caption for s in scenes]),
        ("shuffled", [geometry_shuffled(s, rng) for s in scenes]),
    ):
        images = toy_eval.render(parts, captions, seed=seed, hints=hints)
        ious = [toy_eval.silhouette_iou(i, m) for i, m in zip(images, masks, strict=True)]
        result[f"iou_{name}"] = float(np.mean(np.array(ious) >= 0.7))
        colours = toy_eval.score(images, scenes)
        result[f"color_{name}"] = colours["color"]
        result[f"background_{name}"] = colours["background"]
        toy_eval.save_grid(images, RUN_DIR / "samples" / f"controlnet_{name}.png", cols=8)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=[*DEFAULTS, "export", "sample"])
    parser.add_argument("--steps", type=int, help="total optimizer steps of the stage")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--threads", type=int, default=0, help="0: 1 or 2, whichever is faster")
    parser.add_argument("--shape-weight", type=float, default=4.0, help="vae: shape pixels' weight")
    parser.add_argument("--eval-every", type=int, default=0, help="steps between evaluations")
    parser.add_argument(
        "--of",
        default="unet",
        choices=["unet", "controlnet"],
        help="sample: which stage's weights to render",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads or 2)
    if args.stage == "export":
        from training.toy_export import export

        export()
        return
    if args.stage == "sample":
        from training.toy_export import sample_grid

        sample_grid(args.of)
        return
    steps, batch, lr, warmup = DEFAULTS[args.stage]
    train = {"vae": train_vae, "unet": train_unet, "controlnet": train_controlnet}[args.stage]
    plan = Plan(
        args.steps or steps,
        args.batch or batch,
        args.lr or lr,
        warmup,
        args.eval_every,
        args.threads,
    )
    train(plan)


if __name__ == "__main__":
    main()
