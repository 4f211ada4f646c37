"""workflows/regional.json on the embedded toy model: two prompts, each masked to one half
of the picture by Conditioning (Set Mask), make a picture whose halves each follow their
own prompt, measured from the pixels."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import Link, Workflow
from formats.load import load_document
from tests.conftest import REPO
from training.toy_measure import nearest_color

WORKFLOW = REPO / "workflows" / "regional.json"
CHECKPOINT = REPO / "models" / "checkpoints" / "diffgraph-toy.safetensors"
# The prompts: a red circle on the left, a yellow square on the right (toy yellow draws
# partly orange, so both count as yellow). Columns near the seam are left out: a shape
# may cross it by a few pixels.
LEFT, RIGHT = slice(0, 28), slice(36, 64)
REDS, YELLOWS = {"red"}, {"yellow", "orange"}
MARGIN = 2.0  # each half holds at least this many times more of its colour than the other's

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHECKPOINT.is_file(), reason="the toy model is not in this checkout"),
]


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Executor]:
    home = tmp_path_factory.mktemp("regional")
    for mask in (REPO / "workflows" / "assets").glob("regional_*.png"):
        shutil.copy(mask, home / mask.name)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # steady on shared CPUs (see tests/test_toy_model.py)
    yield Executor(Registry.discover(plugins=False), Settings.at(REPO, input_dir=home))
    torch.set_num_threads(threads)


def render(executor: Executor, workflow: Workflow) -> np.ndarray:
    result = executor.run(workflow, targets=["decode"])
    assert result.status == "success", result.error or result.problems
    pixels = result.values["decode"]["image"].pixels.clamp(0, 1).numpy()
    return (pixels * 255.0).round().astype(np.uint8)


def colour_counts(picture: np.ndarray, columns: slice) -> tuple[int, int]:
    """(red, yellow) pixels among the given columns, by nearest toy colour."""
    names = [nearest_color(rgb) for rgb in picture[:, columns].reshape(-1, 3).astype(float)]
    return sum(n in REDS for n in names), sum(n in YELLOWS for n in names)


def follows_regions(picture: np.ndarray) -> bool:
    left_red, left_yellow = colour_counts(picture, LEFT)
    right_red, right_yellow = colour_counts(picture, RIGHT)
    return left_red >= MARGIN * max(left_yellow, 1) and right_yellow >= MARGIN * max(right_red, 1)


def test_each_half_follows_its_own_prompt(executor: Executor) -> None:
    workflow = load_document(WORKFLOW, Registry.discover(plugins=False))
    pictures = render(executor, workflow)
    counts = [(colour_counts(p, LEFT), colour_counts(p, RIGHT)) for p in pictures]
    print("(red, yellow) pixels, left | right:", counts)  # the README's figures (pytest -s)
    assert len(pictures) == 4
    assert all(follows_regions(p) for p in pictures), counts


def test_without_the_masks_the_prompts_blend_into_one_picture(executor: Executor) -> None:
    workflow = load_document(WORKFLOW, Registry.discover(plugins=False))
    unmasked = workflow.with_inputs(
        {
            ("regions", "conditioning_1"): Link(node="left_prompt", output="conditioning"),
            ("regions", "conditioning_2"): Link(node="right_prompt", output="conditioning"),
        }
    )
    assert not any(follows_regions(p) for p in render(executor, unmasked))


def test_the_shipped_masks_are_the_two_halves() -> None:
    from PIL import Image

    for name, masked in (("regional_left.png", LEFT), ("regional_right.png", RIGHT)):
        alpha = np.asarray(Image.open(REPO / "workflows" / "assets" / name))[..., 3]
        assert (alpha[:, masked] == 0).all()  # transparent: Load Image's mask is 1 there
        assert alpha.shape == (64, 64) and (alpha == 0).sum() == 64 * 32
