"""A server whose home sits in a sandbox next to canary files: anything that leaks out of
the home (a read of a canary, a write beside the home) is visible from here."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.server.harness import Server, make_home

CANARY_TEXT = "CANARY-7f3e9b2c-must-never-be-served"


@dataclass(frozen=True)
class Sandbox:
    root: Path  # the home's parent: nothing may appear here
    home: Path
    canaries: Path  # outside the home, readable by the server's user

    def snapshot(self) -> dict[str, str]:
        """Every path under the sandbox except the home's own, with a digest of its content
        (symlinks by their target, folders as such)."""
        found: dict[str, str] = {}
        for path in sorted(self.root.rglob("*")):
            relative = path.relative_to(self.root)
            if relative.parts[0] == self.home.name:
                continue
            if path.is_symlink():
                found[str(relative)] = "-> " + str(path.readlink())
            elif path.is_dir():
                found[str(relative)] = "dir"
            else:
                found[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
        return found


def make_sandbox(root: Path, with_models: bool = True) -> Sandbox:
    """With models: the project's (a link to them, never to be planted in); without, an
    empty models/ of the sandbox's own."""
    canaries = root / "canaries"
    canaries.mkdir(parents=True)
    for name in ("secret.txt", "secret.png", "secret.json", "secret.safetensors"):
        (canaries / name).write_text(CANARY_TEXT)
    (root / "input").mkdir()  # a decoy sibling named like a home folder
    (root / "input" / "decoy.png").write_text(CANARY_TEXT)
    home = make_home(root / "home", with_models=with_models)
    if not with_models:
        (home / "models" / "checkpoints").mkdir(parents=True)
    return Sandbox(root, home, canaries)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    return make_sandbox(tmp_path_factory.mktemp("sandbox"))


@pytest.fixture(scope="module")
def server(sandbox: Sandbox) -> Iterator[Server]:
    running = Server(sandbox.home).start()
    yield running
    running.stop()


def rss_kib(pid: int) -> int:
    """The process's resident memory now (VmRSS, KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")
