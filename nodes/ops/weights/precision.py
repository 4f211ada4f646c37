"""Weights held in one precision and computed in another.

A half-precision file whose model computes in float32 (a CPU without native bfloat16, or a
text encoder) keeps its weights as stored: each layer is widened only while it runs. The
widening is exact, so the results are those of float32 weights, for half the memory. It
costs time on every call (about a third of a 256x256 SD 1.5 step on a 2-core CPU, less at
larger sizes), which is why a precision the user forces (`--dtype`) holds the weights in it.
"""

from __future__ import annotations

from typing import Any

import torch

HALF = (torch.float16, torch.bfloat16)
FP8 = (torch.float8_e4m3fn, torch.float8_e5m2)
# Modules whose forward reads their own weights: widened per call. Everything else that
# holds tensors (norms, embeddings of positions, bare parameters) is small and widened once.
_LAYERS = (
    torch.nn.Linear,
    torch.nn.Conv1d,
    torch.nn.Conv2d,
    torch.nn.Conv3d,
    torch.nn.ConvTranspose2d,
    torch.nn.Embedding,
)
_COMPUTE = "_diffgraph_compute_dtype"


def weights_dtype(stored: torch.dtype | None, compute: torch.dtype, forced: bool) -> torch.dtype:
    """What to hold a model's weights in: the file's half precision where the model
    computes in something wider (unless the user forced a precision), else the compute
    dtype, converted as the file is read."""
    if not forced and stored in HALF and stored.itemsize < compute.itemsize:
        return stored
    return compute


def compute_in(model: Any, compute: torch.dtype) -> Any:
    """Make `model`, whose weights are narrower than `compute`, run in `compute`: layers
    are widened for the length of their call, the rest now. Idempotent."""
    for module in model.modules():
        if isinstance(module, _LAYERS) and _narrower(module, compute):
            if not getattr(module, _COMPUTE, None):
                module.register_forward_pre_hook(_widen)
                module.register_forward_hook(_restore)
            object.__setattr__(module, _COMPUTE, compute)
        elif not isinstance(module, _LAYERS):
            _widen_own_tensors(module, compute)
    object.__setattr__(model, _COMPUTE, compute)
    return model


def compute_dtype_of(model: Any) -> torch.dtype:
    """The dtype a model computes in: what `compute_in` set, else its parameters' (but
    not fp8 storage, which diffusers' layerwise casting computes in another dtype)."""
    declared = getattr(model, _COMPUTE, None)
    if declared is not None:
        return declared
    computed = [p.dtype for p in model.parameters() if p.dtype not in FP8]
    return computed[0] if computed else torch.float32


def _narrower(module: torch.nn.Module, compute: torch.dtype) -> bool:
    return any(
        p.is_floating_point() and p.dtype.itemsize < compute.itemsize
        for p in module.parameters(recurse=False)
    )


def _widen_own_tensors(module: torch.nn.Module, compute: torch.dtype) -> None:
    for tensors in (module._parameters, module._buffers):
        for tensor in tensors.values():
            if tensor is not None and tensor.dtype in HALF and tensor.dtype != compute:
                tensor.data = tensor.data.to(compute)


def _widen(module: torch.nn.Module, _args: Any) -> None:
    # The stored tensors are put back after the call, not narrowed again: no second cast.
    compute = getattr(module, _COMPUTE)
    stored = {}
    for name, param in module._parameters.items():
        if param is not None and param.dtype in HALF:
            stored[name] = param.data
            param.data = param.data.to(compute)
    object.__setattr__(module, "_diffgraph_stored", stored)


def _restore(module: torch.nn.Module, _args: Any, _output: Any) -> None:
    stored = module.__dict__.pop("_diffgraph_stored", {})
    for name, data in stored.items():
        module._parameters[name].data = data  # type: ignore[union-attr]


def input_placement(model: Any) -> tuple[torch.device, torch.dtype]:
    """Where and in what dtype a model's inputs must be."""
    return next(model.parameters()).device, compute_dtype_of(model)
