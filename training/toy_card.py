"""models/MODEL_CARD.md, written from the stages' saved states, logs and the export checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.toy_controlnet import EMPTY_RATE, SHUFFLED_RATE
from training.toy_data import all_scenes
from training.toy_export import CARD, CHECKPOINT, CONTROLNET, REPO
from training.toy_loop import DATA_COUNT, DATA_SEED, RUN_DIR
from training.toy_models import (
    CONTROL_EMBEDDING,
    POSITION_INIT_STD,
    TOKEN_INIT_STD,
    UNET_CONFIG,
    VAE_CONFIG,
    new_controlnet,
    new_text_encoder,
    new_unet,
    new_vae,
    param_count,
    text_config,
)
from training.toy_parts import stage_state


def last_losses(stage: str) -> dict[str, float]:
    """The last logged loss record of a stage (a mean over its last 50 steps)."""
    lines = (RUN_DIR / f"{stage}.log.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    last = [r for r in records if "eval" not in r][-1]
    return {k: round(v, 4) for k, v in last.items() if k not in ("step", "lr", "seconds")}


def stage_line(name: str) -> str:
    state = stage_state(name)
    extra = state["extra"]
    return (
        f"| {name} | {state['step']} | {extra.get('batch', '?')} | {extra.get('peak_lr', '?')} "
        f"| {state['seconds'] / 60:.1f} min | {json.dumps(last_losses(name))} |"
    )


def commands() -> str:
    """The commands that reproduce the shipped run, step counts spelled out."""
    run = ".venv/bin/python -m training.train_toy"
    lines = []
    vae = stage_state("vae")
    starts = vae["extra"].get("shape_weight_from_step", {})
    for weight, start in sorted(starts.items(), key=lambda kv: kv[1]):
        if start > 0 and not lines:  # trained without shape weighting up to there
            lines.append(f"{run} vae --steps {start} --shape-weight 0")
        lines.append(f"{run} vae --steps {vae['step']} --shape-weight {weight:g}")
    lines += [
        f"{run} {name} --steps {stage_state(name)['step']}" for name in ("unet", "controlnet")
    ]
    return "\n".join(lines)


def shape_weights(extra: dict[str, Any]) -> str:
    starts = sorted(extra.get("shape_weight_from_step", {}).items(), key=lambda kv: kv[1])
    parts = [f"{1 + w:g}x from step {start}" for w, start in starts]
    if starts and starts[0][1] > 0:
        parts.insert(0, "1x (not at all)")
    return ", then ".join(parts) or "1x"


def percent(scores: dict[str, float]) -> str:
    return ", ".join(f"{k} {100 * v:.0f}%" for k, v in scores.items())


def write_card(checks: dict[str, Any]) -> None:
    """models/MODEL_CARD.md from the training runs' state and the export's checks."""
    vae_extra = stage_state("vae")["extra"]
    sizes = {p: p.stat().st_size / 1e6 for p in (CHECKPOINT, CONTROLNET)}
    sections = [
        _intro(sizes),
        _data(),
        _architecture(vae_extra),
        _training(vae_extra),
        _measured(checks),
        _retrain(),
    ]
    CARD.write_text("\n".join(sections))


def _intro(sizes: dict[Path, float]) -> str:
    """The card's title, what the model is, its files and how to use it."""
    return f"""# diffgraph-toy: the embedded default model

A tiny Stable-Diffusion-1.x-shaped text-to-image model trained from scratch on the toy world
of `training/toy_data.py`: one shape (circle, square, triangle; small or large; left, right,
top, bottom or center) in one of 8 colours on a plain background of another, 64x64 pixels,
captioned like "a large red circle on the left, blue background". It loads through the
ordinary Load Checkpoint node (detected as family `sd1`, epsilon prediction) and renders a
64x64 picture on a CPU in well under a second. A silhouette ControlNet comes with it.

| file | size |
|---|---|
| `{CHECKPOINT.relative_to(REPO)}` (UNet, CLIP text encoder, VAE) | {sizes[CHECKPOINT]:.2f} MB |
| `{CONTROLNET.relative_to(REPO)}` (fp16) | {sizes[CONTROLNET]:.2f} MB |

Use it with euler, the "normal" scheduler, ~20 steps, cfg ~7, an empty negative prompt, a
64x64 empty latent. The ControlNet takes the shape's silhouette, white on black, 64x64.
"""


def _data() -> str:
    """The card's section 'Data'."""
    return f"""## Data

{DATA_COUNT} random scenes drawn once by `toy_data.dataset({DATA_COUNT}, seed={DATA_SEED})` (out of
{len(all_scenes())} shape/colour/size/place/background combinations, each centre jittered by up
to 3 px and size by 1 px), with their captions and, for the ControlNet, their silhouettes.
The VAE also sees them mirrored left-right. Nothing else.
"""


def _architecture(vae_extra: dict[str, Any]) -> str:
    """The card's section 'Architecture'."""
    text = text_config()
    unet, u = new_unet(), UNET_CONFIG
    return f"""## Architecture

- VAE: diffusers `AutoencoderKL`, blocks {VAE_CONFIG["block_out_channels"]}, 1 layer per block,
  4 latent channels, factor 8 (64x64 -> 4x8x8); {param_count(new_vae()):,} parameters;
  `scaling_factor` {vae_extra["scaling_factor"]:.4f} (1 / latent std).
- Text encoder: transformers `CLIPTextModel`, CLIP's BPE vocabulary (49408), width
  {text.hidden_size}, {text.num_hidden_layers} layers, {text.num_attention_heads} heads,
  quick_gelu, 77 positions; conditioning = last layer after the final layer norm, prompts
  padded with the end token (as SD1); {param_count(new_text_encoder()):,} parameters
  (mostly the token table); token embeddings initialised with std {TOKEN_INIT_STD} and
  positions with {POSITION_INIT_STD} instead of CLIP's 0.02 (with the small default the
  place words were washed out before the UNet learned to use them: positions stayed at
  chance in a first 2000-step run).
- UNet: diffusers `UNet2DConditionModel`, blocks {u["block_out_channels"]}, cross-attention
  in every block, {u["layers_per_block"]} layer per block, attention head dim
  {u["attention_head_dim"]}, convolutional proj_in, context width {u["cross_attention_dim"]};
  {param_count(unet):,} parameters.
- ControlNet: `ControlNetModel.from_unet`, hint embedding {CONTROL_EMBEDDING};
  {param_count(new_controlnet(unet)):,} parameters.
"""


def _training(vae_extra: dict[str, Any]) -> str:
    """The card's section 'Training'."""
    return f"""## Training

SD's recipe at toy scale: the VAE on L1 + MSE reconstruction + 1e-6 KL, the pixels on and
around the shape weighted {shape_weights(vae_extra)} (small shapes keep their corners);
then the UNet and the text encoder together on the VAE's latents (encoder mean x scaling
factor), epsilon prediction, SD's scaled_linear DDPM schedule (0.00085 -> 0.012, 1000
steps), t uniform, 10% empty captions for classifier-free guidance; then the ControlNet on
the frozen rest ({EMPTY_RATE:.0%} empty captions, {SHUFFLED_RATE:.0%} captions whose
shape/size/place words were shuffled, so the silhouette wins over the words). AdamW, linear
warm-up then cosine decay, gradient clipping at 1, EMA of the weights (exported). On 2 CPU cores:

| stage | steps | batch | peak lr | time | final loss |
|---|---|---|---|---|---|
{stage_line("vae")}
{stage_line("unet")}
{stage_line("controlnet")}
"""


def _measured(checks: dict[str, Any]) -> str:
    """The card's section 'Measured'."""
    nodes = checks["nodes"]
    seconds = [r["seconds"] for r in nodes["txt2img"][1:]] or [nodes["txt2img"][0]["seconds"]]
    return f"""## Measured

From pixels, on 48 random captions x 4 seeds (euler, normal, 20 steps, cfg 7), sampled
directly from the weights at export time, read by `training/toy_measure.py` (the measures
`bench/toy_eval.py` uses: background = median of the border, the shape = the largest
region far from it, its position by its box centre, size by its extent, kind by the best
IoU with an ideal circle, square and triangle). `bench/toy_eval.py` measures the same through
the shipped workflows; its figures are in the README.

- fp32 EMA weights: {percent(checks["fp32_scores"])}
- the fp16 file, loaded in fp32: {percent(checks["fp16_file_scores"])}
  (mean absolute pixel difference to fp32: {checks["fp16_vs_fp32_mean_abs_pixel_diff"]:.4f})
- ControlNet, silhouette IoU >= 0.7: {100 * checks["fp16_controlnet_iou_hits"]:.0f}% of 192 renders
  (fp32: {100 * checks["fp32_controlnet_iou_hits"]:.0f}%)
- through the workflow nodes: {len(nodes["txt2img"]) + len(nodes["controlnet"])} renders,
  ~{sum(seconds) / len(seconds):.2f} s each once loaded (see `training/runs/toy/export_checks.json`)
"""


def _retrain() -> str:
    """The card's section 'Retrain'."""
    return f"""## Retrain

From the repository root (each stage resumes from `training/runs/toy/<stage>.pt` when run
again; delete that folder to start over):

```
{commands()}
.venv/bin/python -m training.train_toy export
.venv/bin/python -m training.train_toy sample --of unet   # a grid to look at
```

How the shipped run actually went (the commands above redo it up to small differences): the
VAE ran 1500 steps without the shape weighting, then on to its final step with it; the
UNet's process was killed from outside at step 3889 and resumed from its step-3750 save;
the ControlNet was stopped at step 500 of an 800-step schedule and resumed with the longer
one. A first UNet run with CLIP's default embedding init (kept in training/runs/toy/attempt1)
had colours right but positions at chance after 2000 steps, and was dropped.

Stages are deterministic given their seeds, up to floating-point differences of thread count
and CPU. Other processes shared the CPU during the shipped run, so its times are rough.
"""
