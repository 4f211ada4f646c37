"""Confining user-given file names to their folder (outputs, inputs, models, /view)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from engine.settings import Settings

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
NAME_MAX_BYTES = 255  # one file or folder name: Linux's NAME_MAX, most file systems' limit
RELATIVE_MAX_BYTES = 1024  # a whole relative name; far below PATH_MAX under any root
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"[A-Za-z]:")  # absolute on Windows, where the same folders may live
_SHOWN = 80  # characters of a refused name quoted back


class UnsafePath(ValueError):
    """A name that would leave its folder (.., absolute, a symlink out, odd characters)."""


def safe_join(root: Path, relative: str) -> Path:
    """`root / relative`, resolved: a path strictly inside `root`, never `root` itself.

    Refused (UnsafePath): empty or absolute names, `.`, `..` and empty parts, control
    characters, text that is not valid Unicode, names too long for the file system, and
    anything that resolves outside `root` (through symlinks) or into a symlink loop."""
    check_name(relative)
    try:
        base = root.resolve()
        target = (base / relative).resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise UnsafePath(f"{_shown(relative)} cannot be followed: {exc}") from None
    if base not in target.parents:
        raise UnsafePath(f"{_shown(relative)} leads outside {root}")
    return target


def check_name(relative: str) -> None:
    """Refuse (UnsafePath) a relative name that could not name a file inside a folder,
    before anything touches the disk."""
    if not relative or relative.startswith(("/", "\\")) or _DRIVE.match(relative):
        raise UnsafePath(f"{_shown(relative)} is not a relative file name")
    if _CONTROL.search(relative):
        raise UnsafePath(f"{_shown(relative)} contains control characters")
    try:
        encoded = os.fsencode(relative)  # names read from disk keep their odd bytes
    except UnicodeEncodeError:
        raise UnsafePath(f"{_shown(relative)} is not valid text (a lone surrogate)") from None
    parts = relative.replace("\\", "/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafePath(
            f"{_shown(relative)} must name a file inside its folder (no '.', '..' or empty parts)"
        )
    if len(encoded) > RELATIVE_MAX_BYTES or any(
        len(os.fsencode(part)) > NAME_MAX_BYTES for part in parts
    ):
        raise UnsafePath(
            f"{_shown(relative)} is too long: at most {NAME_MAX_BYTES} bytes a name and "
            f"{RELATIVE_MAX_BYTES} in all"
        )


# ComfyUI names a file in another of the three folders by a suffix: `x.png [output]`.
ANNOTATIONS = ("input", "output", "temp")
_ANNOTATED = re.compile(r"^(?P<name>.+) \[(?P<folder>input|output|temp)\]$", re.DOTALL)


def split_annotation(name: str) -> tuple[str, str | None]:
    """("x.png", "output") for ComfyUI's annotated `x.png [output]`; (name, None) when the
    name carries no annotation."""
    match = _ANNOTATED.match(name)
    if match is None:
        return name, None
    return match["name"], match["folder"]


def folder_of(settings: Settings, kind: str) -> Path:
    """The input, output or temp folder."""
    return {"input": settings.input_dir, "output": settings.output_dir, "temp": settings.temp_dir}[
        kind
    ]


def annotated_file(settings: Settings, name: str, default: str = "input") -> Path:
    """The file a possibly annotated name stands for: the annotation picks one of the three
    folders (else `default`), and the rest is confined to it by `safe_join` (UnsafePath)."""
    plain, kind = split_annotation(name)
    return safe_join(folder_of(settings, kind or default), plain)


def list_files(root: Path, suffixes: tuple[str, ...]) -> list[str]:
    """Files under `root` with one of `suffixes`, as sorted '/'-separated relative names
    (symlinks leading elsewhere, loops, and names `safe_join` would refuse left out)."""
    try:
        if not root.is_dir():
            return []
        base = root.resolve()
    except (RuntimeError, OSError):
        return []
    found = []
    for path in root.rglob("*"):
        if path.suffix.lower() in suffixes and path.is_file():
            relative = path.relative_to(root).as_posix()
            try:
                check_name(relative)  # listed only if it can be asked for by name
                resolved = path.resolve()
            except (UnsafePath, RuntimeError, OSError):
                continue
            if base in resolved.parents:
                found.append(relative)
    return sorted(found)


def relative_name_problem(name: str) -> str | None:
    """Why `name` cannot be a file name inside one of our folders, or None. The check
    `safe_join` makes before touching the disk, as text for validation, so a bad name never
    takes a place in the queue."""
    try:
        check_name(name)
    except UnsafePath as exc:
        return str(exc)
    return None


def _shown(name: str) -> str:
    return repr(name if len(name) <= _SHOWN else name[:_SHOWN] + "...")
