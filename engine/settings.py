"""Where diffgraph keeps its files and how much memory it may use.

One immutable object passed to whatever needs it (no module-level state). Folders follow
ComfyUI's layout so users can point diffgraph at the collection they already have.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

GIB = 1024**3


# Where a container's memory limit is written (cgroup v2, then v1): a process limited to
# 8 GB on a 64 GB host must budget for 8.
CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)


def _physical_memory() -> int:
    """The machine's memory, or the container's limit when that is lower."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 8 * GIB
    for limit in CGROUP_LIMITS:
        try:
            memory = min(memory, int(limit.read_text().strip()))
        except (OSError, ValueError):  # absent, or "max": no limit there
            continue
    return memory


@dataclass(frozen=True)
class Settings:
    base_dir: Path
    models_dir: Path
    input_dir: Path
    output_dir: Path
    temp_dir: Path
    user_dir: Path
    custom_nodes_dirs: tuple[Path, ...] = ()
    cache_bytes: int = 2 * GIB  # output cache budget; 0 turns caching off
    # What models on the CPU, and a job as a whole, may use; half the machine by default.
    ram_budget: int = field(default_factory=lambda: _physical_memory() // 2)
    vram_budget: int | None = None  # the same on the accelerator; None: no limit of ours
    device: str | None = None  # force "cpu", "cuda", "cuda:1", "mps"; None picks the best
    dtype: str | None = None  # force "float32", "float16", "bfloat16"; None or "auto" chooses
    threads: int | None = None  # CPU threads for torch; None: torch's default (all cores)
    compile: bool = (
        False  # torch.compile unpatched denoising networks (nodes.ops.sampling.compiled)
    )
    extra_model_paths: tuple[Path, ...] = ()  # ComfyUI-style extra_model_paths.yaml files
    # Import torch/diffusers in the background once serving (engine.warmup); off for
    # measuring start-up or the cold first load.
    warm_imports: bool = True

    @classmethod
    def at(cls, base_dir: str | Path, **overrides: Any) -> Settings:
        """Settings with every folder under `base_dir`, then `overrides` applied."""
        base = Path(base_dir).resolve()
        settings = cls(
            base_dir=base,
            models_dir=base / "models",
            input_dir=base / "input",
            output_dir=base / "output",
            temp_dir=base / "temp",
            user_dir=base / "user",
            custom_nodes_dirs=(base / "custom_nodes",),
            extra_model_paths=(base / "extra_model_paths.yaml",),  # used when it exists
        )
        return replace(settings, **overrides)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Settings rooted at $DIFFGRAPH_HOME, or the current directory."""
        return cls.at(os.environ.get("DIFFGRAPH_HOME", "."), **overrides)

    def model_folder(self, kind: str) -> Path:
        """The folder of one kind of model file: checkpoints, vae, loras, controlnet, ..."""
        return self.models_dir / kind
