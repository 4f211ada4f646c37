"""Train diffgraph's embedded toy text-to-image model the way Stable Diffusion is trained.

    python -m training.train_toy vae          # autoencoder, 64x64 pixels <-> 4x8x8 latents
    python -m training.train_toy unet         # CLIP text encoder + UNet, epsilon objective
    python -m training.train_toy controlnet   # silhouette ControlNet on the frozen model
    python -m training.train_toy export       # fp16 single files under models/ + model card
    python -m training.train_toy sample --of unet   # a grid of renders to look at

Each stage saves its whole state to training/runs/toy/<stage>.pt every few hundred steps;
running it again continues from there (or does nothing when it has finished).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # shared CPUs: no spinning threads

import argparse

import torch

from training.toy_loop import Plan

DEFAULTS = {  # steps, batch, peak lr, warm-up steps
    "vae": (2200, 32, 1e-3, 100),
    "unet": (4000, 64, 8e-4, 200),
    "controlnet": (2000, 64, 2e-4, 50),
}


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
    from training.toy_controlnet import train_controlnet
    from training.toy_stages import train_unet, train_vae

    steps, batch, lr, warmup = DEFAULTS[args.stage]
    train = {"vae": train_vae, "unet": train_unet, "controlnet": train_controlnet}[args.stage]
    plan = Plan(
        args.steps or steps,
        args.batch or batch,
        args.lr or lr,
        warmup,
        args.eval_every,
        args.threads,
        args.shape_weight,
    )
    train(plan)


if __name__ == "__main__":
    main()
