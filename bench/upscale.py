"""Upscale models on this machine: seconds per megapixel of output for each architecture
at its published size, through the node (the executor running Upscale Image (using
Model), its loader cached) and calling the network directly, and their ratio.

Networks (random weights, written as .safetensors and loaded through Load Upscale Model):
- RRDB: Real-ESRGAN x4plus's shape, 23 blocks, 64 features, growth 32, x4;
- compact: realesr-general-x4v3's shape, 64 features, 32 convolutions, x4;
- SwinIR-M: 003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x4_GAN's shape, embed 180, depths 6x6,
  6 heads, window 8, nearest+conv, x4.
Input: one 128x128 image (a single 512-pixel tile; output 512x512), kept small so the run
stays short on a shared 2-core CPU. The time is the best of `REPEATS` runs, node and
direct taking turns, after a warm-up on a 32x32 image (which also loads the model).

Run: .venv/bin/python bench/upscale.py   (a markdown table; always exits 0)
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from time import perf_counter

import torch
from safetensors.torch import save_file
from torch import nn

from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import Link, Workflow, WorkflowNode
from nodes.ops.upscale.compact import SRVGGNetCompact
from nodes.ops.upscale.rrdb import RRDBNet
from nodes.ops.upscale.swinir import SwinIR

SIDE = 128
WARM_UP_SIDE = 32
REPEATS = 2
NETWORKS: dict[str, Callable[[], nn.Module]] = {
    "RRDB x4 (23 blocks, nf 64)": lambda: RRDBNet(),
    "compact x4 (nf 64, 32 convs)": lambda: SRVGGNetCompact(features=64, convs=32, scale=4),
    "SwinIR-M x4 (nearest+conv)": lambda: SwinIR(scale=4, upsampler="nearest+conv"),
}


def workflow(model_name: str, colour: int, side: int) -> Workflow:
    """Load the model, make an image (a new colour each run, so the upscale reruns while
    the loader stays cached), upscale it."""
    nodes = {
        "load": WorkflowNode(type="upscale.load_model", inputs={"model_name": model_name}),
        "image": WorkflowNode(
            type="image.empty", inputs={"width": side, "height": side, "color": colour}
        ),
        "up": WorkflowNode(
            type="upscale.image_with_model",
            inputs={
                "upscale_model": Link(node="load", output="upscale_model"),
                "image": Link(node="image", output="image"),
            },
        ),
    }
    return Workflow(nodes=nodes)


def interleaved(first: Callable[[], object], second: Callable[[], object]) -> tuple[float, float]:
    """Best seconds of each, run in turn so that both meet the same machine load."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(REPEATS):
        for run, kept in ((first, times[0]), (second, times[1])):
            began = perf_counter()
            run()
            kept.append(perf_counter() - began)
    return min(times[0]), min(times[1])


def measure(name: str, network: nn.Module, executor: Executor, folder: Path) -> str:
    network.eval().requires_grad_(False)
    params = sum(p.numel() for p in network.parameters())
    file_name = name.split()[0] + ".safetensors"
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, folder / file_name)
    colours = iter(range(1, 100))

    def through_node(side: int = SIDE) -> None:
        result = executor.run(workflow(file_name, next(colours), side), targets=["up"])
        assert result.status == "success", result.error

    image = torch.rand(1, 3, SIDE, SIDE)

    def direct() -> None:
        with torch.inference_mode():
            network(image).clamp(0, 1)

    through_node(WARM_UP_SIDE)  # loads the model; kernels warm up on a small image
    with torch.inference_mode():
        network(image[..., :WARM_UP_SIDE, :WARM_UP_SIDE])
    node_s, direct_s = interleaved(through_node, direct)
    megapixels = (SIDE * 4) ** 2 / 1e6
    return (
        f"| {name} | {params / 1e6:.2f} M | {node_s / megapixels:.2f} | "
        f"{direct_s / megapixels:.2f} | {node_s / direct_s:.3f} |"
    )


def main() -> None:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.at(home)
        folder = settings.model_folder("upscale_models")
        folder.mkdir(parents=True)
        executor = Executor(Registry.discover(plugins=False), settings)
        threads = torch.get_num_threads()
        print(f"input {SIDE}x{SIDE}, output {SIDE * 4}x{SIDE * 4}, {threads} torch threads,")
        print(f"best of {REPEATS} runs each, taking turns, after a warm-up\n")
        print("| network | parameters | node s/MP | direct s/MP | node / direct |")
        print("|---|---|---|---|---|")
        for name, make in NETWORKS.items():
            print(measure(name, make(), executor, folder), flush=True)


if __name__ == "__main__":
    main()
