"""What every training stage shares: the cached data set, a learning-rate schedule, an EMA of
the weights, and a resumable loop that saves its whole state (weights, optimizer, EMA, step,
random generators) every few hundred steps and logs the loss as JSON lines."""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from training import toy_data

# TOY_RUN_DIR moves the run elsewhere (smoke tests); by default training/runs/toy.
RUN_DIR = Path(os.environ.get("TOY_RUN_DIR") or Path(__file__).resolve().parent / "runs" / "toy")
DATA_COUNT = int(os.environ.get("TOY_DATA_COUNT", "60000"))
DATA_SEED = 0


def load_images(count: int = DATA_COUNT, seed: int = DATA_SEED) -> dict[str, Any]:
    """The fixed training set (images uint8 [N,64,64,3], masks uint8 [N,64,64], captions),
    drawn once by toy_data and cached under the run folder."""
    path = RUN_DIR / f"data_{count}_{seed}.npz"
    if not path.is_file():
        print(f"drawing {count} toy scenes (seed {seed}) ...", flush=True)
        images, masks, captions = toy_data.dataset(count, seed)
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, images=images, masks=masks, captions=np.array(captions))
        os.replace(tmp, path)
    data = np.load(path)
    return {
        "images": data["images"],
        "masks": data["masks"],
        "captions": [str(c) for c in data["captions"]],
    }


@dataclass(frozen=True)
class LrSchedule:
    """Linear warm-up to `peak`, then a cosine decay to `peak * final`."""

    peak: float
    warmup: int
    total: int
    final: float = 0.05

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.peak * (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.peak * (
            self.final + (1 - self.final) * 0.5 * (1 + math.cos(math.pi * progress))
        )


class Ema:
    """Exponential moving average of some modules' parameters (buffers copied as they are)."""

    def __init__(self, modules: dict[str, torch.nn.Module], decay: float) -> None:
        self.modules, self.decay = modules, decay
        self.shadow = {
            name: {k: v.detach().clone() for k, v in m.state_dict().items()}
            for name, m in modules.items()
        }

    @torch.no_grad()
    def update(self, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for name, module in self.modules.items():
            shadow = self.shadow[name]
            for key, value in module.state_dict().items():
                if value.dtype.is_floating_point:
                    shadow[key].lerp_(value.detach(), 1.0 - decay)
                else:
                    shadow[key].copy_(value)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay, self.shadow = state["decay"], state["shadow"]


class ThreadTuner:
    """Picks 1 or 2 threads by measuring: other processes share these 2 cores at times, and
    then one thread runs faster than two. Every `period` steps it tries the other setting
    for `probe` steps and keeps whichever had the shorter recent step time."""

    def __init__(self, choices: tuple[int, int] = (2, 1), period: int = 100, probe: int = 6):
        self.best, self.other = choices
        self.period, self.probe = period, probe
        self.current = self.best
        self.mean: dict[int, float] = {}

    def before(self, step: int) -> None:
        self.current = self.other if step % self.period < self.probe else self.best
        torch.set_num_threads(self.current)

    def after(self, step: int, seconds: float) -> None:
        phase = step % self.period
        if phase not in (0, self.probe):  # the first step after a switch warms up
            old = self.mean.get(self.current, seconds)
            self.mean[self.current] = 0.7 * old + 0.3 * seconds
        if phase == self.period - 1 and len(self.mean) == 2:
            self.best = min(self.mean, key=lambda k: self.mean[k])
            self.other = next(k for k in self.mean if k != self.best)


@dataclass
class Stage:
    """One resumable training run: `step_fn(step)` does one optimizer step and returns its
    losses; `extra` is saved along (and may be filled by the stage when it finishes)."""

    name: str
    modules: dict[str, torch.nn.Module]
    optimizer: torch.optim.Optimizer
    lr: LrSchedule
    ema: Ema
    generator: torch.Generator
    save_every: int = 250
    log_every: int = 50
    extra: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    seconds: float = 0.0  # training time so far, over every resumed run
    tuner: ThreadTuner | None = None  # None: keep the thread count as it is

    @property
    def path(self) -> Path:
        return RUN_DIR / f"{self.name}.pt"

    @property
    def log_path(self) -> Path:
        return RUN_DIR / f"{self.name}.log.jsonl"

    def save(self) -> None:
        state = {
            "step": self.step,
            "seconds": self.seconds,
            "total": self.lr.total,
            "modules": {k: m.state_dict() for k, m in self.modules.items()},
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict(),
            "generator": self.generator.get_state(),
            "rng": (torch.get_rng_state(), random.getstate(), np.random.get_state()),
            "extra": self.extra,
        }
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)

    def resume(self) -> bool:
        """Load the saved state, if any; True if there was one."""
        if not self.path.is_file():
            return False
        state = torch.load(self.path, weights_only=False)
        for key, module in self.modules.items():
            module.load_state_dict(state["modules"][key])
        self.optimizer.load_state_dict(state["optimizer"])
        self.ema.load_state_dict(state["ema"])
        self.generator.set_state(state["generator"])
        torch_rng, py_rng, np_rng = state["rng"]
        torch.set_rng_state(torch_rng)
        random.setstate(py_rng)
        np.random.set_state(np_rng)
        self.step, self.seconds, self.extra = state["step"], state["seconds"], state["extra"]
        if state["total"] != self.lr.total:  # the schedule was lengthened or shortened
            change = {"at": self.step, "from": state["total"], "to": self.lr.total}
            self.extra.setdefault("schedule_changes", []).append(change)
        return True

    def log(self, record: dict[str, Any]) -> None:
        with self.log_path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")

    def run(
        self,
        step_fn: Callable[[int], dict[str, float]],
        every: Callable[[int], None] | None = None,
        every_steps: int = 0,
    ) -> None:
        """Train from the saved step to `lr.total`; `every(step)` runs each `every_steps`."""
        if self.resume():
            print(f"{self.name}: resuming at step {self.step}/{self.lr.total}", flush=True)
        sums: dict[str, float] = {}
        count = 0
        bar = tqdm(total=self.lr.total, initial=self.step, desc=self.name, mininterval=5)
        while self.step < self.lr.total:
            started = time.perf_counter()
            lr = self.lr(self.step)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            if self.tuner is not None:
                self.tuner.before(self.step)
            losses = step_fn(self.step)
            self.ema.update(self.step)
            if self.tuner is not None:
                self.tuner.after(self.step, time.perf_counter() - started)
            self.step += 1
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
            bar.update(1)
            bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()}, refresh=False)
            if self.step % self.log_every == 0 or self.step == self.lr.total:
                means = {k: v / count for k, v in sums.items()}
                record = {"step": self.step, "lr": lr, "seconds": round(self.seconds, 1), **means}
                if self.tuner is not None:
                    record["threads"] = self.tuner.best
                self.log(record)
                tqdm.write(json.dumps({k: round(v, 5) for k, v in record.items()}))
                sums, count = {}, 0
            self.seconds += time.perf_counter() - started  # evaluations are not counted
            if self.step % self.save_every == 0 or self.step == self.lr.total:
                self.save()
            if every is not None and every_steps and self.step % every_steps == 0:
                every(self.step)
        bar.close()


@dataclass(frozen=True)
class Plan:
    steps: int
    batch: int
    lr: float  # peak learning rate
    warmup: int
    eval_every: int  # 0: the stage's default
    threads: int  # 0: pick 1 or 2 by measuring, as the CPU is shared
    shape_weight: float = 4.0  # vae: extra weight of the pixels on and around the shape

    def tuner(self) -> ThreadTuner | None:
        if self.threads:
            torch.set_num_threads(self.threads)
            return None
        return ThreadTuner()


def optimizer(params: list[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.99), weight_decay=0.0)


def new_stage(name: str, modules: dict[str, torch.nn.Module], plan: Plan, seed: int) -> Stage:
    """A stage training `modules` with AdamW, warm-up then cosine decay, an EMA of the
    weights and a generator of its own seeded with `seed`."""
    params = [p for module in modules.values() for p in module.parameters()]
    stage = Stage(
        name,
        modules,
        optimizer(params, plan.lr),
        LrSchedule(plan.lr, plan.warmup, plan.steps),
        Ema(modules, 0.999),
        torch.Generator().manual_seed(seed),
        tuner=plan.tuner(),
    )
    stage.extra.update(batch=plan.batch, peak_lr=plan.lr)
    return stage


def descend(stage: Stage, loss: torch.Tensor) -> None:
    """One optimizer step on `loss`, gradients clipped to norm 1."""
    stage.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for module in stage.modules.values() for p in module.parameters()]
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    stage.optimizer.step()
