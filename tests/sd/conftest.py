"""Tiny checkpoints of each family, written by our own Save Checkpoint code into a model
folder, and a settings/executor pair that finds them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.executor import Executor
from engine.model_store import ModelKey, ModelStore
from engine.registry import Registry
from engine.settings import Settings
from engine.types import Clip, Model, Vae
from nodes.ops.families.sd.loading import ROLES
from nodes.ops.families.sd.saving import save_checkpoint, save_controlnet
from nodes.ops.text.encoding import TextEncoder, TextEncoders
from tests.sd import tiny

FAMILIES = ("sd1", "sd2", "sdxl", "sdxl_refiner")


def port_values(
    family: str, inpaint: bool = False, prediction: str = "epsilon"
) -> tuple[Model, Clip, Vae, ModelStore]:
    """Tiny random models wrapped as a loader's outputs."""
    store = ModelStore()
    unet, vae = tiny.unet(family, inpaint), tiny.vae()
    by_name = tiny.text_encoders(family)
    roles = {name: (pad, pooled) for name, pad, pooled in ROLES[family].values()}
    encoders = TextEncoders(
        family,
        [
            TextEncoder(name, m, roles[name][0], -1, False, roles[name][1])  # type: ignore[arg-type]
            for name, m in by_name.items()
        ],
    )

    def handle(part: str, value: Any) -> Any:
        return store.handle(ModelKey("tiny", family, "0", part), lambda: value)

    config = {"family": family, "prediction_type": prediction, "patches": ()}
    return (
        Model(handle("unet", unet), config),
        Clip(handle("clip", encoders), config),
        Vae(handle("vae", vae), {}),
        store,
    )


def write_checkpoint(
    path: Path, family: str, inpaint: bool = False, prediction: str = "epsilon"
) -> Path:
    model, clip, vae, store = port_values(family, inpaint, prediction)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, model, clip, vae, store)
    return path


@pytest.fixture(scope="session")
def model_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home folder whose models/ holds a tiny checkpoint of each family (and more)."""
    home = tmp_path_factory.mktemp("sdhome")
    ckpts = home / "models" / "checkpoints"
    for family in FAMILIES:
        write_checkpoint(ckpts / f"tiny_{family}.safetensors", family)
    write_checkpoint(ckpts / "tiny_sd1_inpaint.safetensors", "sd1", inpaint=True)
    write_checkpoint(ckpts / "tiny_sd2_v.safetensors", "sd2", prediction="v_prediction")
    (home / "models" / "controlnet").mkdir(parents=True)
    save_controlnet(home / "models" / "controlnet" / "tiny_cn.safetensors", tiny.controlnet())
    (home / "input").mkdir()
    return home


@pytest.fixture
def sd_settings(model_home: Path, tmp_path: Path) -> Settings:
    return Settings.at(model_home, output_dir=tmp_path / "output", temp_dir=tmp_path / "temp")


@pytest.fixture(scope="session")
def sd_registry() -> Registry:
    registry = Registry.discover(plugins=False)
    assert not registry.failures
    return registry


@pytest.fixture
def sd_executor(sd_registry: Registry, sd_settings: Settings) -> Executor:
    return Executor(sd_registry, sd_settings)
