"""The VAE stage and the UNet + text encoder stage (see train_toy for the commands)."""

from __future__ import annotations

import copy
import json

import torch
import torch.nn.functional as F

from training import toy_data, toy_eval
from training.toy_loop import RUN_DIR, Plan, Stage, descend, load_images, new_stage
from training.toy_models import (
    NoiseSchedule,
    encode_text,
    new_text_encoder,
    new_unet,
    new_vae,
    token_ids,
)
from training.toy_parts import stage_state, trained_vae, training_latents

KL_WEIGHT = 1e-6
UNCOND_RATE = 0.1  # empty captions, for classifier-free guidance


def train_vae(plan: Plan) -> None:
    batch = plan.batch
    torch.manual_seed(0)
    data = load_images()
    images, masks = torch.from_numpy(data["images"]), torch.from_numpy(data["masks"])
    vae = new_vae()
    stage = new_stage("vae", {"vae": vae}, plan, seed=1)
    gen = stage.generator

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
        descend(stage, loss)
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
    batch = plan.batch
    torch.manual_seed(0)
    vae_state = stage_state("vae")
    vae = trained_vae(vae_state)
    latents = training_latents(vae, vae_state["step"])
    ids = token_ids(load_images()["captions"])
    empty = token_ids([""])[0]
    unet, text = new_unet(), new_text_encoder()
    modules = {"unet": unet, "text": text}
    stage = new_stage("unet", modules, plan, seed=2)
    stage.extra.update(scaling_factor=float(vae.config.scaling_factor))
    gen = stage.generator
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
        descend(stage, loss)
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
