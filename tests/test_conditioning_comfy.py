"""ComfyUI graphs with the conditioning and latent-blend nodes run unchanged: the class
types, input names, defaults and widget order are ComfyUI's."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.registry import Registry
from engine.settings import Settings
from engine.validate import validate
from formats.comfy_api import from_comfy_api, to_comfy_api
from formats.comfy_editor_write import to_comfy_ui
from formats.load import load_document
from tests.conftest import REPO


@pytest.fixture(scope="module")
def registry() -> Registry:
    registry = Registry.discover(plugins=False)
    assert not registry.failures
    return registry


# A ComfyUI "Export (API)" graph touching every node of this area, with ComfyUI's defaults.
API: dict[str, Any] = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "toy.safetensors"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red circle", "clip": ["1", 1]}},
    "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
    "4": {"class_type": "LoadImage", "inputs": {"image": "mask.png"}},
    "5": {
        "class_type": "ConditioningSetMask",
        "inputs": {
            "conditioning": ["2", 0],
            "mask": ["4", 1],
            "strength": 1.0,
            "set_cond_area": "mask bounds",
        },
    },
    "6": {
        "class_type": "ConditioningSetTimestepRange",
        "inputs": {"conditioning": ["3", 0], "start": 0.0, "end": 0.5},
    },
    "7": {
        "class_type": "ConditioningAverage",
        "inputs": {
            "conditioning_to": ["5", 0],
            "conditioning_from": ["6", 0],
            "conditioning_to_strength": 1.0,
        },
    },
    "8": {
        "class_type": "ConditioningConcat",
        "inputs": {"conditioning_to": ["7", 0], "conditioning_from": ["2", 0]},
    },
    "9": {
        "class_type": "InpaintModelConditioning",
        "inputs": {
            "positive": ["8", 0],
            "negative": ["3", 0],
            "vae": ["1", 2],
            "pixels": ["4", 0],
            "mask": ["4", 1],
            "noise_mask": True,
        },
    },
    "10": {
        "class_type": "LatentUpscaleBy",
        "inputs": {"samples": ["9", 2], "upscale_method": "bislerp", "scale_by": 1.5},
    },
    "11": {
        "class_type": "LatentBlend",
        "inputs": {"samples1": ["9", 2], "samples2": ["10", 0], "blend_factor": 0.5},
    },
    "12": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 1,
            "steps": 20,
            "cfg": 7.0,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1.0,
            "model": ["1", 0],
            "positive": ["9", 0],
            "negative": ["9", 1],
            "latent_image": ["11", 0],
        },
    },
    "13": {"class_type": "VAEDecode", "inputs": {"samples": ["12", 0], "vae": ["1", 2]}},
    "14": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["13", 0]}},
}


def test_comfyuis_api_graph_maps_onto_our_nodes(registry: Registry, settings: Settings) -> None:
    workflow = from_comfy_api(API, registry)
    types = {node_id: node.type for node_id, node in workflow.nodes.items()}
    assert types["5"] == "sd.conditioning_set_mask"
    assert types["6"] == "sd.conditioning_set_timestep_range"
    assert types["7"] == "sd.conditioning_average"
    assert types["8"] == "sd.conditioning_concat"
    assert types["9"] == "sd.inpaint_model_conditioning"
    assert types["11"] == "sd.latent_blend"
    problems = validate(workflow, registry, settings)
    # Only the files this test does not have: the checkpoint and the image.
    assert {(p.node, p.code) for p in problems} == {
        ("1", "value_not_in_choices"),
        ("4", "value_not_in_choices"),
    }


def test_comfyuis_defaults_are_ours(registry: Registry) -> None:
    defaults = {
        "ConditioningSetMask": {"strength": 1.0, "set_cond_area": "default"},
        "ConditioningSetTimestepRange": {"start": 0.0, "end": 1.0},
        "ConditioningAverage": {"conditioning_to_strength": 1.0},
        "InpaintModelConditioning": {"noise_mask": True},
        "LatentBlend": {"blend_factor": 0.5},
    }
    for comfy, expected in defaults.items():
        spec = registry.by_comfy(comfy)
        assert spec is not None, comfy
        given = {name: spec.inputs[name].default for name in expected}
        assert given == expected, comfy


def test_inpaint_model_conditioning_outputs_in_comfyuis_order(registry: Registry) -> None:
    spec = registry.by_comfy("InpaintModelConditioning")
    assert spec is not None
    assert list(spec.outputs) == ["positive", "negative", "latent"]


def test_regional_workflow_round_trips_through_comfyuis_formats(registry: Registry) -> None:
    workflow = load_document(REPO / "workflows" / "regional.json", registry)
    api = to_comfy_api(workflow, registry)
    assert api is not None
    assert api["left"]["class_type"] == "ConditioningSetMask"
    back = from_comfy_api(api, registry)
    assert {k: (n.type, n.inputs) for k, n in back.nodes.items()} == {
        k: (n.type, n.inputs) for k, n in workflow.nodes.items()
    }
    editor = to_comfy_ui(workflow, registry)
    assert editor is not None
    masks = [n for n in editor["nodes"] if n["type"] == "ConditioningSetMask"]
    assert [n["widgets_values"] for n in masks] == [[1.0, "default"], [1.0, "default"]]


@pytest.mark.skipif(
    not (REPO / "models" / "checkpoints" / "diffgraph-toy.safetensors").is_file(),
    reason="the toy model is not in this checkout",
)
def test_regional_workflow_validates_with_its_shipped_masks(
    registry: Registry, tmp_path: Path
) -> None:
    for mask in (REPO / "workflows" / "assets").glob("regional_*.png"):
        shutil.copy(mask, tmp_path / mask.name)
    workflow = load_document(REPO / "workflows" / "regional.json", registry)
    assert validate(workflow, registry, Settings.at(REPO, input_dir=tmp_path)) == []
