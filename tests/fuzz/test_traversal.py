"""Names that try to leave their folder, against every route that takes one, with canary
files beside the home and symlinks planted in it that lead out or loop: not one canary
byte is served, nothing is written outside the home's folders, no name gets a 5xx."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fuzz.client import Answer, Probe, send
from tests.fuzz.conftest import CANARY_TEXT, Sandbox, make_sandbox
from tests.fuzz.test_http_corpus import host_port
from tests.fuzz.traversal import FOLDERS, name_probes, plant_links
from tests.server.harness import Server, call

pytestmark = pytest.mark.slow


@dataclass
class TraversalRun:
    tried: Counter[str] = field(default_factory=Counter)
    answers: list[tuple[Probe, Answer]] = field(default_factory=list)
    outside_before: dict[str, str] = field(default_factory=dict)
    outside_after: dict[str, str] = field(default_factory=dict)
    home_before: list[str] = field(default_factory=list)
    home_after: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    made = make_sandbox(tmp_path_factory.mktemp("traversal"), with_models=False)
    plant_links(made)
    return made


@pytest.fixture(scope="module")
def server(sandbox: Sandbox) -> Iterator[Server]:
    running = Server(sandbox.home).start()
    yield running
    running.stop()


def home_entries(home: Path) -> list[str]:
    return sorted(p.name for p in home.iterdir())


@pytest.fixture(scope="module")
def traversal_run(server: Server, sandbox: Sandbox) -> TraversalRun:
    run = TraversalRun(outside_before=sandbox.snapshot(), home_before=home_entries(sandbox.home))
    host, port = host_port(server)
    for probe in name_probes(sandbox):
        run.tried[probe.family] += 1
        run.answers.append((probe, send(host, port, probe)))
    call("POST", f"{server.url}/queue", {"clear": True})
    run.outside_after = sandbox.snapshot()
    run.home_after = home_entries(sandbox.home)
    reads = sum(CANARY_TEXT in answer.text for _, answer in run.answers)
    outside = set(run.outside_before.items()) ^ set(run.outside_after.items())
    beside = set(run.home_before) ^ set(run.home_after)
    print(
        f"\ntraversal corpus: {sum(run.tried.values())} requests {dict(run.tried)}; "
        f"canary reads: {reads}; changed outside the home: {len(outside)}; new beside the "
        f"home's folders: {sorted(beside)}; 5xx: {sum(a.status >= 500 for _, a in run.answers)}"
    )
    return run


def test_the_corpus_aims_every_hostile_name_at_every_route_that_takes_one(
    traversal_run: TraversalRun,
) -> None:
    assert sum(traversal_run.tried.values()) >= 1500
    assert set(traversal_run.tried) == {"view", "view_metadata", "upload", "workflows", "models"}


def test_no_answer_reveals_a_canary(traversal_run: TraversalRun) -> None:
    leaks = [p.describe() for p, a in traversal_run.answers if CANARY_TEXT in a.text]
    assert leaks == []


def test_nothing_outside_the_home_is_written_or_changed(traversal_run: TraversalRun) -> None:
    assert traversal_run.outside_after == traversal_run.outside_before


def test_the_home_gains_nothing_beside_its_folders(traversal_run: TraversalRun) -> None:
    assert traversal_run.home_after == traversal_run.home_before


def test_no_name_gets_a_server_error(traversal_run: TraversalRun) -> None:
    errors = [
        f"{p.describe()} -> {a.status} {a.text[:200]}"
        for p, a in traversal_run.answers
        if a.status >= 500 or a.status == 0
    ]
    assert errors == []


def test_every_accepted_upload_is_a_file_strictly_inside_its_folder(
    traversal_run: TraversalRun, sandbox: Sandbox
) -> None:
    accepted = [
        a.text for p, a in traversal_run.answers if p.family == "upload" and a.status == 200
    ]
    assert accepted, "some plain names in the corpus are accepted"
    for text in accepted:
        stored = json.loads(text)
        folder = (sandbox.home / stored["type"]).resolve()
        path = (folder / stored["subfolder"] / stored["name"]).resolve()
        assert folder in path.parents and path.is_file(), stored


def test_links_out_and_loops_are_never_listed(traversal_run: TraversalRun, server: Server) -> None:
    listed = [
        call("GET", f"{server.url}/v1/workflows").text,
        call("GET", f"{server.url}/object_info/LoadImage").text,
    ]
    for text in listed:
        assert not any(name in text for name in ("out.", "outdir", "loop", "chain", "up.png"))


def test_model_folders_list_the_owners_links_but_never_loops(
    traversal_run: TraversalRun, server: Server
) -> None:
    """Links in models/ are the owner's (a collection on another disk; no route writes
    there), so they are followed; a folder linked into itself is walked once."""
    listed = call("GET", f"{server.url}/models/checkpoints").json()
    assert {"out.safetensors", "outdir/secret.safetensors"} <= set(listed)
    assert not any("loop" in name for name in listed)


def test_the_home_folders_keep_their_planted_links(sandbox: Sandbox) -> None:
    """Uploads with `overwrite` must not follow a planted link to replace its target."""
    for folder in FOLDERS:
        assert (sandbox.home / folder / "out.png").is_symlink()
        assert (sandbox.canaries / "secret.png").read_text() == CANARY_TEXT
