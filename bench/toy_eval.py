"""How well the embedded toy model draws what its prompt says, measured from the pixels.

Renders a fixed set of toy-world prompts (training/toy_data.py) over several seeds through the
shipped workflows (workflows/toy_txt2img.json, and workflows/toy_controlnet.json with each
scene's silhouette as the control image), then reads background colour, shape colour,
position, size and shape back out of every picture and compares them with the scene. The
measuring functions are checked on toy_data's own drawings (the "ground truth" column), where
they score ~100%; tests/test_toy_model.py reuses them.

    .venv/bin/python bench/toy_eval.py [--prompts 40] [--seeds 4] [--grid toy_grid.png]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from training.toy_data import COLORS, POSITIONS, SHAPES, Scene, all_scenes  # noqa: E402
from training.toy_measure import (  # noqa: E402
    ATTRIBUTES,
    MIN_IOU,
    ground_truth_rates,
    iou,
    observe,
    silhouette,
)

# The default sampler: the toy workflows carry exactly these (a test checks).
SAMPLER, SCHEDULER, STEPS, CFG = "euler", "normal", 20, 7.0
CHECKPOINT = "diffgraph-toy.safetensors"
CONTROLNET = "diffgraph-toy-silhouette.safetensors"
TXT2IMG = REPO / "workflows" / "toy_txt2img.json"
CONTROL = REPO / "workflows" / "toy_controlnet.json"

TARGETS = {"background": 0.95, "color": 0.90, "position": 0.85, "size": 0.85, "shape": 0.75}
SHORT = {"background": "bg", "color": "col", "position": "pos", "size": "size", "shape": "shape"}
CONTROL_TARGET = 0.85


def eval_scenes(count: int, seed: int = 7) -> list[Scene]:
    """A fixed, balanced list: shapes, colours, positions and sizes cycle; the background
    is drawn (never the shape's colour)."""
    rng = random.Random(seed)
    colors, positions = sorted(COLORS), sorted(POSITIONS)
    scenes = []
    for i in range(count):
        color = colors[i % len(colors)]
        background = rng.choice([c for c in colors if c != color])
        size = ("small", "large")[(i // len(SHAPES)) % 2]
        scenes.append(Scene(SHAPES[i % 3], color, size, positions[i % len(positions)], background))
    return scenes


class ToyRenderer:
    """The shipped toy workflows, run by one executor (the model is loaded once)."""

    def __init__(self, home: Path, input_dir: Path) -> None:
        from engine.executor import Executor
        from engine.registry import Registry
        from engine.settings import Settings
        from formats.load import load_document

        registry = Registry.discover(plugins=False)
        settings = Settings.at(home, input_dir=input_dir, output_dir=input_dir / "output")
        self.input_dir = input_dir
        self.executor = Executor(registry, settings)
        self.txt2img = load_document(TXT2IMG, registry)
        self.control = load_document(CONTROL, registry)

    def render(
        self, prompt: str, seed: int, count: int, control: np.ndarray | None = None
    ) -> np.ndarray:
        """`count` pictures (seeds seed .. seed+count-1) as uint8 [count, 64, 64, 3];
        `control`, a boolean silhouette, goes through the ControlNet workflow."""
        sample: dict[str, object] = {"seed": seed, "steps": STEPS, "cfg": CFG}
        sample |= {"sampler_name": SAMPLER, "scheduler": SCHEDULER, "denoise": 1.0}
        changes: dict[tuple[str, str], object] = {("sample", k): v for k, v in sample.items()}
        changes |= {("prompt", "text"): prompt, ("latent", "batch_size"): count}
        workflow = self.txt2img
        if control is not None:
            hint = Image.fromarray(np.where(control, 255, 0).astype(np.uint8)).convert("RGB")
            name = f"control_{hashlib.sha1(control.tobytes()).hexdigest()[:12]}.png"
            hint.save(self.input_dir / name)
            workflow, changes[("control_image", "image")] = self.control, name
        result = self.executor.run(workflow.with_inputs(changes), targets=["decode"])
        if result.status != "success":
            raise RuntimeError(f"render failed: {result.error or result.problems}")
        pixels = result.values["decode"]["image"].pixels.clamp(0, 1).numpy()
        return (pixels * 255.0).round().astype(np.uint8)  # as Save Image writes them


@dataclass
class Cell:
    """One picture of the grid: what was asked, what was missed, the control image if any."""

    image: np.ndarray
    scene: Scene
    verdict: str
    hint: np.ndarray | None = None


@dataclass
class Report:
    count: int = 0
    hits: Counter[str] = field(default_factory=Counter)
    misses: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    control_count: int = 0
    control_hits: int = 0
    ious: list[float] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    control_cells: list[Cell] = field(default_factory=list)

    def rate(self, key: str) -> float:
        if key == "controlnet":
            return self.control_hits / max(self.control_count, 1)
        return self.hits[key] / max(self.count, 1)


def evaluate(
    renderer: ToyRenderer, scenes: Sequence[Scene], seeds: int, controlnet: bool = True
) -> Report:
    report = Report()
    for i, scene in enumerate(scenes):
        for k, image in enumerate(renderer.render(scene.caption, 0, seeds)):
            seen = observe(image)
            wrong = [a for a in ATTRIBUTES if getattr(seen, a) != getattr(scene, a)]
            report.count += 1
            report.hits.update(a for a in ATTRIBUTES if a not in wrong)
            report.hits["all"] += not wrong
            for a in wrong:
                report.misses.setdefault(a, Counter())[(getattr(scene, a), getattr(seen, a))] += 1
            if k == 0:  # the grid shows each scene's first seed
                verdict = " ".join(["miss", *(SHORT[a] for a in wrong)]) if wrong else ""
                report.cells.append(Cell(image, scene, verdict))
        if controlnet:
            target = silhouette(scene, i)
            for k, image in enumerate(renderer.render(scene.caption, 0, seeds, control=target)):
                score = iou(observe(image).mask, target)
                if k == 0:
                    verdict = f"IoU {score:.2f}" + (" (miss)" if score < MIN_IOU else "")
                    report.control_cells.append(Cell(image, scene, verdict, target))
                report.control_count += 1
                report.control_hits += score >= MIN_IOU
                report.ious.append(score)
    return report


def table(report: Report, truth: dict[str, float], controlnet: bool) -> str:
    rows = ["| measure | target | ground truth | toy model |", "|---|--:|--:|--:|"]
    for a in ATTRIBUTES:
        rows.append(f"| {a} | ≥ {TARGETS[a]:.0%} | {truth[a]:.1%} | {report.rate(a):.1%} |")
    rows.append(f"| all five | | | {report.rate('all'):.1%} |")
    if controlnet:
        name = f"ControlNet IoU ≥ {MIN_IOU}"
        rows.append(
            f"| {name} | ≥ {CONTROL_TARGET:.0%} | {truth['controlnet']:.1%} | "
            f"{report.rate('controlnet'):.1%} (mean IoU {np.mean(report.ious):.2f}) |"
        )
    return "\n".join(rows)


def confusions(report: Report, top: int = 5) -> Iterable[str]:
    for a in ATTRIBUTES:
        common = report.misses.get(a, Counter()).most_common(top)
        if common:
            pairs = ", ".join(f"{want}→{got or 'none'} {n}" for (want, got), n in common)
            yield f"- {a} (asked→seen): {pairs}"


def save_grid(cells: Sequence[Cell], path: Path) -> None:
    """Pictures at 2x with their scene under each (misses in red); a ControlNet picture
    has its silhouette in the corner."""
    columns, side, text = 6, 128, 50
    rows = -(-len(cells) // columns)
    sheet = Image.new("RGB", (columns * (side + 12) + 12, rows * (side + text + 8) + 8), "white")
    pen, font = ImageDraw.Draw(sheet), ImageFont.load_default()
    for k, cell in enumerate(cells):
        x, y = 12 + (k % columns) * (side + 12), 8 + (k // columns) * (side + text + 8)
        big = Image.fromarray(cell.image).resize((side, side), Image.Resampling.NEAREST)
        sheet.paste(big, (x, y))
        if cell.hint is not None:
            hint = Image.fromarray(np.where(cell.hint, 255, 0).astype(np.uint8)).convert("RGB")
            sheet.paste(hint.resize((32, 32), Image.Resampling.BILINEAR), (x + side - 33, y + 1))
        scene = cell.scene
        where = "in the center" if scene.position == "center" else f"on the {scene.position}"
        lines = [f"{scene.size} {scene.color} {scene.shape}", where, f"{scene.background} bg"]
        for j, line in enumerate(lines):
            pen.text((x, y + side + 2 + 12 * j), line, fill="black", font=font)
        bad = "miss" in cell.verdict
        colour = "firebrick" if bad else "green"
        pen.text((x, y + side + 38), cell.verdict or "ok", fill=colour, font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=40, help="how many scenes (≥ 40)")
    parser.add_argument("--seeds", type=int, default=4, help="seeds per scene (0 .. n-1)")
    parser.add_argument("--grid", type=Path, default=Path("toy_grid.png"), help="PNG to write")
    parser.add_argument("--home", type=Path, default=REPO, help="folder holding models/")
    parser.add_argument("--no-controlnet", action="store_true", help="skip the ControlNet part")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    checkpoint = args.home / "models" / "checkpoints" / CHECKPOINT
    if not checkpoint.is_file():
        print(f"no toy model at {checkpoint}", file=sys.stderr)
        return 1
    controlnet = not args.no_controlnet
    if controlnet and not (args.home / "models" / "controlnet" / CONTROLNET).is_file():
        print(f"no {CONTROLNET}: skipping the ControlNet part", file=sys.stderr)
        controlnet = False
    scenes = eval_scenes(args.prompts)
    truth = ground_truth_rates(all_scenes())
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        renderer = ToyRenderer(args.home, Path(folder))
        report = evaluate(renderer, scenes, args.seeds, controlnet)
    elapsed = time.perf_counter() - start
    print(
        f"{len(scenes)} prompts x {args.seeds} seeds, {SAMPLER}/{SCHEDULER} {STEPS} steps "
        f"cfg {CFG}, {checkpoint.name}; {elapsed:.0f} s\n"
    )
    print(table(report, truth, controlnet))
    print("\n" + ("\n".join(confusions(report)) or "no misses"))
    save_grid(report.cells[:18] + report.control_cells[:6], args.grid)
    print(f"\ngrid: {args.grid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
