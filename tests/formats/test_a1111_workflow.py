"""A1111/Forge/Civitai generation settings -> the workflow that reproduces them. The texts
are written as those programs write them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from engine.registry import Registry
from engine.settings import Settings
from engine.validate import validate
from engine.workflow import Link, Workflow
from formats.a1111 import from_infotext, import_notes

A1111_HIRES_LORA = """masterpiece, best quality, 1girl, (red hair:1.2), <lora:add_detail:0.6>
Negative prompt: (worst quality, low quality:1.4), easynegative
Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 3053951893, \
Size: 512x768, Model hash: 7f96a1a9ca, Model: anything-v5, VAE hash: 63aeecb90f, \
VAE: vae-ft-mse-840000-ema-pruned.safetensors, Denoising strength: 0.5, Clip skip: 2, \
Hires upscale: 2, Hires steps: 15, Hires upscaler: Latent, \
Lora hashes: "add_detail: 7c6bad76eb54", TI hashes: "easynegative: c74b4e810b03", \
Version: v1.10.1"""

A1111_OLD = """a photo of an astronaut riding a horse on mars
Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1, Size: 512x512, \
Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, ENSD: 31337"""

FORGE_FLUX = """a cat holding a sign that says hello
Steps: 20, Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 3.5, \
Seed: 42, Size: 896x1152, Model hash: 3c5c4f4d4a, Model: flux1-dev-bnb-nf4-v2, \
Version: f2.0.1v1.10.1-previous-304-g394da019, Module 1: ae, Module 2: clip_l"""

CIVITAI = """cinematic photo of a lighthouse, <lora:DetailedEyes_V3:0.8:0.5>
Negative prompt: cartoon, painting
Steps: 30, CFG scale: 5, Sampler: Euler a, Seed: 1882711404, Size: 832x1216, Clip skip: 2, \
Created Date: 2024-05-01T10:21:33.1234567Z, Civitai resources: [{"type":"checkpoint",\
"modelVersionId":290640,"modelName":"Pony Diffusion V6 XL"},{"type":"lora","weight":0.8}], \
Civitai metadata: {"remixOfId":123}"""

UNKNOWN_SAMPLER = """a castle
Negative prompt: fog
Steps: 12, Sampler: Restart, Schedule type: Align Your Steps, CFG scale: 4.5, Seed: 7, \
Size: 768x512, Model: dreamshaper_8"""

PIXEL_HIRES = """a forest
Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 9, Size: 512x512, Model: dreamshaper_8, \
Denoising strength: 0.3, Hires resize: 1024x1024, Hires upscaler: 4x-UltraSharp, \
Hires sampler: DPM++ 2M SDE, Hires prompt: "a forest, sharp, detailed", Hires CFG Scale: 5"""

IMG2IMG = """a house
Steps: 20, Sampler: Euler, CFG scale: 7, Seed: 2, Size: 512x512, Model: dreamshaper_8, \
Denoising strength: 0.6"""


@pytest.fixture
def registry() -> Registry:
    return Registry.discover(plugins=False)


def nodes_of(workflow: Workflow, type_id: str) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in node.inputs.items() if not isinstance(v, Link)}
        for node in workflow.nodes.values()
        if node.type == type_id
    ]


def sampling(workflow: Workflow) -> list[tuple[Any, ...]]:
    keys = ("seed", "steps", "cfg", "sampler_name", "scheduler", "denoise")
    return [tuple(n[k] for k in keys) for n in nodes_of(workflow, "sd.sample")]


def noted(workflow: Workflow) -> set[str]:
    return {note["setting"] for note in workflow.meta["import_notes"]}


TABLE = [
    pytest.param(
        A1111_HIRES_LORA,
        {
            "sampling": [
                (3053951893, 28, 7.0, "dpmpp_2m", "karras", 1.0),
                (3053951893, 15, 7.0, "dpmpp_2m", "karras", 0.5),
            ],
            "size": (512, 768),
            "loras": [("add_detail.safetensors", 0.6, 0.6)],
            "clip_layer": [-2],
            "upscale": [("sd.latent_upscale", "bilinear", 1024, 1536)],
            "notes": {"Model", "VAE", "Prompt", "TI hashes"},
        },
        id="a1111 1.10: hires (latent), LoRA, clip skip, VAE, schedule type",
    ),
    pytest.param(
        A1111_OLD,
        {
            "sampling": [(1, 20, 7.0, "dpmpp_2m", "karras", 1.0)],
            "size": (512, 512),
            "loras": [],
            "clip_layer": [],
            "upscale": [],
            "notes": {"Model", "ENSD"},
        },
        id="old a1111: schedule in the sampler's name",
    ),
    pytest.param(
        FORGE_FLUX,
        {
            "sampling": [(42, 20, 1.0, "euler", "simple", 1.0)],
            "size": (896, 1152),
            "loras": [],
            "clip_layer": [],
            "upscale": [],
            "notes": {"Model", "Distilled CFG Scale", "Module 1", "Module 2"},
        },
        id="forge flux: distilled cfg and modules listed",
    ),
    pytest.param(
        CIVITAI,
        {
            "sampling": [(1882711404, 30, 5.0, "euler_ancestral", "normal", 1.0)],
            "size": (832, 1216),
            "loras": [("DetailedEyes_V3.safetensors", 0.5, 0.8)],
            "clip_layer": [-2],
            "upscale": [],
            "notes": {"Model", "Prompt"},
        },
        id="civitai: json values, text and unet lora weights",
    ),
    pytest.param(
        UNKNOWN_SAMPLER,
        {
            "sampling": [(7, 12, 4.5, "euler", "normal", 1.0)],
            "size": (768, 512),
            "loras": [],
            "clip_layer": [],
            "upscale": [],
            "notes": {"Model", "Sampler", "Schedule type"},
        },
        id="unknown sampler and schedule fall back with notes",
    ),
    pytest.param(
        PIXEL_HIRES,
        {
            "sampling": [
                (9, 20, 7.0, "euler_ancestral", "normal", 1.0),
                (9, 20, 5.0, "dpmpp_2m_sde", "exponential", 0.3),
            ],
            "size": (512, 512),
            "loras": [],
            "clip_layer": [],
            "upscale": [("image.scale", "lanczos", 1024, 1024)],
            "notes": {"Model", "Hires upscaler"},
        },
        id="hires in pixels: resize, own sampler, prompt and cfg",
    ),
    pytest.param(
        IMG2IMG,
        {
            "sampling": [(2, 20, 7.0, "euler", "normal", 1.0)],
            "size": (512, 512),
            "loras": [],
            "clip_layer": [],
            "upscale": [],
            "notes": {"Model", "Denoising strength"},
        },
        id="img2img without its source image",
    ),
]


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_settings_become_the_workflow_that_reproduces_them(
    text: str, expected: dict[str, Any], registry: Registry, settings: Settings
) -> None:
    workflow = from_infotext(text, registry, settings)
    latent = nodes_of(workflow, "sd.empty_latent")[0]
    upscales = [
        (node.type, node.inputs["upscale_method"], node.inputs["width"], node.inputs["height"])
        for node in workflow.nodes.values()
        if node.type in ("sd.latent_upscale", "image.scale")
    ]
    assert sampling(workflow) == expected["sampling"]
    assert (latent["width"], latent["height"]) == expected["size"]
    assert [
        (n["lora_name"], n["strength_model"], n["strength_clip"])
        for n in nodes_of(workflow, "sd.load_lora")
    ] == expected["loras"]
    assert [
        n["stop_at_clip_layer"] for n in nodes_of(workflow, "sd.clip_set_last_layer")
    ] == expected["clip_layer"]
    assert upscales == expected["upscale"]
    assert noted(workflow) == expected["notes"]


def test_prompts_are_encoded_without_their_lora_tags(registry: Registry) -> None:
    workflow = from_infotext(A1111_HIRES_LORA, registry)
    texts = [n["text"] for n in nodes_of(workflow, "sd.encode_prompt")]
    assert texts == [
        "masterpiece, best quality, 1girl, (red hair:1.2)",
        "(worst quality, low quality:1.4), easynegative",
    ]


def test_the_hires_prompt_feeds_only_the_second_pass(registry: Registry) -> None:
    workflow = from_infotext(PIXEL_HIRES, registry)
    first, second = (n for n in workflow.nodes.values() if n.type == "sd.sample")
    assert first.inputs["positive"] != second.inputs["positive"]
    hires_prompt = workflow.nodes[second.inputs["positive"].node]  # type: ignore[union-attr]
    assert hires_prompt.inputs["text"] == "a forest, sharp, detailed"


def models_home(settings: Settings, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = settings.model_folder(name.split("/")[0]) / name.split("/", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_a_checkpoint_is_found_by_its_name_in_a_subfolder(
    registry: Registry, settings: Settings
) -> None:
    models_home(settings, {"checkpoints/sd15/v1-5-pruned-emaonly.safetensors": b"x"})
    workflow = from_infotext(A1111_OLD, registry, settings)
    assert nodes_of(workflow, "sd.load_checkpoint")[0]["ckpt_name"] == (
        "sd15/v1-5-pruned-emaonly.safetensors"
    )
    assert "Model" not in noted(workflow)


def test_a_renamed_checkpoint_is_found_by_its_sha256_short_hash(
    registry: Registry, settings: Settings
) -> None:
    data = b"checkpoint bytes" * 1000
    short = hashlib.sha256(data).hexdigest()[:10]
    models_home(settings, {"checkpoints/renamed.safetensors": data})
    text = A1111_OLD.replace("6ce0161689", short)
    workflow = from_infotext(text, registry, settings)
    assert nodes_of(workflow, "sd.load_checkpoint")[0]["ckpt_name"] == "renamed.safetensors"


def test_an_old_eight_digit_hash_is_read_at_one_mebibyte(
    registry: Registry, settings: Settings
) -> None:
    data = bytes(range(256)) * 4096 + b"model weights" * 10000
    short = hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]
    models_home(settings, {"checkpoints/old.ckpt": data})
    text = A1111_OLD.replace(
        "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly", f"Model hash: {short}"
    )
    workflow = from_infotext(text, registry, settings)
    assert nodes_of(workflow, "sd.load_checkpoint")[0]["ckpt_name"] == "old.ckpt"


def test_a_missing_checkpoint_is_kept_by_name_and_validation_names_ckpt_name(
    registry: Registry, settings: Settings
) -> None:
    workflow = from_infotext(A1111_OLD, registry, settings)
    [loader_id] = [k for k, n in workflow.nodes.items() if n.type == "sd.load_checkpoint"]
    problems = validate(workflow, registry, settings)
    assert any(p.node == loader_id and p.input == "ckpt_name" for p in problems)
    assert any("not among your checkpoints" in note for note in import_notes(workflow))


def test_a_lora_and_vae_we_have_are_used_by_their_file_names(
    registry: Registry, settings: Settings
) -> None:
    models_home(
        settings,
        {
            "loras/detail/add_detail.safetensors": b"x",
            "vae/vae-ft-mse-840000-ema-pruned.safetensors": b"x",
            "checkpoints/anything-v5.safetensors": b"x",
            "embeddings/easynegative.safetensors": b"x",
        },
    )
    workflow = from_infotext(A1111_HIRES_LORA, registry, settings)
    negative = nodes_of(workflow, "sd.encode_prompt")[1]["text"]
    assert negative == "(worst quality, low quality:1.4), embedding:easynegative"
    assert nodes_of(workflow, "sd.load_lora")[0]["lora_name"] == "detail/add_detail.safetensors"
    assert nodes_of(workflow, "sd.load_vae")[0]["vae_name"] == (
        "vae-ft-mse-840000-ema-pruned.safetensors"
    )
    assert import_notes(workflow) == []


def test_an_image_naming_no_model_gets_the_first_checkpoint_with_a_note(
    registry: Registry, settings: Settings
) -> None:
    models_home(settings, {"checkpoints/a.safetensors": b"x", "checkpoints/b.safetensors": b"x"})
    workflow = from_infotext(CIVITAI, registry, settings)
    assert nodes_of(workflow, "sd.load_checkpoint")[0]["ckpt_name"] == "a.safetensors"
    assert "Model: (not named): the image names no model; a.safetensors chosen" in (
        import_notes(workflow)
    )


def test_a_bad_number_is_noted_and_the_default_used(registry: Registry) -> None:
    text = "a cat\nSteps: many, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 64x64"
    workflow = from_infotext(text, registry)
    assert sampling(workflow)[0][1] == 20
    assert "Steps: many: not a whole number; 20 used" in import_notes(workflow)


def test_the_written_workflow_is_valid_once_the_files_exist(
    registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    workflow = from_infotext(A1111_HIRES_LORA, registry)
    problems = validate(workflow, registry, settings)
    assert {p.input for p in problems} == {"ckpt_name", "lora_name", "vae_name"}


def test_a1111_only_prompt_syntax_is_noted(registry: Registry) -> None:
    text = "a [cat:dog:10] BREAK on a mat\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1"
    notes = import_notes(from_infotext(text, registry))
    assert notes == [
        "Model: (not named): the image names no model and you have none",
        "Prompt: [cat:dog:10]: A1111's [ ] syntax is read as plain text here",
        "Prompt: BREAK: A1111's BREAK is read as a plain word here",
    ]


def test_a_model_upscaler_we_have_runs_before_the_resize(
    registry: Registry, settings: Settings
) -> None:
    models_home(settings, {"upscale_models/4x-UltraSharp.pth": b"x"})
    workflow = from_infotext(PIXEL_HIRES, registry, settings)
    [loader] = [
        n for n in workflow.nodes.values() if n.type == registry.by_comfy("UpscaleModelLoader").id
    ]  # type: ignore[union-attr]
    assert loader.inputs["model_name"] == "4x-UltraSharp.pth"
    upscaler = registry.by_comfy("ImageUpscaleWithModel")
    [scale] = nodes_of(workflow, "image.scale")
    assert upscaler is not None and nodes_of(workflow, upscaler.id)
    assert (scale["width"], scale["height"]) == (1024, 1024)
    assert "Hires upscaler" not in noted(workflow)


def test_a_hires_schedule_alone_changes_only_the_second_pass(registry: Registry) -> None:
    text = A1111_HIRES_LORA.replace(
        "Hires steps: 15,",
        "Hires steps: 15, Hires sampler: Use same sampler, Hires schedule type: Exponential,",
    )
    assert [s[3:5] for s in sampling(from_infotext(text, registry))] == [
        ("dpmpp_2m", "karras"),
        ("dpmpp_2m", "exponential"),
    ]


def test_civitai_loras_without_a_prompt_tag_are_noted(registry: Registry) -> None:
    text = CIVITAI.replace(
        '{"type":"lora","weight":0.8}',
        '{"type":"lora","weight":0.8,"modelName":"Eyes","modelVersionName":"v3"},'
        '{"type":"lora","weight":0.4,"modelName":"Film grain","modelVersionName":"v1"}',
    )
    notes = import_notes(from_infotext(text, registry))
    assert (
        "Civitai resources: Eyes (v3) at 0.8; Film grain (v1) at 0.4: 2 LoRAs listed, 1 tagged "
        "in the prompt: only tagged ones are applied; add a Load LoRA for the others"
    ) in notes
