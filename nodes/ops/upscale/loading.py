"""Upscale model files into networks: read (.safetensors, or .pth through torch.load with
weights_only, so no pickled code runs), unwrap BasicSR's params_ema/params, rename the
original ESRGAN layout, detect the architecture, build it and fill it with the weights."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.device import DevicePolicy
from engine.model_store import ModelKey, ModelStore, file_fingerprint
from engine.types import UpscaleModel
from nodes.ops.upscale.compact import SRVGGNetCompact
from nodes.ops.upscale.detect import (
    LAYOUTS_READ,
    WRAPPERS,
    UnknownUpscaleModel,
    UpscaleSpec,
    detect,
    rename_to_basicsr,
)
from nodes.ops.upscale.rrdb import RRDBNet
from nodes.ops.upscale.swinir import SwinIR, relative_position_index
from nodes.ops.weights.build import place
from nodes.ops.weights.checkpoint_io import SAFETENSORS_SUFFIXES, CheckpointError, read_state_dict

# Buffers some files carry that we compute for the size at hand instead (SwinIR's mask of
# shifted windows, saved for its training crop size).
IGNORED_SUFFIXES = (".attn_mask",)
# What each family computes in on a GPU: the convolutional ones in float16; SwinIR in
# bfloat16, as the ecosystem runs it (float16 is known to misbehave in its attention).
ACCELERATOR_DTYPES = {"rrdb": "float16", "compact": "float16", "swinir": "bfloat16"}


def read_upscale_weights(path: Path) -> dict[str, torch.Tensor]:
    """The network's tensors by BasicSR's names, whatever wrapper or layout the file has."""
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        state: Any = read_state_dict(path)[0]
    else:
        state = _load_pth(path)
    state = _unwrap(path, state)
    renamed = rename_to_basicsr(list(state))
    if renamed:
        state = {renamed.get(k, k): v for k, v in state.items()}
    return {k: v for k, v in state.items() if not k.endswith(IGNORED_SUFFIXES)}


def _load_pth(path: Path) -> Any:
    try:
        return torch.load(
            path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path)
        )
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            path, f"refused: loading it would run pickled code ({str(error)[:120]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        reason = str(error).split(". ")[0] or type(error).__name__
        raise CheckpointError(path, f"not a PyTorch weight file ({reason})") from None


def _unwrap(path: Path, loaded: Any) -> dict[str, torch.Tensor]:
    """BasicSR saves {"params_ema": weights} (or "params"); DataParallel prefixes "module."."""
    while isinstance(loaded, dict):
        inner = next((loaded[w] for w in WRAPPERS if isinstance(loaded.get(w), dict)), None)
        if inner is None:
            break
        loaded = inner
    if not isinstance(loaded, dict):
        raise CheckpointError(path, f"expected a dict of tensors, found {type(loaded).__name__}")
    tensors = {str(k).removeprefix("module."): v for k, v in loaded.items()}
    return {k: v for k, v in tensors.items() if isinstance(v, torch.Tensor)}


def spec_of(path: Path, state: dict[str, torch.Tensor]) -> UpscaleSpec:
    try:
        return detect({k: tuple(v.shape) for k, v in state.items()})
    except (UnknownUpscaleModel, KeyError, IndexError) as error:
        detail = str(error) if isinstance(error, UnknownUpscaleModel) else "incomplete weights"
        raise CheckpointError(path, f"{detail}; the layouts read are: {LAYOUTS_READ}") from None


def build_network(spec: UpscaleSpec) -> nn.Module:
    """The architecture, with random weights (on whatever device is current)."""
    if spec.arch == "rrdb":
        return RRDBNet(**spec.options)
    if spec.arch == "compact":
        return SRVGGNetCompact(scale=spec.scale, **spec.options)
    return SwinIR(scale=spec.scale, **spec.options)


def network_from_file(path: Path) -> tuple[nn.Module, UpscaleSpec]:
    """The network a file holds, on the CPU in float32, checked key for key."""
    state = read_upscale_weights(path)
    spec = spec_of(path, state)
    with torch.device("meta"):
        network = build_network(spec)
    for name, _ in network.named_buffers():  # computed, where a file left it out
        if name.endswith(".relative_position_index") and name not in state:
            state[name] = relative_position_index(spec.options["window"])
    expected = set(network.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        which = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(path, f"looks like {spec.arch} x{spec.scale} but has {which}")
    try:
        network.load_state_dict(_as_float32(state), assign=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[-1].strip()
        raise CheckpointError(
            path, f"{spec.arch} weights of inconsistent shapes: {first}"
        ) from None
    return network, spec


def load_upscale_model(path: Path, store: ModelStore, devices: DevicePolicy) -> UpscaleModel:
    """The file's network held by the store, placed on the device."""

    def load() -> nn.Module:
        network, spec = network_from_file(path)
        # Read back below, also when the store already holds the network.
        object.__setattr__(network, "upscale_spec", spec)
        return place(network, devices, devices.dtype_for(ACCELERATOR_DTYPES[spec.arch]))

    handle = store.handle(ModelKey("upscale_model", str(path), file_fingerprint(path)), load)
    spec: UpscaleSpec = handle.get().upscale_spec
    config = {
        "arch": spec.arch,
        "scale": spec.scale,
        "channels": int(spec.options["in_channels"]),
        "file": path.name,
        # Tiles start at multiples of the blocks the network works in.
        "align": int(spec.options.get("window", spec.options.get("unshuffle", 1))),
    }
    return UpscaleModel(handle, config)


def _as_float32(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights in float32 (files come in half precision too); index buffers stay integers."""
    return {k: v.float() if v.is_floating_point() else v.long() for k, v in state.items()}
