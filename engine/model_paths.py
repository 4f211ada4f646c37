"""Where model files are found: our models/ folders plus ComfyUI's extra_model_paths.yaml.

The yaml has one section per collection (a ComfyUI install, an A1111 install, ...):

    a111:
        base_path: ~/stable-diffusion-webui   # relative: to the yaml's folder
        checkpoints: models/Stable-diffusion
        loras: |
            models/Lora
            models/LyCORIS

Kinds we do not use (clip, configs, hypernetworks, ...) are accepted and ignored, so the
file a user already has for ComfyUI works unchanged. Files are re-listed on every call:
users drop models in while the server runs.
"""

from __future__ import annotations

import builtins
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from engine.jsontext import JSONRefused, parse_json
from engine.paths import check_name, relative_name_problem
from engine.settings import Settings

KINDS = (
    "checkpoints",
    "diffusion_models",  # a denoiser alone: a Flux transformer, an SD UNet (Load Diffusion Model)
    "text_encoders",  # CLIP-L, CLIP-G, T5-XXL files (Load CLIP, Dual CLIP Loader)
    "vae",
    "loras",
    "controlnet",
    "embeddings",
    "upscale_models",
)
MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft")
DIFFUSERS_MARKER = "model_index.json"
# Names ComfyUI also uses for a kind, in the yaml and as folders under models/: it searches
# its t2i_adapter folders for controlnets, and keeps the older unet/ and clip/ folders.
_ALIASES = {"t2i_adapter": "controlnet", "unet": "diffusion_models", "clip": "text_encoders"}
_OLDER_FOLDERS = {
    "diffusion_models": ("unet",),
    "text_encoders": ("clip",),
    "controlnet": ("t2i_adapter",),
}


def read_extra_model_paths(yaml_file: Path) -> list[tuple[str, Path, bool]]:
    """(kind, folder, is_default) for every kind of ours that the yaml names, in file order.

    A missing file gives nothing; a malformed one raises ValueError naming the problem.
    """
    if not yaml_file.is_file():
        return []

    def bad(problem: str) -> ValueError:
        return ValueError(f"{yaml_file}: {problem}")

    try:
        config = yaml.safe_load(yaml_file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise bad(f"not valid YAML ({error})") from None
    if config is None:
        return []
    if not isinstance(config, dict):
        raise bad("expected sections (name: {base_path: ..., checkpoints: ...}) at the top")
    here = Path(os.path.abspath(yaml_file)).parent  # as ComfyUI: symlinks not resolved
    found = []
    for section, entries in config.items():
        if entries is None:
            continue  # an empty section, as ComfyUI allows
        if not isinstance(entries, dict):
            raise bad(f"section {section!r} must map kinds to folders")
        entries = dict(entries)
        base = _folder(entries.pop("base_path", None) or ".", here, bad, f"{section}.base_path")
        is_default = entries.pop("is_default", False)
        if not isinstance(is_default, bool):
            raise bad(f"{section}.is_default must be true or false")
        for name, value in entries.items():
            kind = _ALIASES.get(str(name), str(name))
            for line in _lines(value, bad, f"{section}.{name}"):
                folder = _folder(line, base, bad, f"{section}.{name}")
                if kind in KINDS:
                    found.append((kind, folder, is_default))
    return found


def _lines(value: Any, bad: Callable[[str], ValueError], where: str) -> builtins.list[str]:
    # One path, a `|` block of several, or (our extension) a yaml list of them.
    if value is None:
        return []
    if isinstance(value, str):
        items = value.splitlines()
    elif isinstance(value, builtins.list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise bad(f"{where} must be a folder path or several, one per line")
    return [item.strip() for item in items if item.strip()]


def _folder(value: Any, relative_to: Path, bad: Callable[[str], ValueError], where: str) -> Path:
    if not isinstance(value, str):
        raise bad(f"{where} must be a folder path")
    path = Path(os.path.expanduser(os.path.expandvars(value)))
    return Path(os.path.normpath(relative_to / path))  # an absolute `path` wins the join


class ModelPaths:
    """The folders of each kind of model, searched in order."""

    def __init__(self, roots: dict[str, tuple[Path, ...]]) -> None:
        self._roots = roots
        self._listed: dict[tuple[Path, str], set[str]] = {}  # one walk per folder and kind

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelPaths:
        """models/<kind> first, then the yaml folders in file order; sections marked
        `is_default: true` go before ours, as in ComfyUI."""
        first: dict[str, builtins.list[Path]] = {kind: [] for kind in KINDS}
        last: dict[str, builtins.list[Path]] = {kind: [] for kind in KINDS}
        for yaml_file in settings.extra_model_paths:
            for kind, folder, is_default in read_extra_model_paths(Path(yaml_file)):
                (first if is_default else last)[kind].append(folder)
        ours = {
            kind: [settings.model_folder(k) for k in (kind, *_OLDER_FOLDERS.get(kind, ()))]
            for kind in KINDS
        }
        roots = {
            kind: tuple(dict.fromkeys([*first[kind], *ours[kind], *last[kind]])) for kind in KINDS
        }
        return cls(roots)

    def folders(self, kind: str) -> builtins.list[Path]:
        if kind not in self._roots:
            raise ValueError(f"unknown model kind {kind!r}; one of {', '.join(KINDS)}")
        return builtins.list(self._roots[kind])

    def list(self, kind: str) -> builtins.list[str]:
        """Model names of `kind`, relative to their folder with '/' separators, sorted."""
        names: set[str] = set()
        for folder in self.folders(kind):
            names.update(self._names_in(folder, kind))
        return sorted(names)

    def resolve(self, kind: str, name: str) -> Path:
        """The file (or diffusers folder) `name` in the first folder of `kind` that lists
        it. Only listed names resolve, so a request never reaches past what the owner
        placed in the folders (symlinks included); UnsafePath for a malformed name."""
        check_name(name)
        for folder in self.folders(kind):
            if name in self._names_in(folder, kind):
                return (folder / name).resolve()
        looked = ", ".join(str(folder) for folder in self.folders(kind))
        raise FileNotFoundError(f"no {kind} model named {name!r}; looked in: {looked}")

    def _names_in(self, folder: Path, kind: str) -> set[str]:
        key = (folder, kind)
        if key not in self._listed:
            files = list_model_files(folder, (*MODEL_SUFFIXES, ".json"))
            models: set[str] = set()
            if kind == "checkpoints":  # a diffusers folder is one model, not its parts
                models = {
                    name.removesuffix("/" + DIFFUSERS_MARKER)
                    for name in files
                    if name.endswith("/" + DIFFUSERS_MARKER)
                }
            inside = tuple(model + "/" for model in models)
            models.update(n for n in files if not n.endswith(".json") and not n.startswith(inside))
            self._listed[key] = models
        return self._listed[key]


def list_model_files(root: Path, suffixes: tuple[str, ...]) -> builtins.list[str]:
    """Files under `root` with one of `suffixes`, as '/'-separated relative names. Unlike
    input and output folders, symlinks are followed wherever they lead: a model collection
    is often linked in from another disk, and only the owner puts files here. A folder
    linked into itself is walked once (no loop); names `check_name` refuses are left out."""
    found: builtins.list[str] = []
    pending: builtins.list[tuple[Path, frozenset[tuple[int, int]]]] = [(root, frozenset())]
    while pending:
        folder, above = pending.pop()
        try:
            identity = (folder.stat().st_dev, folder.stat().st_ino)
            entries = builtins.list(os.scandir(folder))
        except OSError:  # missing, unreadable, or a link that leads nowhere
            continue
        if identity in above:
            continue  # a link back to a folder we are inside
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir, is_file = entry.is_dir(), entry.is_file()  # both follow links
            except OSError:
                continue
            if is_dir:
                pending.append((path, above | {identity}))
            elif is_file and entry.name.lower().endswith(suffixes):
                relative = path.relative_to(root).as_posix()
                if relative_name_problem(relative) is None:
                    found.append(relative)
    return sorted(found)


def choices_for(kind: str) -> Callable[[Settings], builtins.list[str]]:
    """A widget's choice source: the model names of `kind` on disk now."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; one of {', '.join(KINDS)}")

    def choices(settings: Settings) -> builtins.list[str]:
        return ModelPaths.from_settings(settings).list(kind)

    choices.__name__ = f"{kind}_choices"
    return choices


def kind_named(folder_name: str) -> str | None:
    """Our model kind for one of ComfyUI's folder names (`unet`, `clip`, `t2i_adapter`
    included), or None when we keep no such kind."""
    kind = _ALIASES.get(folder_name, folder_name)
    return kind if kind in KINDS else None


def safetensors_metadata(path: Path, max_header: int = 1024 * 1024) -> dict[str, Any] | None:
    """The `__metadata__` a .safetensors file's header carries (training settings, trigger
    words, ...), or None: no metadata, a header over `max_header` bytes, not safetensors."""
    try:
        with open(path, "rb") as file:
            head = file.read(8)
            if len(head) < 8:
                return None
            (length,) = struct.unpack("<Q", head)
            if length > max_header:
                return None
            header = parse_json(file.read(length))
    except (OSError, JSONRefused):
        return None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return metadata if isinstance(metadata, dict) else None
