"""Dropping a picture made by A1111 (its settings in a `parameters` chunk, no workflow) on
the editor, in a real browser against a real server."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image as PILImage

from formats.png import png_info
from tests.web.conftest import drop_file, node, wait_status

PARAMETERS = """a large red circle on the left, blue background
Negative prompt: a small green square
Steps: 4, Sampler: Euler a, CFG scale: 7, Seed: 11, Size: 64x64, Model: diffgraph-toy, \
Clip skip: 2, Denoising strength: 0.5, Hires upscale: 1.5, Hires steps: 2, \
Hires upscaler: Latent, ENSD: 31337, Version: v1.10.1"""
SAVE = "10"  # checkpoint, clip skip, 2 prompts, latent, sample, upscale, sample, decode, save


def a1111_png() -> bytes:
    buffer = io.BytesIO()
    info = png_info({"parameters": PARAMETERS})
    PILImage.new("RGB", (64, 64), (0, 0, 255)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


@pytest.mark.slow
def test_a_dropped_a1111_png_opens_its_workflow_with_notes_and_renders(page: Any) -> None:
    drop_file(page, a1111_png(), "from_a1111.png", "image/png")
    page.wait_for_selector(
        "[data-testid=toast]:has-text('rebuilt from_a1111.png from its generation settings')"
    )
    notes = page.locator("[data-testid=import-notes] li")
    assert notes.all_inner_texts() == ["ENSD: 31337: not reproduced by this workflow"]
    prompt = node(page, "3").locator("textarea").input_value()
    assert prompt == "a large red circle on the left, blue background"
    page.click("[data-testid=queue]")
    wait_status(page, SAVE, "done", "cached")
    page.click("[data-testid=import-notes] button")
    assert page.locator("[data-testid=import-notes]").count() == 0
