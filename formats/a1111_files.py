"""Finding the model files an A1111 infotext names among ours.

A1111 names a checkpoint, LoRA or upscaler by its file name without folder or extension
(`Model: dreamshaper_8`), and a checkpoint also by hash: `Model hash:` is the first 10 hex
digits of the file's SHA-256 (8 digits in versions before 1.0: the SHA-256 of 64 KiB read at
1 MiB into the file)."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from engine.model_paths import ModelPaths
from engine.settings import Settings

_OLD_HASH_OFFSET = 0x100000
_OLD_HASH_SIZE = 0x10000
_CHUNK = 1 << 20


class ModelFiles:
    """The model names of each kind on disk now, and lookups by A1111's names for them.
    Without settings (no model folders to look in) nothing is found."""

    def __init__(self, settings: Settings | None) -> None:
        self._paths = ModelPaths.from_settings(settings) if settings is not None else None
        self._listed: dict[str, list[str]] = {}

    def names(self, kind: str) -> list[str]:
        if self._paths is None:
            return []
        if kind not in self._listed:
            self._listed[kind] = self._paths.list(kind)
        return self._listed[kind]

    def by_stem(self, kind: str, stem: str) -> str | None:
        """The file whose name without folder and extension is `stem` (case ignored, as on
        the Windows machines most of these images come from); a subfolder path also works."""
        wanted = stem.strip().replace("\\", "/").lower()
        for name in self.names(kind):
            path = PurePosixPath(name)
            bare = path.stem if path.suffix else path.name
            if wanted in (bare.lower(), str(path.with_suffix("")).lower(), name.lower()):
                return name
        return None

    def by_hash(self, kind: str, short_hash: str) -> str | None:
        """The file whose A1111 short hash is `short_hash`. Reads whole files (about 2.6 s a
        GiB on this CPU), so it is asked only when the name found nothing."""
        wanted = short_hash.strip().lower()
        if self._paths is None or len(wanted) not in (8, 10) or not _is_hex(wanted):
            return None
        for name in self.names(kind):
            path = self._paths.resolve(kind, name)
            if path.is_file() and _short_hash(path, len(wanted)) == wanted:
                return name
        return None


def _short_hash(path: Path, digits: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        if digits == 8:
            file.seek(_OLD_HASH_OFFSET)
            digest.update(file.read(_OLD_HASH_SIZE))
        else:
            while chunk := file.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()[:digits]


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
