"""Turning weight files into models: a model built on the meta device is filled with the
file's tensors (no second copy), then placed on the device in the policy's precision. Plus
the identity of a file or folder for the model store, and our metadata beside files that
cannot carry it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from engine.device import DevicePolicy
from engine.model_store import file_fingerprint
from nodes.ops.weights.checkpoint_io import CheckpointError, read_tensors
from nodes.ops.weights.interruptible import to_in_steps, watch
from nodes.ops.weights.precision import compute_in, weights_dtype

META = "diffgraph."  # our keys in a safetensors file's metadata


def path_fingerprint(path: Path) -> str:
    if path.is_dir():
        return ";".join(
            f"{p.relative_to(path)}:{file_fingerprint(p)}"
            for p in sorted(path.rglob("*"))
            if p.is_file()
        )
    return file_fingerprint(path)


def sidecar_metadata(path: Path) -> dict[str, str]:
    """`name.json` beside a weight file: our metadata keys for files that cannot carry
    them (pickled checkpoints), e.g. {"diffgraph.prediction_type": "v_prediction"}."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(sidecar, f"not a readable JSON object ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(sidecar, "expected a JSON object of metadata keys")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


def fill_model(model: Any, state: dict[str, torch.Tensor], what: str, path: Path) -> Any:
    """Put the file's tensors into a model built on the meta device (no second copy)."""
    try:
        missing, _ = model.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as exc:  # shapes that do not fit the config
        first = str(exc).split("\n\t")[1] if "\n\t" in str(exc) else str(exc)
        raise CheckpointError(
            path,
            f"the {what} weights do not fit its architecture "
            f"(a config is needed for this model): {first.strip()}",
        ) from None
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing:
        raise CheckpointError(
            path,
            f"the {what} is missing {len(missing)} weights, e.g. "
            f"{missing[0]!r}: not the model its keys suggest",
        )
    for module in model.modules():  # buffers no file carries: CLIP's position ids
        for name, buffer in list(module._buffers.items()):
            if buffer is not None and buffer.is_meta:
                if name != "position_ids":
                    raise CheckpointError(path, f"the {what} has no value for buffer {name!r}")
                module._buffers[name] = torch.arange(buffer.shape[-1]).expand(buffer.shape)
    return model


def place(
    model: Any,
    devices: DevicePolicy,
    dtype: torch.dtype | None = None,
    held: torch.dtype | None = None,
) -> Any:
    """On the device, computing in the policy's precision (or `dtype`), for inference,
    honouring an interrupt while it converts and, ever after, at each block of a forward
    pass. `held`: a narrower dtype the weights stay in (see `precision.weights_dtype`)."""
    compute = dtype or devices.dtype
    layout = torch.channels_last if devices.channels_last else None
    placed = to_in_steps(model, devices.device, held or compute, layout)
    if held is not None and held != compute:
        compute_in(placed, compute)
    return watch(placed.eval().requires_grad_(False))


def held_dtype(
    stored: torch.dtype | None, compute: torch.dtype, devices: DevicePolicy
) -> torch.dtype:
    """The dtype to read a component's weights in, given the one its file stores."""
    return weights_dtype(stored, compute, devices.forced)


# Load Diffusion Model's weight_dtype: the storage dtype of the weights (None: as computed).
WEIGHT_DTYPES: dict[str, torch.dtype | None] = {
    "default": None,
    "fp8_e4m3fn": torch.float8_e4m3fn,
    "fp8_e4m3fn_fast": torch.float8_e4m3fn,  # ComfyUI's fp8 matmuls; here stored the same
    "fp8_e5m2": torch.float8_e5m2,
}


def store_weights_in(model: Any, storage: torch.dtype | None, compute: torch.dtype) -> Any:
    """Keep the weights in `storage` (fp8) and cast each layer to `compute` as it runs
    (diffusers' layerwise casting): half the memory of bf16, for a little precision."""
    if storage is not None:
        model.enable_layerwise_casting(storage_dtype=storage, compute_dtype=compute)
    return model


def read_for(
    path: Path,
    select: Callable[[list[str]], list[str]],
    dtype: torch.dtype | None,
    devices: DevicePolicy | None = None,
) -> dict[str, torch.Tensor]:
    """The selected tensors in `dtype`, laid out (channels-last) and placed on the device
    for `devices` as they are read: no full copy is made anywhere else first."""
    if devices is None:
        return read_tensors(path, select, dtype)
    return read_tensors(path, select, dtype, devices.channels_last, devices.device)
