"""How well the shipped outpainting workflow (workflows/outpaint.json) works on the embedded
toy model, measured from the pixels: does the padded side get what the prompt asks for, and
does the kept half stay as it was?

Renders the workflow over several seeds and prints, per seed, what the picture shows
(training/toy_measure.py) and two measures over the kept columns: the mean difference from
the original (in 8-bit levels) and the IoU of the original's red circle. Two references put
them in scale: the VAE's own round trip of the whole original picture (the best any latent
workflow can keep), and the same graph with the noise mask left out (a sampler free to repaint all).
tests/test_outpaint.py reuses the measures.

    .venv/bin/python bench/outpaint_eval.py [--seeds 4] [--strip docs/outpaint.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from training.toy_data import COLORS, Scene  # noqa: E402
from training.toy_measure import observe  # noqa: E402

WORKFLOW = REPO / "workflows" / "outpaint.json"
ASSET = REPO / "workflows" / "assets" / "toy_outpaint.png"
# What the workflow's prompt asks for in the padded right half.
ASKED = Scene("square", "yellow", "large", "right", "blue")
# The workflow keeps the left 32 columns and feathers 8 of them into the padding: the
# columns left of the feather must survive.
KEPT_COLUMNS = 24


def kept_difference(picture: np.ndarray, original: np.ndarray) -> float:
    """Mean absolute difference over the kept columns, in 8-bit levels."""
    diff = picture[:, :KEPT_COLUMNS].astype(np.int64) - original[:, :KEPT_COLUMNS]
    return float(np.abs(diff).mean())


def _red(picture: np.ndarray) -> np.ndarray:
    red = np.array(COLORS["red"], dtype=np.float64)
    return np.linalg.norm(picture[:, :KEPT_COLUMNS].astype(np.float64) - red, axis=-1) < 80


def circle_iou(picture: np.ndarray, original: np.ndarray) -> float:
    """IoU of the red circle's pixels in the kept columns, before and after."""
    before, after = _red(original), _red(picture)
    return float((before & after).sum() / max(1, (before | after).sum()))


def follows_prompt(picture: np.ndarray) -> bool:
    seen = observe(picture)
    return all(getattr(seen, a) == getattr(ASKED, a) for a in ("background", "color", "shape"))


def _pixels(result: Any, node: str) -> np.ndarray:
    if result.status != "success":
        raise RuntimeError(f"render failed: {result.error or result.problems}")
    pixels = result.values[node]["image"].pixels[0].clamp(0, 1).numpy()
    return (pixels * 255.0).round().astype(np.uint8)  # as Save Image writes them


def render(seeds: int) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """(the padded input, [(run name, picture)]): the references and each seed."""
    import shutil

    from engine.executor import Executor
    from engine.registry import Registry
    from engine.settings import Settings
    from formats.load import load_document

    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(ASSET, Path(folder) / ASSET.name)
        registry = Registry.discover(plugins=False)
        executor = Executor(registry, Settings.at(REPO, input_dir=Path(folder)))
        workflow = load_document(WORKFLOW, registry)
        # The references: the original through the VAE alone, and no noise mask at all.
        round_trip = workflow.with_inputs(
            {("encode", "pixels"): _link("image", "image"), ("decode", "samples"): _link("encode")}
        )
        unmasked = workflow.with_inputs({("sample", "latent_image"): _link("encode")})
        runs = [("VAE round trip", round_trip)]
        runs += [(f"seed {n}", workflow.with_inputs({("sample", "seed"): n})) for n in range(seeds)]
        runs.append(("no noise mask, seed 0", unmasked))
        rows = [(name, _pixels(executor.run(w, targets=["decode"]), "decode")) for name, w in runs]
        padded = _pixels(executor.run(workflow, targets=["pad"]), "pad")
    return padded, rows


def save_strip(path: Path, pictures: list[np.ndarray]) -> None:
    """The pictures side by side at 2x, 8 px apart, on white."""
    from PIL import Image

    side, gap = 128, 8
    strip = Image.new("RGB", (len(pictures) * (side + gap) + gap, side + 2 * gap), "white")
    for k, picture in enumerate(pictures):
        big = Image.fromarray(picture).resize((side, side), Image.Resampling.NEAREST)
        strip.paste(big, (gap + k * (side + gap), gap))
    strip.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="seeds 0 .. n-1")
    parser.add_argument("--strip", type=Path, help="PNG to write: original, padded, seeds")
    args = parser.parse_args(argv)
    import torch
    from PIL import Image

    torch.set_num_threads(1)
    original = np.asarray(Image.open(ASSET).convert("RGB")).astype(np.int64)
    padded, rows = render(args.seeds)
    print(f"{WORKFLOW.name}: {ASKED.shape} asked on the right; kept columns 0-{KEPT_COLUMNS - 1}")
    print("| run | prompt followed | kept: mean difference | kept: circle IoU |")
    print("|---|---|--:|--:|")
    for name, picture in rows:
        followed = "n/a" if name.startswith("VAE") else "yes" if follows_prompt(picture) else "no"
        print(
            f"| {name} | {followed} | "
            f"{kept_difference(picture, original):.1f} | {circle_iou(picture, original):.2f} |"
        )
    if args.strip:
        seeds = [picture for name, picture in rows if name.startswith("seed")]
        save_strip(args.strip, [original.astype(np.uint8), padded, *seeds])
    return 0


def _link(node: str, output: str = "latent") -> object:
    from engine.workflow import Link

    return Link(node=node, output=output)


if __name__ == "__main__":
    raise SystemExit(main())
