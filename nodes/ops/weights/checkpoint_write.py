"""Writing weight files: atomically, so a reader sees the old file or the new one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import save_file


def write_safetensors(
    path: str | Path,
    state_dict: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str],
    *,
    overwrite: bool = False,
) -> None:
    """Write `state_dict` as safetensors atomically: readers see the old file or the new."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("safetensors metadata must map str to str")
    tensors: dict[str, torch.Tensor] = {}
    storages: set[int] = set()
    for name, tensor in state_dict.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name!r} is a {type(tensor).__name__}, not a tensor")
        tensor = tensor.detach().contiguous()
        pointer = tensor.untyped_storage().data_ptr()
        if pointer in storages and tensor.numel():  # safetensors refuses shared memory
            tensor = tensor.clone()
        storages.add(tensor.untyped_storage().data_ptr())
        tensors[name] = tensor
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")  # unique per writer
    try:
        save_file(tensors, str(temp), metadata=dict(metadata))
        with open(temp, "rb") as file:
            os.fsync(file.fileno())
        if overwrite:
            os.replace(temp, path)
        else:
            _publish_new(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _publish_new(temp: Path, path: Path) -> None:
    """Move `temp` to `path` unless a file appeared there meanwhile (a hard link is atomic)."""
    try:
        os.link(temp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it") from None
    except OSError:  # a filesystem without hard links: check, then replace
        if path.exists():
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it") from None
        os.replace(temp, path)
