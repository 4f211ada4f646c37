"""Stable Diffusion overhead: what diffgraph adds on top of the model work itself.

1. txt2img (seed, 20 euler steps, cfg 7.5, one prompt, 128x128) through a diffgraph workflow
   (Load Checkpoint -> Encode Prompt x2 -> Empty Latent -> Sample -> VAE Decode) and through
   diffusers' StableDiffusionPipeline built from the very same modules, interleaved in one
   process, medians. "Cold" is a fresh Executor (empty output cache) on a model store that
   already holds the checkpoint, as a server has it; "+ load" also uses a fresh model store.
   Forward hooks then split one run of each into UNet, text encoder and VAE decoder time.
2. A rerun with only the seed changed: executor and model-store events must show that only
   Sample, VAE Decode and the output node ran and that nothing was loaded.
3. Loading checkpoints (tiny sd1/sd2/sdxl from tests/sd, plus a ~190 MB SD1-shaped one):
   load time and peak RSS increase per file byte, one subprocess per file (warm page cache).

The model is tests/sd's tiny SD1 (written by our Save Checkpoint); 128x128 makes a UNet call
take milliseconds. The machine may be shared: runs are interleaved and medians reported.

Run: .venv/bin/python bench/sd_overhead.py   (markdown tables; exits 0 unless check 2 fails)
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

import diffusers
import torch
import transformers
from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextModel

from engine.events import Event, NodeCached, NodeStarted
from engine.executor import Executor
from engine.models import ModelKey, ModelStore, StoreEvent
from engine.registry import Registry
from engine.settings import Settings
from engine.types import Clip, Model, Vae
from engine.workflow import Link, Workflow, WorkflowNode
from nodes.ops.clip_tokenizer import clip_tokenizer
from nodes.ops.saving import save_checkpoint
from nodes.ops.sd_families import load_config
from nodes.ops.text_encoding import TextEncoder, TextEncoders

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is not installed
from tests.sd import tiny
from tests.sd.conftest import write_checkpoint

SIZE, STEPS, CFG, SEED, REPEATS, THREADS = 128, 20, 7.5, 1234, 9, 1
PROMPT = "a photograph of an astronaut riding a horse"
MB = 1e6


def txt2img(seed: int) -> Workflow:
    def link(node: str, output: str) -> Link:
        return Link(node=node, output=output)

    def n(type_id: str, **inputs: Any) -> WorkflowNode:
        return WorkflowNode(type=type_id, inputs=inputs)

    clip = link("ckpt", "clip")
    return Workflow(
        nodes={
            "ckpt": n("sd.load_checkpoint", ckpt_name="sd1.safetensors"),
            "pos": n("sd.encode_prompt", text=PROMPT, clip=clip),
            "neg": n("sd.encode_prompt", text="", clip=clip),
            "empty": n("sd.empty_latent", width=SIZE, height=SIZE, batch_size=1),
            "sample": n("sd.sample", model=link("ckpt", "model"), seed=seed, steps=STEPS,
                        cfg=CFG, sampler_name="euler", scheduler="normal",
                        positive=link("pos", "conditioning"),
                        negative=link("neg", "conditioning"),
                        latent_image=link("empty", "latent")),
            "decode": n("sd.vae_decode", samples=link("sample", "latent"), vae=link("ckpt", "vae")),
            "preview": n("image.preview", images=link("decode", "image")),
        }
    )  # fmt: skip


def pipeline(model: Model, clip: Clip, vae: Vae) -> Any:
    """diffusers' pipeline over the modules diffgraph loaded (one copy of the weights)."""
    encoders: TextEncoders = clip.handle.get()
    scheduler = EulerDiscreteScheduler(  # SD's; the offset is unused with linspace spacing
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    pipe = StableDiffusionPipeline(
        vae=vae.handle.get(),
        text_encoder=encoders.encoders[0].model,
        tokenizer=clip_tokenizer("eos"),
        unet=model.handle.get(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run_diffusers(pipe: Any) -> torch.Tensor:
    out = pipe(
        PROMPT, height=SIZE, width=SIZE, num_inference_steps=STEPS, guidance_scale=CFG,
        negative_prompt="", generator=torch.Generator().manual_seed(SEED), output_type="pt",
    )  # fmt: skip
    return out.images.movedim(1, -1)  # [B, H, W, 3] in [0, 1], as diffgraph's Image


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    began = perf_counter()
    value = fn()
    return perf_counter() - began, value


class Clock:
    """Calls and seconds spent in a module's forward, through hooks (removable)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.calls, self.seconds, self._began = 0, 0.0, 0.0
        self.handles = [
            module.register_forward_pre_hook(lambda *_: self._start()),
            module.register_forward_hook(lambda *_: self._stop()),
        ]

    def _start(self) -> None:
        self._began = perf_counter()

    def _stop(self) -> None:
        self.calls, self.seconds = self.calls + 1, self.seconds + perf_counter() - self._began


def compare(reg: Registry, settings: Settings) -> None:
    store = ModelStore()
    wf = txt2img(SEED)

    def diffgraph(models: ModelStore | None = None) -> torch.Tensor:
        result = Executor(reg, settings, models=models).run(wf, targets=["ckpt", "decode"])
        assert result.status == "success", result.error or result.problems
        return result.values["decode"]["image"].pixels

    first = Executor(reg, settings, models=store).run(wf, targets=["ckpt"])  # load once
    loaded = first.values["ckpt"]
    pipe = pipeline(loaded["model"], loaded["clip"], loaded["vae"])
    ours, theirs = diffgraph(store), run_diffusers(pipe)  # warm-up, and the images
    times: dict[str, list[float]] = {"cold": [], "load": [], "diffusers": []}
    for i in range(REPEATS):  # interleaved, alternating order: load drifts hit all alike
        order = ["cold", "diffusers", "load"] if i % 2 else ["diffusers", "load", "cold"]
        for name in order:
            fn = {
                "cold": lambda: diffgraph(store),
                "load": lambda: diffgraph(ModelStore()),
                "diffusers": lambda: run_diffusers(pipe),
            }[name]
            times[name].append(timed(fn)[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"## txt2img {SIZE}x{SIZE}, {STEPS} euler steps, cfg {CFG}, tiny SD1 ", end="")
    print(f"({torch.get_num_threads()} threads, median of {REPEATS}, interleaved)\n")
    print("| pipeline | median ms | min ms | / diffusers |\n|---|--:|--:|--:|")
    labels = {"cold": "diffgraph cold (model resident)", "load": "diffgraph + checkpoint load"}
    for key in ("diffusers", "cold", "load"):
        ratio = med[key] / med["diffusers"]
        row = f"{1e3 * med[key]:.1f} | {1e3 * min(times[key]):.1f} | {ratio:.3f}"
        print(f"| {labels.get(key, 'diffusers StableDiffusionPipeline')} | {row} |")
    verdict = "PASS" if med["cold"] / med["diffusers"] <= 1.05 else "MISS"
    print(f"\ntarget diffgraph cold / diffusers <= 1.05: {verdict}")
    diff = (ours - theirs).abs()
    print(f"images (pixels 0..1, std {ours.std():.3f}): max abs difference diffgraph vs ", end="")
    print(f"diffusers {diff.max():.2e}, mean {diff.mean():.2e}")

    unet, vae = loaded["model"].handle.get(), loaded["vae"].handle.get()
    clocks = {
        "UNet": Clock(unet),
        "text encoder": Clock(loaded["clip"].handle.get().encoders[0].model),
        "VAE decoder": Clock(vae.decoder),
    }
    print("\n| one run, split by forward hooks | ms | UNet calls | UNet ms | text enc ms |", end="")
    print(" VAE dec ms | everything else ms |\n|---|--:|--:|--:|--:|--:|--:|")
    runs: dict[str, Callable[[], Any]] = {
        "diffusers": lambda: run_diffusers(pipe),
        "diffgraph cold": lambda: diffgraph(store),
    }
    for name, fn in runs.items():
        for clock in clocks.values():
            clock.calls, clock.seconds = 0, 0.0
        total = timed(fn)[0]
        parts = [clocks[k].seconds for k in ("UNet", "text encoder", "VAE decoder")]
        cells = " | ".join(f"{1e3 * s:.1f}" for s in parts)
        rest = 1e3 * (total - sum(parts))
        print(f"| {name} | {1e3 * total:.1f} | {clocks['UNet'].calls} | {cells} | {rest:.1f} |")
    for clock in clocks.values():
        for handle in clock.handles:
            handle.remove()
    rerun_check(reg, settings, store)


def rerun_check(reg: Registry, settings: Settings, store: ModelStore) -> None:
    ex = Executor(reg, settings, models=store)
    assert ex.run(txt2img(SEED)).status == "success"
    events: list[Event] = []
    store_events: list[StoreEvent] = []
    store.add_listener(store_events.append)  # the store is discarded after this check
    seconds, result = timed(lambda: ex.run(txt2img(SEED + 1), listener=events.append))
    assert result.status == "success", result.error
    ran = [(e.node, e.type) for e in events if isinstance(e, NodeStarted)]
    cached = [e.node for e in events if isinstance(e, NodeCached)]
    kinds = [e.kind for e in store_events]
    assert {node for node, _ in ran} == {"sample", "decode", "preview"}, ran
    assert set(cached) == {"ckpt", "pos", "neg", "empty"}, cached
    assert "loaded" not in kinds and "evicted" not in kinds, store_events
    print("\n## Rerun with only Sample's seed changed (same Executor)\n")
    print("| ran | cached | model store events | rerun ms |\n|---|---|---|--:|")
    counts = ", ".join(f"{k} {kinds.count(k)}" for k in ("loaded", "hit", "evicted"))
    print(f"| {', '.join(f'{n} ({t})' for n, t in ran)} | {', '.join(cached)} | {counts} ", end="")
    print(f"| {1e3 * seconds:.1f} |")


def big_sd1(path: Path) -> Path:
    """An SD1-shaped checkpoint: SD1's UNet layout at 1/5 of its width, a 256-wide CLIP."""
    width = 256
    config = {**load_config("sd1", "unet"), "block_out_channels": (64, 128, 256, 256)}
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config({**config, "cross_attention_dim": width}).eval()
    text = CLIPTextModel(tiny.text_config(width=width)).eval()
    store = ModelStore()
    encoders = TextEncoders("sd1", [TextEncoder("clip_l", text, "eos", -1, True)])

    def handle(part: str, value: Any) -> Any:
        return store.handle(ModelKey("bench", "big_sd1", "0", part), lambda: value)

    model_config = {"family": "sd1", "prediction_type": "epsilon", "patches": ()}
    model, clip = Model(handle("unet", unet), model_config), Clip(handle("clip", encoders), {})
    save_checkpoint(path, model, clip, Vae(handle("vae", tiny.vae()), {}), store)
    return path


def vm() -> dict[str, int]:
    """This process's memory figures from /proc/self/status, in bytes."""
    fields = ("VmRSS", "VmHWM", "RssAnon", "RssFile")
    lines = (line.split() for line in Path("/proc/self/status").read_text().splitlines())
    return {f[0][:-1]: int(f[1]) * 1024 for f in lines if f and f[0][:-1] in fields}


def load_child(path: str) -> None:
    """In a fresh process: load one checkpoint into a fresh store, then read every weight;
    print memory figures (increases over the start) as JSON."""
    from engine.device import DevicePolicy
    from nodes.ops.loading import load_checkpoint

    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    start = vm()
    seconds, parts = timed(lambda: load_checkpoint(Path(path), ModelStore(), DevicePolicy("cpu")))
    loaded = vm()
    with torch.inference_mode():  # what the first run does: every weight is read
        touched = sum(float(p.sum()) for part in parts for p in part.handle.get().parameters())
    used = vm()
    print(
        json.dumps(
            {"s": seconds, "peak": loaded["VmHWM"] - start["VmRSS"], "nan": touched != touched}
            | {f"{k}_loaded": loaded[k] - start[k] for k in ("VmRSS", "RssAnon", "RssFile")}
            | {f"{k}_used": used[k] - start[k] for k in ("VmRSS", "RssAnon", "RssFile")}
        )
    )


def loading_table(ckpts: Path) -> None:
    files = {f: write_checkpoint(ckpts / f"{f}.safetensors", f) for f in ("sd1", "sd2", "sdxl")}
    files["sd1-shaped, synthetic"] = big_sd1(ckpts / "big_sd1.safetensors")
    print("\n## Loading a checkpoint (load_checkpoint, fresh store, a process each, warm cache)\n")
    print("RSS increase per file byte: peak during the load; after it; after reading every")
    print("weight once (as the first run does), split into anonymous and file-backed (mmap).\n")
    print("| checkpoint | file MB | load ms | peak | after load | after reading | anon |", end="")
    print(" file-backed |\n|---|--:|--:|--:|--:|--:|--:|--:|")
    for name, path in files.items():
        child = [sys.executable, __file__, "--load-child", str(path)]
        line = subprocess.run(child, capture_output=True, text=True, check=True).stdout
        r = json.loads(line.strip().splitlines()[-1])
        size = path.stat().st_size
        keys = ("peak", "VmRSS_loaded", "VmRSS_used", "RssAnon_used", "RssFile_used")
        ratios = " | ".join(f"{r[k] / size:.2f}" for k in keys)
        print(f"| {name} | {size / MB:.1f} | {1e3 * r['s']:.0f} | {ratios} |")


def main() -> None:
    torch.set_num_threads(THREADS)
    diffusers.utils.logging.set_verbosity_error()  # "should be kept in float32: []" per load
    transformers.utils.logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        ckpts = home / "models" / "checkpoints"
        write_checkpoint(ckpts / "sd1.safetensors", "sd1")
        settings = Settings.at(home)
        compare(Registry.discover(settings, entry_points=False), settings)
        gc.collect()
        loading_table(home / "load")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load-child"]:
        load_child(sys.argv[2])
    else:
        main()
