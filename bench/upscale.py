"""Upscale models on this machine: seconds per megapixel of output for each architecture
at its published size, through the node (the executor running Upscale Image (using
Model), its loader cached) and calling the network directly, and their ratio.

Networks (random weights, written as .safetensors and loaded through Load Upscale Model):
- RRDB: Real-ESRGAN x4plus's shape, 23 blocks, 64 features, growth 32, x4;
- compact: realesr-general-x4v3's shape, 64 features, 32 convolutions, x4;
- SwinIR-M: 003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x4_GAN's shape, embed 180, depths 6x6,
  6 heads, window 8, nearest+conv, x4.
Input: one 128x128 image of random noise (a PNG read by Load Image for the node, the
same pixels for the direct call; a single tile; output 512x512), kept small so the run
stays short on a shared 2-core CPU; one torch thread. The time is the best of `REPEATS`
runs, node and direct taking turns, after a warm-up on a 32x32 image (which also loads the
model).

Run: .venv/bin/python bench/upscale.py   (a markdown table; always exits 0)
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from time import perf_counter

import torch
from PIL import Image as PILImage
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
REPEATS = 3
THREADS = 1
NETWORKS: dict[str, Callable[[], nn.Module]] = {
    "RRDB x4 (23 blocks, nf 64)": lambda: RRDBNet(),
    "compact x4 (nf 64, 32 convs)": lambda: SRVGGNetCompact(features=64, convs=32, scale=4),
    "SwinIR-M x4 (nearest+conv)": lambda: SwinIR(scale=4, upsampler="nearest+conv"),
}


def workflow(model_name: str, image_name: str) -> Workflow:
    """Load the model and an image (another file each run, so the upscale reruns while the
    loader stays cached), upscale it."""
    nodes = {
        "load": WorkflowNode(type="upscale.load_model", inputs={"model_name": model_name}),
        "image": WorkflowNode(type="image.load", inputs={"image": image_name}),
        "up": WorkflowNode(
            type="upscale.image_with_model",
            inputs={
                "upscale_model": Link(node="load", output="upscale_model"),
                "image": Link(node="image", output="image"),
            },
        ),
    }
    return Workflow(nodes=nodes)


def noise_images(settings: Settings) -> list[torch.Tensor]:
    """Random 8-bit images written as PNGs to the input folder (the same pixels are fed
    to the direct calls): noise, not a flat colour, for both paths alike."""
    images = []
    for index in range(1 + REPEATS):
        side = WARM_UP_SIDE if index == 0 else SIDE
        pixels = torch.randint(0, 256, (side, side, 3), dtype=torch.uint8)
        PILImage.fromarray(pixels.numpy()).save(settings.input_dir / f"noise{index}.png")
        # [1, 3, H, W] channels-last with a dense batch stride: the layout the node feeds
        # its tiles in, and the fastest for these convolutions on this CPU.
        images.append(pixels.unsqueeze(0).permute(0, 3, 1, 2).float() / 255)
    return images


def interleaved(first: Callable[[], object], second: Callable[[], object]) -> tuple[float, float]:
    """Best seconds of each, run in turn so that both meet the same machine load."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(REPEATS):
        for run, kept in ((first, times[0]), (second, times[1])):
            began = perf_counter()
            run()
            kept.append(perf_counter() - began)
    return min(times[0]), min(times[1])


def measure(name: str, network: nn.Module, executor: Executor, settings: Settings) -> str:
    network.eval().requires_grad_(False)
    params = sum(p.numel() for p in network.parameters())
    file_name = name.split()[0] + ".safetensors"
    state = {k: v.contiguous() for k, v in network.state_dict().items()}
    save_file(state, settings.model_folder("upscale_models") / file_name)
    images = noise_images(settings)
    runs = {"node": iter(range(len(images))), "direct": iter(range(1, len(images)))}

    def through_node() -> None:
        image_name = f"noise{next(runs['node'])}.png"
        result = executor.run(workflow(file_name, image_name), targets=["up"])
        assert result.status == "success", result.error

    def direct() -> None:
        with torch.inference_mode():
            network(images[next(runs["direct"])]).clamp(0, 1)

    through_node()  # loads the model; kernels warm up on a small image
    with torch.inference_mode():
        network(images[0])
    node_s, direct_s = interleaved(through_node, direct)
    megapixels = (SIDE * 4) ** 2 / 1e6
    return (
        f"| {name} | {params / 1e6:.2f} M | {node_s / megapixels:.2f} | "
        f"{direct_s / megapixels:.2f} | {node_s / direct_s:.3f} |"
    )


def main() -> None:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as home:
        # One thread: on a CPU shared with other work, two threads made single runs vary
        # by 2x, which drowned the difference this measures.
        torch.set_num_threads(THREADS)
        settings = Settings.at(home, threads=THREADS, dtype="float32")  # the direct call is float32
        settings.model_folder("upscale_models").mkdir(parents=True)
        settings.input_dir.mkdir(parents=True, exist_ok=True)
        executor = Executor(Registry.discover(plugins=False), settings)
        threads = torch.get_num_threads()
        print(f"input {SIDE}x{SIDE}, output {SIDE * 4}x{SIDE * 4}, {threads} torch threads,")
        print(f"best of {REPEATS} runs each, taking turns, after a warm-up\n")
        print("| network | parameters | node s/MP | direct s/MP | node / direct |")
        print("|---|---|---|---|---|")
        for name, make in NETWORKS.items():
            print(measure(name, make(), executor, settings), flush=True)


if __name__ == "__main__":
    main()
