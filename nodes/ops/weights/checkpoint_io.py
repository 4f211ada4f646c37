"""Reading and writing weight files without ever running code from them.

.safetensors is plain data. Pickled .ckpt/.pt/.pth/.bin files go only through torch's
weights_only unpickler; a file that needs more than tensors and plain containers is
refused, not trusted. Broken or foreign files raise `CheckpointError` with the file's
name and what was expected, never a library's own exception.
"""

from __future__ import annotations

import functools
import importlib
import json
import pickle
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from engine.context import Interrupted, check_interrupt

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
_MAX_HEADER = 100_000_000  # the limit safetensors itself enforces
# First bytes of files that end up misnamed (an HTML page is a failed download).
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"PK\x03\x04": "a zip archive (a pickled PyTorch checkpoint?)",
    b"\x1f\x8b": "a gzip archive",
    b"<": "an HTML or XML page (a failed download?)",
}


class CheckpointError(ValueError):
    """A weight file that cannot or may not be read."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)


def read_state_dict(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors by name, metadata) of a weight file; `global_step` of a pickled
    checkpoint is reported in the metadata (SD2's 768-v files are told apart by it)."""
    path = _existing(path)
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        header = _safetensors_header(path)
        return _read_safetensors(path, list, device), _metadata(path, header)
    return _unwrap(path, _load_pickle(path, device))


def read_pickle(path: str | Path, device: str | torch.device = "cpu") -> Any:
    """What a pickled file holds, read by the weights_only unpickler: tensors, plain
    containers, numbers and text (A1111's embeddings nest their tensors in dicts)."""
    return _load_pickle(_existing(path), device)


def read_tensors(
    path: str | Path,
    select: Callable[[list[str]], list[str]],
    dtype: torch.dtype | None = None,
    channels_last: bool = False,
    device: torch.device | str = "cpu",
) -> dict[str, torch.Tensor]:
    """Only the tensors whose names `select` picks from all names: a component of a large
    single file is read without reading the rest (for safetensors). With `dtype`, floating
    tensors stored otherwise arrive converted, read one at a time (see `_read_converted`),
    4-d ones channels-last if asked (converting them later doubled them at the peak).
    Safetensors arrive on `device` one by one: a GPU load holds one tensor in RAM at most."""
    path = _existing(path)
    if path.suffix.lower() not in SAFETENSORS_SUFFIXES:
        state, _ = read_state_dict(path)
        return {k: state[k] for k in select(list(state))}
    header = _safetensors_header(path)
    if dtype is not None and any(
        _STORED.get(header[k]["dtype"], dtype) != dtype for k in select(_names(header))
    ):
        return _read_converted(path, header, select, dtype, channels_last, device)
    return _read_safetensors(path, select, device)


def stored_float_dtype(
    path: str | Path, select: Callable[[list[str]], list[str]]
) -> torch.dtype | None:
    """The floating dtype that most of the selected tensors' bytes are stored in (fp8
    included), from a safetensors header (None for other files: read them to tell)."""
    path = _existing(path)
    if path.suffix.lower() not in SAFETENSORS_SUFFIXES:
        return None
    header = _safetensors_header(path)
    sizes: dict[torch.dtype, int] = {}
    for name in select(_names(header)):
        stored = _STORED.get(header[name]["dtype"]) or _FP8.get(header[name]["dtype"])
        if stored is not None:
            first, last = header[name]["data_offsets"]
            sizes[stored] = sizes.get(stored, 0) + last - first
    return max(sizes, key=sizes.__getitem__) if sizes else None


# safetensors' names of the floating dtypes that may be converted on reading.
_STORED = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32}
_FP8 = {"F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2}  # read as stored


def _names(header: Mapping[str, Any]) -> list[str]:
    return [k for k in header if k != "__metadata__"]


def _only(name: str, names: list[str]) -> list[str]:
    return [name]


def _read_converted(
    path: Path,
    header: Mapping[str, Any],
    select: Callable[[list[str]], list[str]],
    dtype: torch.dtype,
    channels_last: bool = False,
    device: torch.device | str = "cpu",
) -> dict[str, torch.Tensor]:
    """Each selected tensor read into a buffer of its own and converted at once: memory
    holds the converted weights plus one tensor in the stored dtype. (Converting memory-
    mapped tensors instead keeps every touched page of the map resident until the last
    tensor is released: an fp16 file loaded in fp32 peaked at 2.6x its size, not 1.8x.)"""
    tensors: dict[str, torch.Tensor] = {}
    with path.open("rb", buffering=0) as file:
        begin = 8 + int.from_bytes(file.read(8), "little")
        for name in select(_names(header)):
            check_interrupt()
            info = header[name]
            stored = _STORED.get(info["dtype"])
            if stored is None:  # integers and the like: as safetensors reads them
                tensors.update(_read_safetensors(path, functools.partial(_only, name), device))
                continue
            first, last = info["data_offsets"]
            raw = torch.empty(last - first, dtype=torch.uint8)
            file.seek(begin + first)
            if file.readinto(raw.numpy().data) != last - first:
                raise CheckpointError(path, f"truncated data of tensor {name!r}")
            tensor = raw.view(stored).reshape(info["shape"])
            layout = torch.channels_last if channels_last and tensor.dim() == 4 else None
            tensors[name] = tensor.to(device, dtype, memory_format=layout or torch.preserve_format)
    return tensors


def _read_safetensors(
    path: Path, select: Callable[[list[str]], list[str]], device: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """The selected tensors, one by one, honouring an interrupt in between: a large file
    (or a slow disk) takes seconds."""
    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as file:
            for name in select(list(file.keys())):
                check_interrupt()
                tensors[name] = file.get_tensor(name)
    except Interrupted:
        raise
    except Exception as error:  # the header was sound but the data is not
        raise CheckpointError(path, f"unreadable safetensors data ({error})") from None
    return tensors


def read_shapes(path: str | Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """(shape by tensor name, metadata), reading only the header of safetensors files."""
    path = _existing(path)
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        header = _safetensors_header(path)
        shapes = {k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"}
        return shapes, _metadata(path, header)
    tensors, metadata = read_state_dict(path)  # mmap: pages are touched only for shapes
    return {name: tuple(t.shape) for name, t in tensors.items()}, metadata


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weight file at {path}")
    suffixes = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES
    if path.suffix.lower() not in suffixes:
        raise CheckpointError(path, f"unknown kind of weight file; expected {', '.join(suffixes)}")
    return path


def _safetensors_header(path: Path) -> dict[str, Any]:
    """The parsed JSON header, checked against the file size."""
    size = path.stat().st_size
    with open(path, "rb") as file:
        start = file.read(8)
        length = int.from_bytes(start, "little") if len(start) == 8 else -1
        raw = file.read(length) if 2 <= length <= min(size - 8, _MAX_HEADER) else b""
    what = next((kind for magic, kind in _MAGIC.items() if start.startswith(magic)), None)
    expected = "expected a safetensors file"
    if what is not None:
        raise CheckpointError(path, f"this is {what}, {expected}")
    if size < 8 + 2:
        raise CheckpointError(path, f"{size} bytes is too short, {expected}")
    if not raw:
        raise CheckpointError(
            path, f"header length {length} does not fit a {size}-byte file: truncated? {expected}"
        )
    try:
        header = json.loads(raw.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("not an object")
        end = 0
        for name, info in header.items():
            if name == "__metadata__":
                continue
            first, last = info["data_offsets"]
            if not (0 <= first <= last and all(isinstance(n, int) for n in info["shape"])):
                raise ValueError(f"bad entry {name!r}")
            end = max(end, last)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise CheckpointError(path, f"malformed header ({error}), {expected}") from None
    if 8 + length + end > size:
        raise CheckpointError(
            path, f"truncated: tensors need {8 + length + end} bytes, the file has {size}"
        )
    return header


def _metadata(path: Path, header: Mapping[str, Any]) -> dict[str, str]:
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(path, "malformed header: __metadata__ is not an object")
    return {str(k): str(v) for k, v in metadata.items()}


def _load_pickle(path: Path, device: str | torch.device) -> Any:
    _allow_inert_globals()
    try:
        # mmap needs the zip layout of torch>=1.6; older pickles are read whole
        mmap = zipfile.is_zipfile(path)
        return torch.load(path, map_location=device, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if found:
            raise CheckpointError(
                path,
                f"loading it needs unpickling arbitrary code ({found.group(1)}), which "
                "diffgraph refuses; convert it to .safetensors with a tool you trust",
            ) from None
        raise CheckpointError(path, "not a PyTorch checkpoint, or a damaged one") from None
    except MemoryError:
        raise
    except Exception as error:  # EOFError, RuntimeError from a cut zip, ...
        reason = str(error).split(". ")[0] or type(error).__name__
        raise CheckpointError(path, f"truncated, or not a PyTorch checkpoint ({reason})") from None


def _unwrap(path: Path, loaded: Any) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not isinstance(loaded, dict):
        raise CheckpointError(path, f"expected a dict of tensors, found {type(loaded).__name__}")
    metadata: dict[str, str] = {}
    step = loaded.get("global_step")
    if isinstance(step, torch.Tensor) and step.numel() == 1:
        step = step.item()
    if isinstance(step, int) and not isinstance(step, bool):
        metadata["global_step"] = str(step)
    inner = loaded.get("state_dict")
    weights = inner if isinstance(inner, dict) else loaded
    tensors = {str(k): v for k, v in weights.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(
            path, f"no tensors found (top-level keys: {sorted(map(str, loaded))[:8]})"
        )
    return tensors, metadata


class _LightningModelCheckpoint:
    """Inert stand-in for the training callback some SD1/SD2 .ckpt files pickle along."""


def _numpy_scalar(*args: Any) -> Any:
    # Lightning pickles `best_model_score` as a numpy scalar: data, not code.
    try:
        multiarray = importlib.import_module("numpy._core.multiarray")
    except ImportError:  # numpy 1.x
        multiarray = importlib.import_module("numpy.core.multiarray")
    return multiarray.scalar(*args)


@functools.cache
def _allow_inert_globals() -> None:
    """Let weights_only read the training leftovers of common SD checkpoints (we drop
    them): each allowed global builds plain data and can run nothing else."""
    import numpy

    lightning = "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"
    torch.serialization.add_safe_globals(
        [
            (_LightningModelCheckpoint, lightning),
            (_numpy_scalar, "numpy.core.multiarray.scalar"),
            (_numpy_scalar, "numpy._core.multiarray.scalar"),
            numpy.dtype,
            numpy.dtypes.Float64DType,
        ]
    )
