"""A Ray worker makes sampler previews only for a job whose client wants them (issue 18: a
preview is a device read-back per step). The worker is a plain class: run here in-process."""

from __future__ import annotations

import pytest

from apps.cluster.worker import RenderWorker
from engine.events import Progress
from engine.settings import Settings
from tests.server.conftest import needs_toy_model
from tests.server.harness import make_home, toy_workflow

pytestmark = needs_toy_model


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> RenderWorker:
    home = make_home(tmp_path_factory.mktemp("worker"))
    return RenderWorker(Settings.at(home, warm_imports=False), threads=1)


def streamed(worker: RenderWorker, previews: bool) -> list[tuple[str, object]]:
    seed = 2 if previews else 1  # another seed: the other test's run is cached
    return list(worker.run("job", toy_workflow(steps=3, seed=seed), None, [], previews))


def test_a_job_without_previews_streams_its_steps_and_no_frames(worker: RenderWorker) -> None:
    items = streamed(worker, previews=False)
    steps = [p for kind, p in items if kind == "event" and isinstance(p, Progress)]
    assert len(steps) >= 3 and not [kind for kind, _ in items if kind == "preview"]


def test_a_job_with_previews_streams_a_frame_per_step(worker: RenderWorker) -> None:
    items = streamed(worker, previews=True)
    assert len([kind for kind, _ in items if kind == "preview"]) == 3
