from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.server.harness import Server, make_home

TOY_MODEL = REPO / "models" / "checkpoints" / "diffgraph-toy.safetensors"
needs_toy_model = pytest.mark.skipif(
    not TOY_MODEL.is_file(), reason="the toy model is not in this checkout"
)

FAILING_PACK = '''
from pydantic import BaseModel
from engine.node import node
from engine.types import Image


@node("test.explode", title="Explode", category="test", output=True)
class Explode:
    """Fails at run time, like a node hitting a bug."""

    class Inputs(BaseModel):
        images: Image

    class Outputs(BaseModel):
        pass

    def run(self, inputs, ctx):
        raise RuntimeError("boom: this node always fails")
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a test module, on the embedded model, with a failing custom node."""
    home = make_home(tmp_path_factory.mktemp("home"))
    (home / "custom_nodes").mkdir()
    (home / "custom_nodes" / "failing.py").write_text(FAILING_PACK)
    running = Server(home).start()
    yield running
    running.stop()


@pytest.fixture
def fresh_home(tmp_path: Path) -> Path:
    return make_home(tmp_path / "home")
