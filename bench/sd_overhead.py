"""Stable Diffusion overhead: what diffgraph adds on top of the model work itself.

1. txt2img (fixed seed, 20 euler steps, cfg 7.5, 128x128) through a diffgraph workflow (Load
   Checkpoint -> Encode Prompt x2 -> Empty Latent -> Sample -> VAE Decode) and through diffusers'
   StableDiffusionPipeline built from the very same modules; interleaved, medians. "Cold" is a
   fresh Executor (empty output cache) on a model store already holding the checkpoint, as in a
   server; "+ load" uses a fresh store too. Timed runs stop at VAE Decode (diffusers writes no
   file). Forward hooks then split a run into UNet, text encoder and VAE decoder time.
2. A rerun with only the seed changed: executor and model-store events must show that only
   Sample, VAE Decode and the output node ran and that nothing was loaded (asserted).
3. Loading tiny sd1/sd2/sdxl checkpoints and a ~200 MB SD1-shaped one: time, and RSS increase
   per file byte (peak during the load; after reading every weight), a subprocess per file.

The model is tests/sd's tiny SD1 written by our Save Checkpoint; at 128x128 a UNet call takes
milliseconds. torch runs one thread: on a shared 2-core machine two OpenMP threads stall whenever
another process holds a core, and timings then swing tenfold.

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
from functools import partial
from pathlib import Path
from time import perf_counter
from typing import Any

import diffusers
import torch
import transformers
from diffusers import UNet2DConditionModel
from transformers import CLIPTextModel

from engine.events import Event, NodeCached, NodeStarted
from engine.executor import Executor
from engine.model_store import ModelKey, ModelStore, StoreEvent
from engine.registry import Registry
from engine.settings import Settings
from engine.types import Clip, Model, Vae
from engine.workflow import Link, Workflow, WorkflowNode
from nodes.ops.families.sd.saving import save_checkpoint
from nodes.ops.families.sd.shipped_configs import load_config
from nodes.ops.text.clip_tokenizer import clip_tokenizer
from nodes.ops.text.encoding import TextEncoder, TextEncoders

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is not installed
from tests.sd import tiny
from tests.sd.conftest import write_checkpoint

SIZE, STEPS, CFG, SEED, REPEATS, THREADS = 128, 20, 7.5, 1234, 9, 1
PROMPT = "a photograph of an astronaut riding a horse"
MB = 1e6


def txt2img(seed: int) -> Workflow:
    def n(type_id: str, **inputs: Any) -> WorkflowNode:  # a (node, output) tuple is a link
        return WorkflowNode(type=type_id, inputs={
            k: Link(node=v[0], output=v[1]) if isinstance(v, tuple) else v
            for k, v in inputs.items()})  # fmt: skip

    return Workflow(
        nodes={
            "ckpt": n("sd.load_checkpoint", ckpt_name="sd1.safetensors"),
            "pos": n("sd.encode_prompt", text=PROMPT, clip=("ckpt", "clip")),
            "neg": n("sd.encode_prompt", text="", clip=("ckpt", "clip")),
            "empty": n("sd.empty_latent", width=SIZE, height=SIZE, batch_size=1),
            "sample": n("sd.sample", model=("ckpt", "model"), seed=seed, steps=STEPS, cfg=CFG,
                        sampler_name="euler", scheduler="normal", latent_image=("empty", "latent"),
                        positive=("pos", "conditioning"), negative=("neg", "conditioning")),
            "decode": n("sd.vae_decode", samples=("sample", "latent"), vae=("ckpt", "vae")),
            "preview": n("image.preview", images=("decode", "image")),
        }
    )  # fmt: skip


def pipeline(model: Model, clip: Clip, vae: Vae) -> Any:
    """diffusers' pipeline over the modules diffgraph loaded (one copy of the weights)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline  # after logging set

    pipe: Any = StableDiffusionPipeline(
        vae=vae.handle.get(), text_encoder=clip.handle.get().encoders[0].model,
        tokenizer=clip_tokenizer("eos"), unet=model.handle.get(),
        scheduler=EulerDiscreteScheduler(  # SD's (the offset is unused with linspace spacing)
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
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


def table(header: list[str], rows: list[list[str]], left: int = 1) -> None:
    """A markdown table: the first `left` columns left-aligned, the others right-aligned."""
    print("| " + " | ".join(header) + " |\n" + "|---" * left + "|--:" * (len(header) - left) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def hooked(fn: Callable[[], Any], modules: list[torch.nn.Module]) -> tuple[float, list[float], int]:
    """Run fn once: (seconds, seconds inside each module's forward, calls of the first)."""
    inside, calls, began = [0.0] * len(modules), [0] * len(modules), [0.0]

    def enter(*_: Any) -> None:
        began[0] = perf_counter()

    def leave(i: int) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            inside[i] += perf_counter() - began[0]
            calls[i] += 1

        return hook

    handles = [m.register_forward_pre_hook(enter) for m in modules]
    handles += [m.register_forward_hook(leave(i)) for i, m in enumerate(modules)]
    seconds = timed(fn)[0]
    for handle in handles:
        handle.remove()
    return seconds, inside, calls[0]


def compare(reg: Registry, settings: Settings) -> None:
    store, wf = ModelStore(), txt2img(SEED)

    def diffgraph(models: ModelStore) -> torch.Tensor:
        result = Executor(reg, settings, models=models).run(wf, targets=["decode"])
        assert result.status == "success", result.error or result.problems
        return result.values["decode"]["image"].pixels

    loaded = Executor(reg, settings, models=store).run(wf, targets=["ckpt"]).values["ckpt"]
    pipe = pipeline(loaded["model"], loaded["clip"], loaded["vae"])
    ours, theirs = diffgraph(store), run_diffusers(pipe)  # warm-up, and the two images
    runs: dict[str, Callable[[], Any]] = {
        "diffusers StableDiffusionPipeline": lambda: run_diffusers(pipe),
        "diffgraph cold (fresh Executor, model resident)": lambda: diffgraph(store),
        "diffgraph + load (fresh model store too)": lambda: diffgraph(ModelStore()),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(REPEATS):  # interleaved, order alternating: drifts in load hit all alike
        for name in list(runs)[:: 1 if i % 2 else -1]:
            times[name].append(timed(runs[name])[0])
    med = [statistics.median(t) for t in times.values()]
    title = f"txt2img {SIZE}x{SIZE}, {STEPS} euler steps, cfg {CFG}, tiny SD1"
    print(f"## {title} ({torch.get_num_threads()} thread, median of {REPEATS} interleaved)\n")
    table(
        ["pipeline", "median ms", "min ms", "/ diffusers"],
        [[name, f"{1e3 * m:.1f}", f"{1e3 * min(t):.1f}", f"{m / med[0]:.3f}"]
         for (name, t), m in zip(times.items(), med, strict=True)],
    )  # fmt: skip
    verdict, diff = "PASS" if med[1] <= 1.05 * med[0] else "MISS", (ours - theirs).abs().max()
    print(f"\ntarget diffgraph cold / diffusers <= 1.05: {verdict}")
    print(f"images: max abs pixel difference {diff:.2e} (pixels 0..1, std {ours.std():.3f})\n")
    modules = [loaded["model"].handle.get(), loaded["clip"].handle.get().encoders[0].model,
               loaded["vae"].handle.get().decoder]  # fmt: skip
    rows = []
    for name in list(runs)[:2]:  # of 3 runs, the one with the median total
        total, inside, calls = sorted(hooked(runs[name], modules) for _ in range(3))[1]
        cells = [f"{1e3 * s:.1f}" for s in (total, *inside, total - sum(inside))]
        rows.append([name.split(" (")[0], cells[0], str(calls), *cells[1:]])
    table(["one run, split by forward hooks", "ms", "UNet calls", "UNet ms", "text encoder ms",
           "VAE decoder ms", "everything else ms"], rows)  # fmt: skip
    rerun_check(reg, settings, store)


def rerun_check(reg: Registry, settings: Settings, store: ModelStore) -> None:
    ex = Executor(reg, settings, models=store)
    first_s, first = timed(lambda: ex.run(txt2img(SEED)))  # cold, with the output node
    assert first.status == "success", first.error
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
    counts = ", ".join(f"{k} {kinds.count(k)}" for k in ("loaded", "hit", "evicted"))
    ran_cell = ", ".join(f"{n} ({t})" for n, t in ran)
    table(
        ["ran", "cached", "model store events", "rerun ms", "first run ms"],
        [[ran_cell, ", ".join(cached), counts, f"{1e3 * seconds:.1f}", f"{1e3 * first_s:.1f}"]],
        left=3,
    )


def big_sd1(path: Path) -> Path:
    """An SD1-shaped checkpoint: SD1's UNet layout at 1/5 of its width, a 256-wide CLIP."""
    config = {**load_config("sd1", "unet"), "block_out_channels": (64, 128, 256, 256)}
    torch.manual_seed(0)
    values = {
        "unet": UNet2DConditionModel.from_config({**config, "cross_attention_dim": 256}).eval(),
        "clip": TextEncoders("sd1", [TextEncoder(
            "clip_l", CLIPTextModel(tiny.text_config(width=256)).eval(), "eos", -1, True)]),
        "vae": tiny.vae(),
    }  # fmt: skip
    store = ModelStore()
    h = {k: store.handle(ModelKey("bench", "big", "0", k), partial(values.get, k)) for k in values}
    model = Model(h["unet"], {"family": "sd1", "prediction_type": "epsilon", "patches": ()})
    save_checkpoint(path, model, Clip(h["clip"], {}), Vae(h["vae"], {}), store)
    return path


def vm() -> dict[str, int]:
    """This process's memory figures from /proc/self/status, in bytes."""
    fields = ("VmRSS", "VmHWM", "RssAnon", "RssFile")
    lines = (line.split() for line in Path("/proc/self/status").read_text().splitlines())
    return {f[0][:-1]: int(f[1]) * 1024 for f in lines if f and f[0][:-1] in fields}


def load_child(path: str) -> None:
    """In a fresh process: load one checkpoint into a fresh store, then read every weight
    once; print the time and memory increases as JSON. A first load and read, dropped
    again, pages in library code first, as in a server that has run before."""
    from engine.device import DevicePolicy
    from nodes.ops.families.sd.loading import load_checkpoint

    def load() -> Any:
        return load_checkpoint(Path(path), ModelStore(), DevicePolicy("cpu", "float32"))

    @torch.inference_mode()
    def read(parts: Any) -> float:  # what the first run does: every weight is read
        return sum(float(p.sum()) for part in parts for p in part.handle.get().parameters())

    read(load())
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    start = vm()
    seconds, parts = timed(load)
    loaded = vm()
    read_s = timed(lambda: read(parts))[0]
    used = vm()
    rss = [loaded["VmHWM"], loaded["VmRSS"], used["VmRSS"], used["RssAnon"], used["RssFile"]]
    base = [start["VmRSS"]] * 3 + [start["RssAnon"], start["RssFile"]]
    rise = [a - b for a, b in zip(rss, base, strict=True)]
    print(json.dumps({"s": seconds, "read_s": read_s, "rss": rise}))


def loading_table(ckpts: Path) -> None:
    files = {f: write_checkpoint(ckpts / f"{f}.safetensors", f) for f in ("sd1", "sd2", "sdxl")}
    files["sd1-shaped, synthetic"] = big_sd1(ckpts / "big_sd1.safetensors")
    print("\n## Loading a checkpoint (load_checkpoint, fresh store, a process each, warm cache)")
    print(
        "\nRSS increase per file byte: peak during the load; after it; after reading every weight"
    )
    print("once (as the first run does), split into anonymous and file-backed (mmap) memory.\n")
    rows = []
    for name, path in files.items():
        child = [sys.executable, __file__, "--load-child", str(path)]
        out = subprocess.run(child, capture_output=True, text=True, check=True).stdout
        r, size = json.loads(out.strip().splitlines()[-1]), path.stat().st_size
        ms = [f"{1e3 * r['s']:.0f}", f"{1e3 * r['read_s']:.0f}"]
        rows.append([name, f"{size / MB:.1f}", *ms, *(f"{b / size:.2f}" for b in r["rss"])])
    header = ["checkpoint", "file MB", "load ms", "first read ms", "peak", "after load"]
    table([*header, "after reading", "anon", "file-backed"], rows)


def main() -> None:
    torch.set_num_threads(THREADS)
    diffusers.utils.logging.set_verbosity_error()  # "should be kept in float32: []" per load
    transformers.utils.logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        ckpts = home / "models" / "checkpoints"
        write_checkpoint(ckpts / "sd1.safetensors", "sd1")
        settings = Settings.at(home, dtype="float32")  # overhead, not precision
        compare(Registry.discover(settings, plugins=False), settings)
        gc.collect()
        loading_table(home / "load")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load-child"]:
        load_child(sys.argv[2])
    else:
        main()
