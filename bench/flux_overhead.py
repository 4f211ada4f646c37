"""Flux overhead: what diffgraph adds on top of the model work itself.

txt2img (fixed seed and prompt, 8 euler steps, guidance 3.5, 256x256, resolution shift)
through ComfyUI's Flux dev example graph run by diffgraph (Load Diffusion Model + Dual CLIP
Loader + Load VAE from split files -> CLIPTextEncode -> FluxGuidance -> ModelSamplingFlux ->
SamplerCustomAdvanced -> VAE Decode) and through diffusers' FluxPipeline built from the same
weights, stepping through the same sigmas; interleaved, medians. "Cold" is a fresh Executor
(empty output cache) on a model store already holding the models, as in a server. Timed runs
stop at VAE Decode (the pipeline writes no file).

The model is a small random Flux (2 double + 4 single blocks, 4 heads x 32, T5 and CLIP of
width 64) so that the transformer's work is milliseconds and any overhead shows. torch runs
one thread, as in bench/sd_overhead.py (a shared 2-core machine otherwise swings tenfold).

Run: .venv/bin/python bench/flux_overhead.py   (a markdown table; target ratio <= 1.05)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from time import perf_counter
from typing import Any

import diffusers
import torch
import transformers
from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

from engine.device import DevicePolicy
from engine.executor import Executor
from engine.model_store import ModelStore
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import Workflow
from formats.comfy_api import from_comfy_api
from nodes.flux import flux_shift
from nodes.ops.families.flux import layout as L
from nodes.ops.families.flux import loading
from nodes.ops.sampling.schedules import FlowSchedule, get_sigmas_simple
from nodes.ops.text.clip_tokenizer import clip_tokenizer
from nodes.ops.text.t5_tokenizer import t5_tokenizer
from nodes.ops.weights.build import META
from nodes.ops.weights.checkpoint_write import write_safetensors

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is not installed
from tests.flux import files, tiny
from tests.flux.test_flux_workflows import SEED, dev_example, run_flux_pipeline

SIZE, STEPS, REPEATS, THREADS = 256, 8, 9, 1
PROMPT = "a cozy cabin in a snowy pine forest at dusk"
CONFIG: dict[str, Any] = {**tiny.transformer_config(True), "num_layers": 2, "num_single_layers": 4}
CONFIG |= {"num_attention_heads": 4, "attention_head_dim": 32, "axes_dims_rope": (8, 12, 12)}


def write_home(root: Path) -> files.SplitFiles:
    """The small Flux in ComfyUI's split layout (the tiny text encoders and AE as in tests)."""
    split = files.write_split_files(root, guidance=True)
    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(**CONFIG).eval()
    meta = {f"{META}transformer_config": files._config_json(CONFIG), "format": "pt"}
    state = L.transformer_to_bfl(transformer.state_dict())
    write_safetensors(split.transformer, state, meta, overwrite=True)
    return split


def graph(seed: int) -> dict[str, Any]:
    shifted = {f"30__{side}": SIZE for side in ("width", "height")}
    sizes = {f"27__{side}": SIZE for side in ("width", "height")}
    g = dev_example(**shifted, **sizes, **{"17__steps": STEPS, "25__noise_seed": seed})
    g["6"]["inputs"]["text"] = PROMPT
    return g


def pipeline(split: files.SplitFiles, store: ModelStore) -> FluxPipeline:
    """FluxPipeline from the very modules diffgraph holds (the loaders' store entries)."""
    devices = DevicePolicy(dtype="float32", threads=THREADS)  # overhead, not precision
    transformer = loading.load_transformer(split.transformer, store, devices).handle.get()
    encoders = loading.load_text_encoders((split.clip_l, split.t5), store, devices).handle.get()
    ae = loading.load_ae(split.ae, store, devices).handle.get()
    pipe = FluxPipeline(
        FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=False, shift=1.0),
        ae,
        encoders.encoders[0].model,
        clip_tokenizer("eos"),
        encoders.encoders[1].model,
        t5_tokenizer(),
        transformer,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run_pipeline(pipe: FluxPipeline) -> torch.Tensor:
    mu = flux_shift(SIZE, SIZE, 0.5, 1.15)
    sigmas = get_sigmas_simple(FlowSchedule(mu, "exponential"), STEPS)
    return run_flux_pipeline(pipe, sigmas, SIZE, PROMPT)


def main() -> None:
    torch.set_num_threads(THREADS)
    diffusers.utils.logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        split = write_home(root)
        registry = Registry.discover(plugins=False)
        settings = Settings.at(root, threads=THREADS, dtype="float32")
        store = ModelStore()

        def ours() -> Any:
            workflow: Workflow = from_comfy_api(graph(SEED), registry)
            result = Executor(registry, settings, models=store).run(workflow, targets=["8"])
            assert result.status == "success", result.error
            return result

        first = ours()  # loads the models once: what a server holds
        pipe = pipeline(split, store)
        loads = len(store.report())
        reference = run_pipeline(pipe)[0].movedim(0, -1)  # warms the pipeline too
        difference = float((first.values["8"]["image"].pixels[0] - reference).abs().max())
        timings: dict[str, list[float]] = {"diffusers": [], "diffgraph": []}
        for _ in range(REPEATS):
            for name, fn in (("diffusers", lambda: run_pipeline(pipe)), ("diffgraph", ours)):
                start = perf_counter()
                fn()
                timings[name].append((perf_counter() - start) * 1000)
        assert len(store.report()) == loads == 3, "the pipeline and the graph share the models"
    base = statistics.median(timings["diffusers"])
    print(f"## Flux txt2img {SIZE}x{SIZE}, {STEPS} euler steps, guidance 3.5, small random "
          f"Flux ({THREADS} thread, median of {REPEATS} interleaved)\n")  # fmt: skip
    print("| pipeline | median ms | min ms | / diffusers |\n|---|--:|--:|--:|")
    for name, label in (("diffusers", "diffusers FluxPipeline"), ("diffgraph", "diffgraph cold")):
        values = timings[name]
        median = statistics.median(values)
        print(f"| {label} | {median:.1f} | {min(values):.1f} | {median / base:.3f} |")
    ratio = statistics.median(timings["diffgraph"]) / base
    print(f"\ntarget diffgraph cold / diffusers <= 1.05: {'PASS' if ratio <= 1.05 else 'FAIL'}")
    print(f"images: max abs pixel difference {difference:.2e} (pixels 0..1)")


if __name__ == "__main__":
    main()
