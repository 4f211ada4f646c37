"""Confining user-given file names to their folder (outputs, inputs, models, /view)."""

from __future__ import annotations

from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")


class UnsafePath(ValueError):
    """A name that would leave its folder (.., absolute, a symlink out, odd characters)."""


def safe_join(root: Path, relative: str) -> Path:
    """`root / relative`, refusing anything that resolves outside `root`."""
    if not relative or "\x00" in relative or relative.startswith(("/", "\\")):
        raise UnsafePath(f"{relative!r} is not a relative file name")
    if any(part in ("..", "") for part in relative.replace("\\", "/").split("/")[:-1]):
        raise UnsafePath(f"{relative!r} must not climb out of its folder")
    base = root.resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise UnsafePath(f"{relative!r} leads outside {root}")
    return target


def list_files(root: Path, suffixes: tuple[str, ...]) -> list[str]:
    """Files under `root` with one of `suffixes`, as sorted '/'-separated relative names."""
    if not root.is_dir():
        return []
    base = root.resolve()
    found = []
    for path in root.rglob("*"):
        if path.suffix.lower() in suffixes and path.is_file():
            resolved = path.resolve()
            if base in resolved.parents:  # skip symlinks that lead elsewhere
                found.append(path.relative_to(root).as_posix())
    return sorted(found)
