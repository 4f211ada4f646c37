"""Export the trained toy model as fp16 single files through our own Save Checkpoint code,
check that it loads and renders through the ordinary nodes, and write its model card."""

from __future__ import annotations

import copy
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.device import DevicePolicy
from engine.executor import Executor
from engine.model_store import ModelKey, ModelStore
from engine.registry import Registry
from engine.settings import Settings
from engine.types import Clip, Model, Vae
from engine.workflow import Link, Workflow, WorkflowNode
from nodes.ops.families.sd.loading import ROLES, load_checkpoint
from nodes.ops.families.sd.saving import save_checkpoint, save_controlnet
from nodes.ops.families.sd.standalone import load_controlnet
from nodes.ops.text.encoding import TextEncoder, TextEncoders
from training import toy_data, toy_eval
from training.toy_loop import RUN_DIR
from training.toy_parts import parts

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"
CHECKPOINT = MODELS / "checkpoints" / "diffgraph-toy.safetensors"
CONTROLNET = MODELS / "controlnet" / "diffgraph-toy-silhouette.safetensors"
CARD = MODELS / "MODEL_CARD.md"
SEEDS = (0, 100, 200, 300)


def port_values(unet: Any, text: Any, vae: Any) -> tuple[Model, Clip, Vae, ModelStore]:
    """Raw modules wrapped as a Load Checkpoint node's outputs (family sd1)."""
    store = ModelStore()
    name, pad, pooled = ROLES["sd1"]["text_encoder"]
    encoders = TextEncoders("sd1", [TextEncoder(name, text, pad, -1, True, pooled)])  # type: ignore[arg-type]

    def handle(part: str, value: Any) -> Any:
        return store.handle(ModelKey("toy", "sd1", "export", part), lambda: value)

    config = {"family": "sd1", "prediction_type": "epsilon", "patches": ()}
    return (
        Model(handle("unet", unet), config),
        Clip(handle("clip", encoders), config),
        Vae(handle("vae", vae), {}),
        store,
    )


def sample_grid(stage: str) -> None:
    """Renders of the evaluation captions (4 seeds per row) from a stage's EMA weights."""
    trained = parts(stage)
    scenes = toy_eval.eval_scenes(16, seed=77)
    captions = [s.caption for s in scenes for _ in range(4)]
    hints = None
    if stage == "controlnet":
        masks = [np.asarray(toy_data.draw(s)[1]) for s in scenes for _ in range(4)]
        hints = torch.from_numpy(np.stack(masks)).float().div(255)[..., None].expand(-1, -1, -1, 3)
    # Seed i of the batch is seed + i: every caption gets 4 different noises.
    images = toy_eval.render(trained, captions, seed=0, hints=hints)
    truth = np.stack([np.asarray(toy_data.draw(s)[0]) for s in scenes])
    rows = np.concatenate([truth[:, None], images.reshape(16, 4, 64, 64, 3)], axis=1)
    path = RUN_DIR / "samples" / f"grid_{stage}.png"
    toy_eval.save_grid(rows.reshape(-1, 64, 64, 3), path, cols=5)
    print(f"{path}: each row the drawn scene, then 4 renders of its caption:")
    for i, scene in enumerate(scenes):
        print(f"  row {i:2d}: {scene.caption}")
    print(json.dumps(toy_eval.score(images, [s for s in scenes for _ in range(4)])))


def evaluate(trained: dict[str, Any], count: int = 48) -> tuple[dict[str, float], np.ndarray]:
    """Attribute accuracy over `count` captions x 4 seeds, and the pictures."""
    scenes = toy_eval.eval_scenes(count, seed=2024)
    captions = [s.caption for s in scenes]
    images = np.concatenate([toy_eval.render(trained, captions, seed=s) for s in SEEDS])
    return toy_eval.score(images, scenes * len(SEEDS)), images


def control_iou(trained: dict[str, Any], count: int = 48) -> float:
    """Share of silhouette-conditioned renders with IoU >= 0.7 (count captions x 4 seeds)."""
    scenes = toy_eval.eval_scenes(count, seed=2025)
    rng = random.Random(5)
    drawn = [toy_data.draw(s, rng)[1] for s in scenes]
    masks = np.stack([np.asarray(m) for m in drawn])
    hints = torch.from_numpy(masks).float().div(255)[..., None].expand(-1, -1, -1, 3)
    hits = []
    for seed in SEEDS:
        images = toy_eval.render(trained, [s.caption for s in scenes], seed=seed, hints=hints)
        hits += [toy_eval.silhouette_iou(i, m) >= 0.7 for i, m in zip(images, masks, strict=True)]
    return float(np.mean(hits))


def workflow(prompt: str, seed: int, hint: str | None) -> Workflow:
    """txt2img through the ordinary nodes (a ControlNet on both prompts if `hint`)."""

    def link(node: str, output: str) -> Link:
        return Link(node=node, output=output)

    n = {
        "ckpt": WorkflowNode(type="sd.load_checkpoint", inputs={"ckpt_name": CHECKPOINT.name}),
        "pos": WorkflowNode(
            type="sd.encode_prompt", inputs={"text": prompt, "clip": link("ckpt", "clip")}
        ),
        "neg": WorkflowNode(
            type="sd.encode_prompt", inputs={"text": "", "clip": link("ckpt", "clip")}
        ),
        "empty": WorkflowNode(type="sd.empty_latent", inputs={"width": 64, "height": 64}),
    }
    positive, negative = link("pos", "conditioning"), link("neg", "conditioning")
    if hint is not None:
        n["hint"] = WorkflowNode(type="image.load", inputs={"image": hint})
        n["cn"] = WorkflowNode(
            type="sd.load_controlnet", inputs={"control_net_name": CONTROLNET.name}
        )
        n["apply"] = WorkflowNode(
            type="sd.apply_controlnet_advanced",
            inputs={
                "positive": positive,
                "negative": negative,
                "control_net": link("cn", "control_net"),
                "image": link("hint", "image"),
            },
        )
        positive, negative = link("apply", "positive"), link("apply", "negative")
    n["sample"] = WorkflowNode(
        type="sd.sample",
        inputs={
            "model": link("ckpt", "model"),
            "positive": positive,
            "negative": negative,
            "latent_image": link("empty", "latent"),
            "seed": seed,
            "steps": 20,
            "cfg": 7.0,
            "sampler_name": "euler",
            "scheduler": "normal",
        },
    )
    n["decode"] = WorkflowNode(
        type="sd.vae_decode",
        inputs={"samples": link("sample", "latent"), "vae": link("ckpt", "vae")},
    )
    return Workflow(nodes=n)


def through_nodes(reference: dict[str, Any]) -> dict[str, Any]:
    """Render with the ordinary workflow nodes (files loaded from models/) and compare with
    the fp32 EMA weights rendering the same caption and seed."""
    scenes = toy_eval.eval_scenes(6, seed=31)
    out: dict[str, Any] = {"txt2img": [], "controlnet": []}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.at(tmp, models_dir=MODELS, device="cpu", dtype="float32")
        settings.input_dir.mkdir(parents=True)
        executor = Executor(Registry.discover(plugins=False), settings)
        for i, scene in enumerate(scenes):
            hint = None
            if i % 2:  # every other one with its silhouette through the ControlNet
                mask = toy_data.draw(scene)[1]
                hint = f"hint{i}.png"
                Image.merge("RGB", [mask] * 3).save(settings.input_dir / hint)
            started = time.perf_counter()
            result = executor.run(workflow(scene.caption, 7 + i, hint), targets=["decode"])
            seconds = time.perf_counter() - started
            if result.status != "success":
                raise SystemExit(f"the workflow failed: {result.error or result.problems}")
            pixels = result.values["decode"]["image"].pixels[0].numpy()
            image = (pixels * 255).round().astype(np.uint8)
            hints = None
            if hint is not None:
                hints = torch.from_numpy(np.asarray(mask)).float().div(255)[None, ..., None]
                hints = hints.expand(-1, -1, -1, 3)
            direct = toy_eval.render(reference, [scene.caption], seed=7 + i, hints=hints)[0]
            record = {
                "caption": scene.caption,
                "seconds": round(seconds, 3),
                "mean_abs_diff_vs_fp32": round(float(np.abs(image / 255 - direct / 255).mean()), 5),
                "judged": toy_eval.judge(image),
            }
            if hint is not None:
                record["iou"] = round(toy_eval.silhouette_iou(image, np.asarray(mask)), 3)
            out["controlnet" if hint else "txt2img"].append(record)
            Image.fromarray(image).save(RUN_DIR / "samples" / f"nodes_{i}.png")
    return out


def export() -> None:
    """fp16 files under models/, checked: they load, render like the fp32 weights, score."""
    from training.toy_card import write_card

    torch.manual_seed(0)
    reference = parts("controlnet")
    half = {k: copy.deepcopy(reference[k]).half() for k in ("unet", "text", "vae", "controlnet")}
    model, clip, vae, store = port_values(half["unet"], half["text"], half["vae"])
    CHECKPOINT.parent.mkdir(parents=True, exist_ok=True)
    CONTROLNET.parent.mkdir(parents=True, exist_ok=True)
    for old in (CHECKPOINT, CONTROLNET):  # an export replaces the previous one
        old.unlink(missing_ok=True)
    save_checkpoint(CHECKPOINT, model, clip, vae, store)
    save_controlnet(CONTROLNET, half["controlnet"])
    print(
        f"wrote {CHECKPOINT} ({CHECKPOINT.stat().st_size / 1e6:.2f} MB), "
        f"{CONTROLNET} ({CONTROLNET.stat().st_size / 1e6:.2f} MB)"
    )

    devices = DevicePolicy("cpu", "float32")
    store = ModelStore()
    model, clip, vae = load_checkpoint(CHECKPOINT, store, devices)
    if model.config["family"] != "sd1":
        raise SystemExit(f"the checkpoint was detected as {model.config['family']}, not sd1")
    loaded = {
        "unet": model.handle.get(),
        "text": clip.handle.get().encoders[0].model,
        "vae": vae.handle.get(),
        "scale": float(model.config["latent_scale"]),
        "controlnet": load_controlnet(CONTROLNET, store, devices).handle.get(),
    }
    checks: dict[str, Any] = {"family": model.config["family"], "latent_scale": loaded["scale"]}
    scores32, images32 = evaluate(reference)
    scores16, images16 = evaluate(loaded)
    checks["fp32_scores"], checks["fp16_file_scores"] = scores32, scores16
    checks["fp16_vs_fp32_mean_abs_pixel_diff"] = float(
        np.abs(images16 / 255 - images32 / 255).mean()
    )
    checks["fp32_controlnet_iou_hits"] = control_iou(reference)
    checks["fp16_controlnet_iou_hits"] = control_iou(loaded)
    toy_eval.save_grid(images16[:48], RUN_DIR / "samples" / "export_fp16.png", cols=8)
    toy_eval.save_grid(images32[:48], RUN_DIR / "samples" / "export_fp32.png", cols=8)
    checks["nodes"] = through_nodes(reference)
    (RUN_DIR / "export_checks.json").write_text(json.dumps(checks, indent=1))
    print(json.dumps(checks, indent=1))
    write_card(checks)
    print(f"wrote {CARD}")
