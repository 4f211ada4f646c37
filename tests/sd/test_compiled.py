"""`--compile` (issue 18): the denoising network compiled with frozen weights, only where
that cannot change the picture."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from nodes.ops.sampling.compiled import compiled, unchanged
from nodes.ops.weights.precision import compute_in
from tests.sd import graphs, tiny


def render(executor: Executor) -> torch.Tensor:
    result = executor.run(graphs.txt2img(), targets=["decode"])
    assert result.status == "success", result.error or result.problems
    return result.values["decode"]["image"].pixels


@pytest.mark.slow  # compiling even the tiny UNet takes about 25 s on 2 cores
def test_a_compiled_run_draws_the_picture_an_eager_run_draws(
    sd_registry: Registry, sd_settings: Settings
) -> None:
    # In float32: in bfloat16 the fused kernels round differently (up to 8/255 here).
    settings = replace(sd_settings, dtype="float32")
    eager = render(Executor(sd_registry, settings))
    fast = render(Executor(sd_registry, replace(settings, compile=True)))
    torch.testing.assert_close(fast, eager, atol=1e-4, rtol=0)


def test_only_a_network_as_loaded_is_compiled() -> None:
    assert unchanged({"patches": (), "family": "sd1"})
    assert not unchanged({"patches": ("a LoRA",)})
    assert not unchanged({"patches": (), "merge": "a merge"})
    assert not unchanged({"patches": (), "hooks": ("FreeU",)})


def test_weights_widened_per_layer_are_not_frozen() -> None:
    unet = compute_in(tiny.unet("sd1").half(), torch.float32)
    assert compiled(unet) is unet  # its hooks swap the weights at every call
