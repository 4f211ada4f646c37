"""Thousands of malformed requests against every route of a real server: each gets an
answer below 500 without a traceback, and afterwards the server renders a normal job with
its memory still in bounds. Figures per route family are printed (pytest -s)."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fuzz.client import Answer, Probe, send
from tests.fuzz.conftest import Sandbox, rss_kib
from tests.fuzz.corpus import http_corpus
from tests.server.harness import Server, call, toy_workflow

pytestmark = pytest.mark.slow
TRACEBACK_MARKS = ("Traceback", 'File "')
RSS_SLACK_KIB = 512 * 1024  # generous: caches, allocator arenas, the job run afterwards


@dataclass
class CorpusRun:
    tried: Counter[str] = field(default_factory=Counter)
    server_errors: list[tuple[Probe, Answer]] = field(default_factory=list)
    tracebacks: list[tuple[Probe, Answer]] = field(default_factory=list)
    unanswered: list[Probe] = field(default_factory=list)
    not_json: list[tuple[Probe, Answer]] = field(default_factory=list)
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    produced: Path | None = None  # a picture rendered before the corpus
    produced_digest: str = ""


def host_port(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def render(server: Server, steps: int = 2) -> dict:
    """Queue the toy workflow at the front and wait for its history entry."""
    body = {"prompt": toy_workflow(steps=steps), "front": True}
    queued = call("POST", f"{server.url}/prompt", body)
    assert queued.status == 200, queued.text
    prompt_id = queued.json()["prompt_id"]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        entry = call("GET", f"{server.url}/history/{prompt_id}").json()
        if prompt_id in entry:
            return entry[prompt_id]
        time.sleep(0.1)
    raise AssertionError(f"job {prompt_id} did not finish")


def strict_json(body: bytes) -> bool:
    """JSON by the grammar: no bare NaN or Infinity (which browsers cannot parse)."""
    try:
        json.loads(body, parse_constant=refuse_constant)
    except ValueError:
        return False
    return True


def refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def produced_file(server: Server, entry: dict) -> Path:
    [images] = [output["images"] for output in entry["outputs"].values()]
    return server.home / "output" / images[0]["subfolder"] / images[0]["filename"]


@pytest.fixture(scope="module")
def corpus_run(server: Server) -> CorpusRun:
    warm = render(server)  # the model loaded: the memory compared is the corpus's
    run = CorpusRun(rss_before_kib=rss_kib(server.pid), produced=produced_file(server, warm))
    run.produced_digest = hashlib.sha256(run.produced.read_bytes()).hexdigest()
    host, port = host_port(server)
    for probe in http_corpus():
        run.tried[probe.family] += 1
        try:
            answer = send(host, port, probe)
        except OSError:
            run.unanswered.append(probe)
            continue
        if answer.status >= 500 or answer.status == 0:
            run.server_errors.append((probe, answer))
        if any(mark in answer.text for mark in TRACEBACK_MARKS):
            run.tracebacks.append((probe, answer))
        if "application/json" in answer.head.lower() and not strict_json(answer.body):
            run.not_json.append((probe, answer))
    call("POST", f"{server.url}/queue", {"clear": True})  # what the corpus queued by chance
    run.rss_after_kib = rss_kib(server.pid)
    print(
        f"\nHTTP corpus: {sum(run.tried.values())} requests {dict(run.tried)}; "
        f"5xx or no status: {len(run.server_errors)}; tracebacks: {len(run.tracebacks)}; "
        f"JSON answers with NaN: {len(run.not_json)}; "
        f"unanswered: {len(run.unanswered)}; RSS {run.rss_before_kib} -> "
        f"{run.rss_after_kib} KiB"
    )
    return run


def shown(failures: list[tuple[Probe, Answer]]) -> str:
    return "\n".join(
        f"{probe.describe()} -> {answer.status} {answer.text[:200]!r}"
        for probe, answer in failures[:15]
    )


def test_the_corpus_covers_every_route_family_with_thousands_of_requests(
    corpus_run: CorpusRun,
) -> None:
    assert sum(corpus_run.tried.values()) >= 2000
    assert set(corpus_run.tried) == {"comfy/", "comfy/api", "v1", "ws", "upload"}


def test_no_malformed_request_gets_a_server_error(corpus_run: CorpusRun) -> None:
    assert not corpus_run.server_errors, shown(corpus_run.server_errors)


def test_no_answer_carries_a_traceback(corpus_run: CorpusRun) -> None:
    assert not corpus_run.tracebacks, shown(corpus_run.tracebacks)


def test_every_json_answer_is_json_a_browser_can_parse(corpus_run: CorpusRun) -> None:
    assert not corpus_run.not_json, shown(corpus_run.not_json)


def test_queue_history_and_jobs_stay_json_a_browser_can_parse(
    corpus_run: CorpusRun, server: Server
) -> None:
    for path in ("/queue", "/history", "/api/history", "/v1/jobs"):
        reply = call("GET", server.url + path)
        assert reply.status == 200 and strict_json(reply.body), path


def test_what_was_produced_before_the_corpus_is_still_there(corpus_run: CorpusRun) -> None:
    assert corpus_run.produced is not None
    digest = hashlib.sha256(corpus_run.produced.read_bytes()).hexdigest()
    assert digest == corpus_run.produced_digest


def test_every_malformed_request_is_answered(corpus_run: CorpusRun) -> None:
    assert not corpus_run.unanswered, [p.describe() for p in corpus_run.unanswered[:10]]


def test_the_server_renders_a_normal_job_after_the_corpus(
    corpus_run: CorpusRun, server: Server
) -> None:
    entry = render(server)
    assert entry["status"]["status_str"] == "success", json.dumps(entry)[:2000]
    picture = produced_file(server, entry)
    view = call("GET", f"{server.url}/view?filename={picture.name}&type=output")
    assert view.status == 200 and view.body.startswith(b"\x89PNG")


def test_server_memory_stays_bounded_through_the_corpus(corpus_run: CorpusRun) -> None:
    assert corpus_run.rss_after_kib - corpus_run.rss_before_kib < RSS_SLACK_KIB


def test_the_corpus_writes_nothing_beside_the_home(corpus_run: CorpusRun, sandbox: Sandbox) -> None:
    assert sorted(sandbox.snapshot()) == sorted(
        ["canaries", "input", "input/decoy.png"]
        + [f"canaries/secret{s}" for s in (".txt", ".png", ".json", ".safetensors")]
    )
