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
from training.toy_loop import RUN_DIR, Plan, descend, load_images, new_stage
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
    torch.manual_seed(0)
    vae_state = stage_state("vae")
    vae = trained_vae(vae_state)
    latents = training_latents(vae, vae_state["step"])
    data = load_images()
    masks = torch.from_numpy(data["masks"])
    unet, text = trained_unet()
    captions = CaptionTable(text, [by_caption()[c] for c in data["captions"]])
    controlnet = new_controlnet(unet).train()
    stage = new_stage("controlnet", {"controlnet": controlnet}, plan, seed=3)
    gen, noise_schedule = stage.generator, NoiseSchedule()

    def step(_: int) -> dict[str, float]:
        idx = torch.randint(0, len(latents), (plan.batch,), generator=gen)
        context = captions.context(idx.tolist())
        hint = (masks[idx].float() / 255.0)[:, None].expand(-1, 3, -1, -1)
        x0 = latents[idx]
        noise = torch.randn(x0.shape, generator=gen)
        t = noise_schedule.sample_t(plan.batch, gen)
        xt = noise_schedule.add_noise(x0, noise, t)
        down, mid = controlnet(xt, t, context, controlnet_cond=hint, return_dict=False)
        prediction = unet(
            xt, t, context, down_block_additional_residuals=down, mid_block_additional_residual=mid
        ).sample
        loss = F.mse_loss(prediction, noise)
        descend(stage, loss)
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


def by_caption() -> dict[str, toy_data.Scene]:
    return {s.caption: s for s in toy_data.all_scenes()}


class CaptionTable:
    """The frozen text encoder's output for every caption there is (computed once), and
    the captions a training batch gets: EMPTY_RATE of them empty (the silhouette alone must
    do, as the negative prompt gets it too), SHUFFLED_RATE with the geometry words shuffled
    (the silhouette must win over words that say otherwise), the rest as drawn."""

    def __init__(self, text: torch.nn.Module, scenes: list[toy_data.Scene]) -> None:
        self.scenes = scenes
        captions = ["", *by_caption()]
        self.row = {c: i for i, c in enumerate(captions)}
        with torch.no_grad():
            self.table = torch.cat(
                [
                    encode_text(text, token_ids(captions[i : i + 128]))
                    for i in range(0, len(captions), 128)
                ]
            )
        self.rng = random.Random(3)

    def context(self, items: list[int]) -> torch.Tensor:
        rows = []
        for i in items:
            r = self.rng.random()
            if r < EMPTY_RATE:
                caption = ""
            elif r < EMPTY_RATE + SHUFFLED_RATE:
                caption = geometry_shuffled(self.scenes[i], self.rng)
            else:
                caption = self.scenes[i].caption
            rows.append(self.row[caption])
        return self.table[rows]


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
