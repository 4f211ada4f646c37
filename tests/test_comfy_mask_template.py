"""ComfyUI's own template `basic_mask_operations_and_compositing.json` (from the
comfyui-workflow-templates-json package, a dev dependency) runs unchanged, in ComfyUI's
editor format, and its masks come out as ComfyUI's nodes make them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image as PILImage

from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from formats.load import to_workflow

templates = pytest.importorskip("comfyui_workflow_templates_json")
TEMPLATE = (
    Path(templates.__file__).parent / "templates" / "basic_mask_operations_and_compositing.json"
)
pytestmark = pytest.mark.slow  # 18 previews of 1024x1024 pictures: about 5 s here


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    home = tmp_path_factory.mktemp("home")
    (home / "input").mkdir()
    # The template's Load Image is linked to nothing; the file must still exist.
    PILImage.new("RGB", (8, 8)).save(home / "input" / "example.png")
    registry = Registry.discover(plugins=False)
    workflow = to_workflow(json.loads(TEMPLATE.read_text()), registry)
    executor = Executor(registry, Settings.at(home))
    everything = executor.run(workflow)  # its output nodes, as ComfyUI runs it
    values = executor.run(workflow, targets=["383", "391", "359", "338"])  # from the cache
    return everything, values


def test_every_preview_of_the_template_is_shown(ran: tuple[Any, Any]) -> None:
    everything, _ = ran
    assert everything.status == "success", everything.error or everything.problems
    assert len(everything.ui) == 18
    assert all(ui["images"][0]["type"] == "temp" for ui in everything.ui.values())


def test_a_white_square_is_added_onto_the_grey_canvas(ran: tuple[Any, Any]) -> None:
    mask = ran[1].values["383"]["mask"].values[0]  # 0.5 canvas + 512 square at (128, 128)
    assert float(mask[300, 300]) == 1.0 and float(mask[100, 100]) == 0.5
    assert float(mask[700, 700]) == 0.5


def test_xor_keeps_the_squares_that_do_not_overlap(ran: tuple[Any, Any]) -> None:
    mask = ran[1].values["391"]["mask"].values[0]
    assert float(mask[300, 300]) == 1.0  # the first square
    assert float(mask[800, 800]) == 1.0  # the second one, placed at (256, 256)
    assert float(mask[700, 300]) == 0.0  # neither: the grey 0.5 rounds to 0
    assert float(mask[100, 100]) == 0.5  # left of x, y: untouched


def test_the_red_image_is_composited_through_the_feathered_mask(ran: tuple[Any, Any]) -> None:
    image = ran[1].values["359"]["image"].pixels[0]
    assert torch.allclose(image[384, 384], torch.tensor([1.0, 0.0, 0.0]))
    assert float(image[900, 900, 0]) == pytest.approx(0.5)
    assert float(image[0, 500, 0]) == pytest.approx(0.5 / 40)  # feathered by 40 at the top


def test_threshold_makes_the_mask_hard(ran: tuple[Any, Any]) -> None:
    mask = ran[1].values["338"]["mask"].values
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
