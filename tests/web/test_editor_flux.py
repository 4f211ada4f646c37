"""Flux in the editor, in a real browser against a real server whose models are tiny Flux
files under the names ComfyUI users have: the palette offers the Flux and custom-sampling
nodes, and the shipped Flux example (made small) runs, its preview showing while it does."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import REPO
from tests.flux import files
from tests.server.harness import Server, call, make_home
from tests.web.conftest import ARTIFACTS, node, open_from_server, wait_status

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def flux_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = make_home(tmp_path_factory.mktemp("editor_flux"), with_models=False)
    split = files.write_split_files(root / "written", guidance=True)
    models = root / "models"
    for source, target in [
        (split.transformer, "diffusion_models/flux1-dev.safetensors"),
        (split.clip_l, "text_encoders/clip_l.safetensors"),
        (split.t5, "text_encoders/t5xxl_fp16.safetensors"),
        (split.ae, "vae/ae.safetensors"),
    ]:
        (models / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, models / target)
    running = Server(root).start()
    yield running
    running.stop()


@pytest.fixture
def page(browser: Any, flux_server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(flux_server.url + "/")
    opened.wait_for_selector(".react-flow__node", timeout=30_000)
    yield opened
    ARTIFACTS.mkdir(exist_ok=True)
    opened.screenshot(path=str(ARTIFACTS / "editor_flux.png"))
    context.close()
    assert not errors, f"the page threw: {errors}"


def test_the_palette_offers_the_flux_and_custom_sampling_nodes(page: Any) -> None:
    nodes = {
        "flux.guidance": "Flux Guidance",
        "loaders.diffusion_model": "Load Diffusion Model",
        "loaders.dual_clip": "Dual CLIP Loader",
        "sampling.custom_advanced": "Sampler (Custom, Advanced)",
        "sd.empty_latent_sd3": "Empty Latent (SD3, Flux)",
    }
    for type_id, title in nodes.items():  # searched by id, so each is the first match
        page.click("[data-testid=add-node]")
        page.fill("[data-testid=palette-search]", type_id)
        page.keyboard.press("Enter")
        page.locator(f".react-flow__node:has-text('{title}')").first.wait_for()


def test_the_flux_example_runs_in_the_editor(page: Any, flux_server: Server) -> None:
    example = json.loads((REPO / "workflows" / "flux_dev.json").read_text())
    inputs = example["nodes"]
    for name in ("latent", "shift"):
        inputs[name]["inputs"] |= {"width": 64, "height": 64}
    inputs["sigmas"]["inputs"]["steps"] = 4
    reply = call("PUT", f"{flux_server.url}/v1/workflows/user/flux_small.json", example)
    assert reply.status == 200, reply.text
    open_from_server(page, "user", "flux_small.json")
    page.wait_for_selector(".react-flow__node[data-id='sample']")
    assert page.locator(".react-flow__node").count() == len(inputs)
    page.click("[data-testid=queue]")
    wait_status(page, "save", "done", timeout=120_000)
    image = node(page, "save").locator("[data-testid=node-images] img").first
    image.wait_for(timeout=30_000)
    page.wait_for_function(
        "document.querySelector(\"[data-id='save'] [data-testid=node-images] img\")"
        "?.naturalWidth === 64"
    )
