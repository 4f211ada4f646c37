"""What a user does in the editor, in a real browser against a real server: render the
default workflow, rerun after an edit (cached nodes shown), connect ports, see validation
errors on the node at fault, save and reopen, drop a PNG, add a node and undo it."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import REPO
from tests.server.harness import Server
from tests.web.conftest import (
    ARTIFACTS,
    drag,
    drop_file,
    handle,
    node,
    open_from_server,
    run_over_http,
    save_as,
    settled_box,
    status_of,
    wait_status,
)

CHECKPOINT = "diffgraph-toy.safetensors"
BLUE_CIRCLE = "a small blue circle on the left, white background"
DEFAULT = json.loads((REPO / "workflows" / "toy_txt2img.json").read_text())
IMAGES = ".react-flow__node[data-id=save] [data-testid=node-images] img"


def queue_and_wait_for_images(page: Any, save: str = "save") -> None:
    page.click("[data-testid=queue]")
    wait_status(page, save, "done", "cached")  # cached: another test ran the same graph
    images = f".react-flow__node[data-id='{save}'] [data-testid=node-images] img"
    page.wait_for_function(
        f"[...document.querySelectorAll(`{images}`)].some(i => i.naturalWidth > 0)",
        timeout=30_000,
    )


def test_the_default_graph_is_drawn_and_queue_renders_an_image(page: Any) -> None:
    assert page.locator(".react-flow__node").count() == len(DEFAULT["nodes"])
    links = sum(
        isinstance(v, dict) for n in DEFAULT["nodes"].values() for v in n["inputs"].values()
    )
    assert page.locator(".react-flow__edge").count() == links
    assert "circle" in node(page, "prompt").locator("textarea").input_value()
    queue_and_wait_for_images(page)
    batch = DEFAULT["nodes"]["latent"]["inputs"]["batch_size"]
    assert page.locator(IMAGES).count() == batch
    assert all(
        "/view?" in src for src in page.eval_on_selector_all(IMAGES, "e => e.map(i => i.src)")
    )


def test_a_changed_prompt_reruns_only_what_depends_on_it(page: Any) -> None:
    queue_and_wait_for_images(page)
    node(page, "prompt").locator("textarea").fill(
        "a small red square on the left, white background"
    )
    page.click("[data-testid=queue]")
    wait_status(page, "ckpt", "cached")
    wait_status(page, "save", "done")
    assert status_of(page, "latent") == "cached"
    assert status_of(page, "negative") == "cached"
    assert status_of(page, "prompt") == "done" and status_of(page, "sample") == "done"
    assert node(page, "ckpt").locator("[data-testid=node-status]").inner_text() == "cached"


def test_only_type_compatible_ports_connect(page: Any, editor_server: Server) -> None:
    drag(page, handle(page, "ckpt", "model", "source"), handle(page, "save", "images", "target"))
    page.wait_for_selector("[data-testid=toast]:has-text('model is MODEL, images takes IMAGE')")
    drag(
        page,
        handle(page, "latent", "latent", "source"),
        handle(page, "decode", "samples", "target"),
    )
    saved = save_as(page, editor_server, "rewired.json")
    inputs = saved["nodes"]
    assert inputs["save"]["inputs"]["images"] == {"node": "decode", "output": "image"}
    assert inputs["decode"]["inputs"]["samples"] == {"node": "latent", "output": "latent"}
    assert page.locator(".react-flow__edge").count() == 9  # replaced, not added


def test_a_removed_required_link_is_shown_on_its_node(page: Any) -> None:
    page.locator("[data-testid='rf__edge-decode.samples']").dispatch_event("click")
    page.keyboard.press("Delete")
    assert page.locator("[data-testid='rf__edge-decode.samples']").count() == 0
    page.click("[data-testid=queue]")
    error = node(page, "decode").locator("[data-testid=input-error-samples]")
    error.wait_for(timeout=10_000)
    assert "samples" in error.inner_text() or "required" in error.inner_text().lower()
    assert status_of(page, "decode") == "error"
    assert status_of(page, "sample") != "error"
    page.wait_for_selector("[data-testid=toast]:has-text('not queued')")


def test_a_saved_workflow_reopens_as_the_identical_graph(page: Any, editor_server: Server) -> None:
    steps = node(page, "sample").locator("[data-testid=widget-steps]")
    steps.fill("12")
    steps.press("Enter")
    box = settled_box(page, node(page, "ckpt").locator("header"))
    page.mouse.move(box["x"] + 20, box["y"] + 8)
    page.mouse.down()
    page.mouse.move(box["x"] + 20, box["y"] + 108, steps=8)
    page.mouse.up()
    first = save_as(page, editor_server, "mine.json")
    assert first["nodes"]["sample"]["inputs"]["steps"] == 12
    assert first["nodes"]["ckpt"]["ui"]["pos"] != DEFAULT["nodes"]["ckpt"]["ui"]["pos"]

    page.reload()
    page.wait_for_selector(".react-flow__node[data-id=save]")
    open_from_server(page, "project", "image_basics.json")
    page.wait_for_selector(".react-flow__node[data-id=save]", state="detached", timeout=5_000)
    open_from_server(page, "user", "mine.json")
    page.wait_for_selector(".react-flow__node[data-id=save]")
    assert node(page, "sample").locator("[data-testid=widget-steps]").input_value() == "12"
    assert save_as(page, editor_server, "mine_again.json") == first


def test_dropping_a_png_made_by_the_server_restores_its_graph(
    page: Any, editor_server: Server
) -> None:
    workflow = json.loads(json.dumps(DEFAULT))
    workflow["nodes"]["prompt"]["inputs"]["text"] = (
        "a large green triangle on the top, black background"
    )
    workflow["nodes"]["sample"]["inputs"].update(steps=6, seed=77)
    workflow["nodes"]["latent"]["inputs"]["batch_size"] = 1
    png = run_over_http(editor_server, workflow)
    drop_file(page, png, "from_the_server.png", "image/png")
    page.wait_for_selector("[data-testid=toast]:has-text('opened from_the_server.png')")
    assert "green triangle" in node(page, "prompt").locator("textarea").input_value()
    restored = save_as(page, editor_server, "from_png.json")
    assert restored["nodes"] == json.loads(json.dumps(workflow["nodes"]))


def test_a_node_added_from_the_palette_can_be_undone_and_redone(page: Any) -> None:
    before = page.locator(".react-flow__node").count()
    pane = page.locator(".react-flow__pane").bounding_box()
    page.mouse.dblclick(pane["x"] + 60, pane["y"] + pane["height"] - 60)
    page.fill("[data-testid=palette-search]", "invert")
    page.keyboard.press("Enter")
    added = page.locator(".react-flow__node:has-text('Invert')")
    added.wait_for()
    assert page.locator(".react-flow__node").count() == before + 1
    page.locator(".react-flow__pane").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+z")
    page.wait_for_function(f"document.querySelectorAll('.react-flow__node').length === {before}")
    page.keyboard.press("Control+y")
    added.wait_for()


def test_a_run_shows_step_progress_and_the_latent_preview_and_can_be_interrupted(
    page: Any,
) -> None:
    steps = node(page, "sample").locator("[data-testid=widget-steps]")
    steps.fill("3000")  # long enough to watch (about a minute at full length)
    steps.press("Enter")
    page.click("[data-testid=queue]")
    wait_status(page, "sample", "running")
    node(page, "sample").locator("[data-testid=node-progress]").wait_for(timeout=30_000)
    preview = node(page, "sample").locator("[data-testid=node-preview]")
    preview.wait_for(timeout=30_000)
    page.wait_for_function('document.querySelector("[data-testid=node-preview]")?.naturalWidth > 0')
    page.screenshot(path=str(ARTIFACTS / "editor_running_with_preview.png"))
    page.click("[data-testid=interrupt]")
    wait_status(page, "sample", "idle", timeout=30_000)
    page.click("[data-testid=tab-history]")
    page.wait_for_selector("[data-testid=history-item]:has-text('interrupted')", timeout=10_000)


def test_a_comfyui_api_prompt_opens_from_a_file_with_a_layout(page: Any) -> None:
    comfy = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": BLUE_CIRCLE, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 1},
        },
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 5,
                "steps": 8,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {
            "class_type": "SaveImage",
            "inputs": {"filename_prefix": "comfy", "images": ["8", 0]},
        },
    }
    page.click("[data-testid=workflows]")
    page.set_input_files(
        "[data-testid=open-file]",
        files=[
            {
                "name": "api.json",
                "mimeType": "application/json",
                "buffer": json.dumps(comfy).encode(),
            }
        ],
    )
    page.wait_for_selector(".react-flow__node[data-id='9']")
    assert page.locator(".react-flow__node").count() == 7
    assert page.locator(".react-flow__edge").count() == 9
    boxes = [node(page, n).bounding_box() for n in comfy]
    corners = {(round(b["x"]), round(b["y"])) for b in boxes}
    assert len(corners) == 7  # laid out, not stacked on one spot
    loader, save = node(page, "4").bounding_box(), node(page, "9").bounding_box()
    assert loader["x"] < save["x"]  # sources left of what they feed
    queue_and_wait_for_images(page, "9")


def test_dark_mode_is_readable(page: Any) -> None:
    page.click("button[title='Light / dark']")
    page.wait_for_selector(".app.dark")
    colours = page.evaluate(
        """() => {
            const node = document.querySelector('.dg-node');
            const s = getComputedStyle(node);
            return [s.color, s.backgroundColor];
        }"""
    )
    text, background = colours
    assert text != background
    assert text.startswith("rgb(2") and background.startswith("rgb(3")  # light on dark
