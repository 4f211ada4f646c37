"""ComfyUI's own Flux workflows, unchanged: its official templates (the PyPI package
comfyui-workflow-templates-json, editor format) and its Flux dev example graph (API format)
run through `diffgraph run` and over HTTP, on tiny models saved under the very file names
the templates name."""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from nodes.ops.weights.checkpoint_write import write_safetensors
from tests.conftest import REPO
from tests.flux import files
from tests.flux.test_flux_workflows import dev_example
from tests.server.harness import Listener, Server, call, make_home

TEMPLATES = ("flux_schnell.json", "flux_schnell_full_text_to_image.json")


def template(name: str) -> dict[str, Any]:
    folder = importlib.resources.files("comfyui_workflow_templates_json") / "templates"
    data: dict[str, Any] = json.loads((folder / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny Flux models under the names ComfyUI's templates and examples use."""
    root = make_home(tmp_path_factory.mktemp("comfy_flux"), with_models=False)
    schnell = files.write_split_files(root / "schnell", guidance=False)
    dev = files.write_split_files(root / "dev", guidance=True)
    models = root / "models"
    for source, target in [
        (schnell.transformer, "diffusion_models/flux1-schnell.safetensors"),
        (dev.transformer, "diffusion_models/flux1-tiny-dev.safetensors"),
        (dev.transformer, "diffusion_models/flux1-dev.safetensors"),
        (schnell.clip_l, "text_encoders/clip_l.safetensors"),
        (schnell.t5, "text_encoders/t5xxl_fp16.safetensors"),
        (schnell.t5, "text_encoders/t5xxl_tiny.safetensors"),
        (schnell.ae, "vae/ae.safetensors"),
    ]:
        (models / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, models / target)
    # flux1-schnell-fp8: the all-in-one file with its transformer stored in fp8, as shipped.
    state = files.checkpoint_state(guidance=False)
    fp8 = {
        k: v.to(torch.float8_e4m3fn) if k.startswith("model.") and v.is_floating_point() else v
        for k, v in state.items()
    }
    components = ("transformer", "text_encoder", "text_encoder_2", "vae")
    checkpoint = models / "checkpoints" / "flux1-schnell-fp8.safetensors"
    write_safetensors(checkpoint, fp8, files.metadata(False, *components))
    return root


def run_cli(home: Path, workflow: Path, *sets: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "apps.cli", "--home", str(home), "run", str(workflow)]
    return subprocess.run(
        [*command, "--quiet", "--threads", "1", *(f"--set={s}" for s in sets)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )


@pytest.mark.parametrize("name", TEMPLATES)
def test_comfyuis_flux_template_runs_unchanged_from_the_cli(home: Path, name: str) -> None:
    workflow = home / name
    workflow.write_text(json.dumps(template(name)))
    done = run_cli(home, workflow)
    assert done.returncode == 0, done.stderr
    written = [Path(line) for line in done.stdout.split()]
    assert written and all(p.is_file() and p.stat().st_size > 0 for p in written)


def test_comfyuis_flux_dev_example_in_api_format_runs_from_the_cli(home: Path) -> None:
    workflow = home / "flux_dev_api.json"
    workflow.write_text(json.dumps(dev_example()))
    done = run_cli(home, workflow)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(".png")


def test_the_shipped_flux_example_runs_on_files_of_the_names_it_expects(home: Path) -> None:
    small = ["latent.width=64", "latent.height=64", "shift.width=64", "shift.height=64"]
    done = run_cli(home, REPO / "workflows" / "flux_dev.json", *small, "sigmas.steps=2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(".png")


@pytest.mark.slow
def test_comfyuis_flux_graphs_run_over_http(home: Path) -> None:
    server = Server(home).start()
    try:
        listener = Listener(server)
        for prompt in (dev_example(), template(TEMPLATES[1])):
            body = {"prompt": prompt, "client_id": listener.client_id}
            reply = call("POST", f"{server.url}/prompt", body)
            assert reply.status == 200, reply.text
            prompt_id = reply.json()["prompt_id"]
            listener.wait_done(prompt_id, timeout=300)
            history = call("GET", f"{server.url}/history/{prompt_id}").json()[prompt_id]
            assert history["status"]["status_str"] == "success", history
            images = [i for o in history["outputs"].values() for i in o.get("images", [])]
            assert images and images[0]["filename"].endswith(".png")
        listener.close()
    finally:
        server.stop()
