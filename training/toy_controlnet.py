"""The ControlNet stage: a silhouette ControlNet trained on the frozen UNet and text
encoder, with the same noise objective."""

from __future__ import annotations

import copy
import json
import random

import numpy as np
import torch
import torch.nn.functional as F

from training import toy_data, toy_eval
from training.toy_loop import RUN_DIR, Ema, LrSchedule, Plan, Stage, load_images, optimizer
from training.toy_models import NoiseSchedule, encode_text, new_controlnet, token_ids
from training.toy_parts import stage_state, trained_unet, trained_vae, training_latents

EMPTY_RATE, SHUFFLED_RATE = 0.2, 0.25  # of the captions: empty, with shuffled geometry


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
            r = rng.random()  # the silhouette alone must do (the negative prompt gets it
            # too), and it must win over words that say otherwise
            if r < EMPTY_RATE:
                caption = ""
            elif r < EMPTY_RATE + SHUFFLED_RATE:
                caption = geometry_shuffled(scenes[i], rng)
            else:
                caption = scenes[i].caption
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
