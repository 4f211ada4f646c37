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


MAX_NAME = 255  # bytes in one path component, as most file systems allow
MAX_PATH = 1024


def relative_name_problem(name: str) -> str | None:
    """Why `name` cannot be a file name inside one of our folders (subfolders allowed), or
    None: it must be relative, not climb out with `..`, hold no control characters, and fit
    the file system. Checked before a run, so a bad name never takes a place in the queue."""
    if not name.strip():
        return "an empty file name"
    if any(ord(c) < 32 for c in name):
        return f"{name!r} holds a control character"
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return f"{name!r} is an absolute path; give a name inside the folder"
    if ".." in parts:
        return f"{name!r} climbs out of its folder with '..'"
    if len(name.encode()) > MAX_PATH or any(len(p.encode()) > MAX_NAME for p in parts):
        return f"{name[:40]!r}... is too long for a file name"
    return None
