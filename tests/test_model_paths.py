"""Model folders: ours, ComfyUI's extra_model_paths.yaml, listing and resolving names."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from engine.model_paths import KINDS, ModelPaths, choices_for, read_extra_model_paths
from engine.paths import UnsafePath
from engine.settings import Settings


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_our_folders_and_listing(settings: Settings) -> None:
    ckpts = settings.models_dir / "checkpoints"
    for name in ["b.safetensors", "sub/a.ckpt", "c.SFT", "d.pt", "e.pth", "f.bin", "notes.txt"]:
        touch(ckpts / name)
    paths = ModelPaths.from_settings(settings)
    assert paths.folders("checkpoints") == [ckpts]
    assert paths.list("checkpoints") == [
        "b.safetensors",
        "c.SFT",
        "d.pt",
        "e.pth",
        "f.bin",
        "sub/a.ckpt",
    ]
    assert paths.list("loras") == []  # a missing folder is empty, not an error
    assert paths.resolve("checkpoints", "sub/a.ckpt") == (ckpts / "sub" / "a.ckpt").resolve()
    assert set(KINDS) >= {"checkpoints", "vae", "loras", "controlnet", "embeddings"}
    assert "upscale_models" in KINDS


def test_default_yaml_location_and_missing_file(settings: Settings) -> None:
    assert settings.extra_model_paths == (settings.base_dir / "extra_model_paths.yaml",)
    assert ModelPaths.from_settings(settings).folders("vae") == [settings.models_dir / "vae"]


def test_comfyui_yaml(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "userhome"))
    a1111 = tmp_path / "a1111"
    (settings.base_dir / "extra_model_paths.yaml").write_text(
        f"""
a111:
    base_path: {a1111}
    checkpoints: models/Stable-diffusion
    configs: models/Stable-diffusion
    vae: models/VAE
    loras: |
         models/Lora
         models/LyCORIS
    upscale_models: |
                  models/ESRGAN
                  models/RealESRGAN
    embeddings: embeddings
    hypernetworks: models/hypernetworks
    controlnet: models/ControlNet
comfy:
    base_path: ../comfy     # relative to the yaml's folder
    checkpoints: models/checkpoints/
    t2i_adapter: models/t2i_adapter
    clip_vision: models/clip_vision
tilde:
    base_path: ~/sd
    loras: /abs/loras
    vae: vaes
empty:
""",
        encoding="utf-8",
    )
    paths = ModelPaths.from_settings(settings)
    models = settings.models_dir
    assert paths.folders("checkpoints") == [
        models / "checkpoints",
        a1111 / "models/Stable-diffusion",
        tmp_path / "comfy/models/checkpoints",
    ]
    assert paths.folders("loras") == [
        models / "loras",
        a1111 / "models/Lora",
        a1111 / "models/LyCORIS",
        Path("/abs/loras"),
    ]
    assert paths.folders("upscale_models")[1:] == [
        a1111 / "models/ESRGAN",
        a1111 / "models/RealESRGAN",
    ]
    assert paths.folders("embeddings")[1:] == [a1111 / "embeddings"]
    assert paths.folders("vae")[1:] == [a1111 / "models/VAE", tmp_path / "userhome/sd/vaes"]
    assert paths.folders("controlnet")[2:] == [  # after ours: controlnet/, t2i_adapter/
        a1111 / "models/ControlNet",
        tmp_path / "comfy/models/t2i_adapter",
    ]

    touch(models / "loras" / "same.safetensors")
    touch(a1111 / "models/Lora" / "same.safetensors")
    touch(a1111 / "models/LyCORIS" / "style/ly.safetensors")
    assert paths.list("loras") == ["same.safetensors", "style/ly.safetensors"]
    # ours comes first for a name found in two places
    assert paths.resolve("loras", "same.safetensors") == (models / "loras/same.safetensors")
    assert paths.resolve("loras", "style/ly.safetensors").parent.name == "style"
    assert choices_for("loras")(settings) == ["same.safetensors", "style/ly.safetensors"]


def test_is_default_goes_first(settings: Settings, tmp_path: Path) -> None:
    yaml_file = tmp_path / "paths.yaml"
    yaml_file.write_text("mine:\n  base_path: /data\n  is_default: true\n  vae: vae\n")
    paths = ModelPaths.from_settings(replace(settings, extra_model_paths=(yaml_file,)))
    assert paths.folders("vae") == [Path("/data/vae"), settings.models_dir / "vae"]


def test_diffusers_folders_are_checkpoints(settings: Settings) -> None:
    ckpts = settings.models_dir / "checkpoints"
    touch(ckpts / "sd15-diffusers" / "model_index.json")
    touch(ckpts / "sd15-diffusers" / "unet" / "diffusion_pytorch_model.safetensors")
    touch(ckpts / "sdxl" / "turbo" / "model_index.json")
    touch(ckpts / "sdxl" / "base.safetensors")
    touch(ckpts / "config.json")
    paths = ModelPaths.from_settings(settings)
    assert paths.list("checkpoints") == ["sd15-diffusers", "sdxl/base.safetensors", "sdxl/turbo"]
    assert paths.resolve("checkpoints", "sdxl/turbo") == (ckpts / "sdxl" / "turbo").resolve()
    with pytest.raises(FileNotFoundError):
        paths.resolve("vae", "sd15-diffusers")  # only checkpoints can be folders
    with pytest.raises(FileNotFoundError):
        paths.resolve("checkpoints", "sdxl")  # a plain folder is not a model


def test_resolve_missing_says_where_it_looked(settings: Settings, tmp_path: Path) -> None:
    yaml_file = tmp_path / "extra.yaml"
    yaml_file.write_text(f"x:\n  base_path: {tmp_path / 'other'}\n  vae: vae\n")
    paths = ModelPaths.from_settings(replace(settings, extra_model_paths=(yaml_file,)))
    with pytest.raises(FileNotFoundError) as info:
        paths.resolve("vae", "nope.safetensors")
    message = str(info.value)
    assert "nope.safetensors" in message
    assert str(settings.models_dir / "vae") in message and str(tmp_path / "other/vae") in message


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_model_files_and_folders_symlinked_in_from_another_disk_are_listed_and_resolve(
    settings: Settings, tmp_path: Path
) -> None:
    loras = settings.models_dir / "loras"
    shared = tmp_path / "other-disk"
    single = touch(shared / "single.safetensors")
    touch(shared / "styles" / "ink.safetensors")
    touch(loras / "ok.safetensors")
    (loras / "linked.safetensors").symlink_to(single)
    (loras / "collection").symlink_to(shared / "styles", target_is_directory=True)
    paths = ModelPaths.from_settings(settings)
    assert paths.list("loras") == [
        "collection/ink.safetensors",
        "linked.safetensors",
        "ok.safetensors",
    ]
    assert paths.resolve("loras", "linked.safetensors") == single.resolve()
    assert (
        paths.resolve("loras", "collection/ink.safetensors")
        == (shared / "styles" / "ink.safetensors").resolve()
    )


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_a_folder_linked_into_itself_is_walked_once(settings: Settings) -> None:
    vae = settings.models_dir / "vae"
    touch(vae / "sub" / "a.safetensors")
    (vae / "sub" / "again").symlink_to(vae, target_is_directory=True)
    (vae / "dangling.safetensors").symlink_to(vae / "missing.safetensors")
    paths = ModelPaths.from_settings(settings)
    assert paths.list("vae") == ["sub/a.safetensors"]


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_requested_names_only_match_what_the_listing_found(
    settings: Settings, tmp_path: Path
) -> None:
    loras = settings.models_dir / "loras"
    touch(tmp_path / "outside" / "secret.safetensors")
    touch(loras / "ok.safetensors")
    touch(loras / "notes.txt")
    paths = ModelPaths.from_settings(settings)
    for name in ["../outside/secret.safetensors", "/etc/passwd", "a/../ok.safetensors"]:
        with pytest.raises(UnsafePath):
            paths.resolve("loras", name)
    with pytest.raises(FileNotFoundError):
        paths.resolve("loras", "notes.txt")  # on disk, but not a model the listing shows


def test_unknown_kind(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown model kind"):
        ModelPaths.from_settings(settings).list("nope")
    with pytest.raises(ValueError, match="unknown model kind"):
        choices_for("nope")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "sections"),
        ("a: 3\n", "must map kinds"),
        ("a:\n  base_path: 5\n  vae: v\n", "a.base_path"),
        ("a:\n  vae: {x: 1}\n", "a.vae"),
        ("a:\n  is_default: maybe\n", "a.is_default"),
    ],
)
def test_malformed_yaml(tmp_path: Path, text: str, problem: str) -> None:
    yaml_file = tmp_path / "extra_model_paths.yaml"
    yaml_file.write_text(text)
    with pytest.raises(ValueError, match=problem) as info:
        read_extra_model_paths(yaml_file)
    assert str(yaml_file) in str(info.value)


def test_missing_and_empty_yaml(tmp_path: Path) -> None:
    assert read_extra_model_paths(tmp_path / "absent.yaml") == []
    (tmp_path / "empty.yaml").write_text("")
    assert read_extra_model_paths(tmp_path / "empty.yaml") == []


def test_no_base_path_is_relative_to_the_yaml(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    yaml_file = tmp_path / "cfg" / "extra.yaml"
    yaml_file.write_text("s:\n  vae: ../vaes\n  embeddings: [one, two]\n")
    assert read_extra_model_paths(yaml_file) == [
        ("vae", tmp_path / "vaes", False),
        ("embeddings", tmp_path / "cfg" / "one", False),
        ("embeddings", tmp_path / "cfg" / "two", False),
    ]


def test_engine_stays_torch_free() -> None:
    import subprocess

    code = "import engine.model_paths, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_diffusion_models_and_text_encoders_are_found_in_comfyuis_older_folders_too(
    settings: Settings, tmp_path: Path
) -> None:
    models = settings.models_dir
    touch(models / "diffusion_models" / "flux1-dev.safetensors")
    touch(models / "unet" / "flux1-schnell.safetensors")
    touch(models / "text_encoders" / "t5xxl_fp16.safetensors")
    touch(models / "clip" / "clip_l.safetensors")
    touch(tmp_path / "comfy" / "models" / "unet" / "other.safetensors")
    (settings.base_dir / "extra_model_paths.yaml").write_text(
        f"comfyui:\n    base_path: {tmp_path / 'comfy'}\n    unet: models/unet\n"
    )
    paths = ModelPaths.from_settings(settings)
    assert paths.folders("diffusion_models")[:2] == [
        models / "diffusion_models",
        models / "unet",
    ]
    assert paths.list("diffusion_models") == [
        "flux1-dev.safetensors",
        "flux1-schnell.safetensors",
        "other.safetensors",
    ]
    assert paths.list("text_encoders") == ["clip_l.safetensors", "t5xxl_fp16.safetensors"]
