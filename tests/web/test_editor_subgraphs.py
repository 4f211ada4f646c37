"""A ComfyUI workflow built from a subgraph opens in our editor (which has no subgraphs):
the subgraph's nodes stand where its instance stood, inside a group of its name, and the
node right of the instance moves over to make room."""

from __future__ import annotations

import json
from typing import Any

from tests.comfy_templates import read
from tests.web.conftest import node

TEMPLATE = "flux_dev_checkpoint_example.json"  # instance 56, "Text to Image (Flux.1 Dev)"
INNER = ("56:47", "56:48", "56:49", "56:50", "56:51", "56:52", "56:53", "56:54")


def test_a_subgraph_template_opens_flat_inside_a_group_of_the_subgraphs_name(page: Any) -> None:
    page.click("[data-testid=workflows]")
    page.set_input_files(
        "[data-testid=open-file]",
        files=[
            {
                "name": TEMPLATE,
                "mimeType": "application/json",
                "buffer": json.dumps(read(TEMPLATE)).encode(),
            }
        ],
    )
    page.wait_for_selector(".react-flow__node[data-id='56:52']")
    assert all(node(page, n).count() == 1 for n in (*INNER, "9"))
    titles = page.locator("[data-testid=group] .group-title").all_inner_texts()
    assert "Text to Image (Flux.1 Dev)" in titles
    group = page.locator("[data-testid=group]", has_text="Text to Image (Flux.1 Dev)")
    frame, sampler = group.bounding_box(), node(page, "56:52").bounding_box()
    assert (
        frame["x"] <= sampler["x"]
        and sampler["x"] + sampler["width"] <= frame["x"] + frame["width"]
    )
