"""The maths behind the model patch nodes, on plain tensors and tiny real networks:
RescaleCFG's guidance, FreeU v2's backbone boost and skip filter, weight merges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from engine.model_store import ModelKey, ModelStore
from engine.types import Model
from nodes.ops.families.model_patches import merge_models
from nodes.ops.families.patches import unet_in_use
from nodes.ops.families.sd.freeu import FreeU, fourier_filter, scale_backbone
from nodes.ops.families.sd.saving import save_checkpoint
from nodes.ops.sampling.guidance import rescaled_cfg
from nodes.ops.weights.checkpoint_io import read_state_dict
from nodes.ops.weights.merge import blended
from tests.sd import tiny
from tests.sd.conftest import port_values


def predictions() -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    x, cond, uncond = (torch.randn(2, 4, 8, 8, generator=gen) for _ in range(3))
    return x, torch.tensor([3.0, 0.5]), cond, uncond


def as_v(x: torch.Tensor, sigma: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """An x0 estimate as v-prediction in variance-preserving terms (the paper's space)."""
    s = sigma.view(-1, 1, 1, 1)
    return (x / (s * s + 1) - x0) * (s * s + 1).sqrt() / s


def test_rescale_multiplier_zero_is_plain_cfg() -> None:
    x, sigma, cond, uncond = predictions()
    plain = uncond + 7.0 * (cond - uncond)
    torch.testing.assert_close(rescaled_cfg(x, sigma, cond, uncond, 7.0, 0.0), plain)


def test_full_rescale_matches_the_conditional_std() -> None:
    x, sigma, cond, uncond = predictions()
    guided = as_v(x, sigma, rescaled_cfg(x, sigma, cond, uncond, 7.0, 1.0))
    wanted = as_v(x, sigma, cond).std(dim=(1, 2, 3))
    torch.testing.assert_close(guided.std(dim=(1, 2, 3)), wanted)
    assert (as_v(x, sigma, uncond + 7.0 * (cond - uncond)).std(dim=(1, 2, 3)) > wanted).all()


def test_partial_rescale_mixes_linearly() -> None:
    x, sigma, cond, uncond = predictions()
    ends = [rescaled_cfg(x, sigma, cond, uncond, 5.0, m) for m in (0.0, 1.0)]
    half = rescaled_cfg(x, sigma, cond, uncond, 5.0, 0.3)
    torch.testing.assert_close(half, 0.7 * ends[0] + 0.3 * ends[1])


def test_backbone_boost_follows_the_normalised_channel_mean() -> None:
    h = torch.rand(1, 4, 6, 6)
    out = scale_backbone(h, 1.5)
    mean = h.mean(1)[0]
    top = divmod(int(mean.argmax()), 6)
    bottom = divmod(int(mean.argmin()), 6)
    torch.testing.assert_close(out[0, :2, top[0], top[1]], h[0, :2, top[0], top[1]] * 1.5)
    torch.testing.assert_close(out[0, :2, bottom[0], bottom[1]], h[0, :2, bottom[0], bottom[1]])
    assert torch.equal(out[:, 2:], h[:, 2:])  # the second half of the channels is kept


def test_skip_filter_scales_the_lowest_frequencies() -> None:
    skip = torch.randn(1, 3, 8, 8) + 2.0
    torch.testing.assert_close(fourier_filter(skip, 1.0), skip, atol=1e-5, rtol=0)
    damped = fourier_filter(skip, 0.0)  # DC lies inside the damped square: means go to 0
    torch.testing.assert_close(damped.mean(dim=(-2, -1)), torch.zeros(1, 3), atol=1e-5, rtol=0)
    high = skip - skip.mean(dim=(-2, -1), keepdim=True)
    assert damped.std() < high.std()


def unet_output(unet: Any) -> torch.Tensor:
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(1, 4, 16, 16, generator=gen)
    context = torch.randn(1, 7, tiny.WIDTH, generator=gen)
    with torch.no_grad():
        return unet(x, torch.tensor([500.0]), encoder_hidden_states=context).sample


def test_freeu_at_one_leaves_the_unet_output_identical() -> None:
    unet = tiny.unet("sd1")
    plain = unet_output(unet)
    with FreeU(1.0, 1.0, 1.0, 1.0).applied(unet):
        assert torch.equal(unet_output(unet), plain)


def test_freeu_changes_the_output_only_while_applied() -> None:
    unet = tiny.unet("sd1")  # widths 32, 64: FreeU's 2x width (b2, s2) applies
    plain = unet_output(unet)
    with FreeU(1.0, 1.4, 1.0, 0.2).applied(unet):
        changed = unet_output(unet)
    assert (changed - plain).abs().max() > 1e-3
    assert torch.equal(unet_output(unet), plain)


def test_freeu_scales_match_comfyui_widths() -> None:
    unet = tiny.unet("sd1")
    assert FreeU(1.3, 1.4, 0.9, 0.2).scales(unet) == {128: (1.3, 0.9), 64: (1.4, 0.2)}


def as_model(store: ModelStore, unet: Any, name: str, family: str = "sd1") -> Model:
    handle = store.handle(ModelKey("tiny", name, "0", "unet"), lambda: unet)
    return Model(handle, {"family": family, "prediction_type": "epsilon", "patches": ()})


def averaged(first: Any, second: Any, ratio: float) -> Any:
    """A third network holding ratio * first + (1 - ratio) * second (the reference)."""
    third = tiny.unet("sd1")
    mine, theirs = first.state_dict(), second.state_dict()
    third.load_state_dict({k: ratio * v + (1 - ratio) * theirs[k] for k, v in mine.items()})
    return third


@pytest.mark.parametrize("ratio", [1.0, 0.0, 0.3])
def test_merged_model_computes_with_interpolated_weights(ratio: float) -> None:
    store = ModelStore()
    first, second = tiny.unet("sd1", seed=0), tiny.unet("sd1", seed=7)
    before = {k: v.clone() for k, v in first.state_dict().items()}
    merged = merge_models(as_model(store, first, "a"), as_model(store, second, "b"), ratio)
    with unet_in_use(merged, store) as network:
        out = unet_output(network)
    torch.testing.assert_close(out, unet_output(averaged(first, second, ratio)))
    assert all(torch.equal(v, before[k]) for k, v in first.state_dict().items())


def test_merge_state_dict_holds_the_blend() -> None:
    first, second = tiny.unet("sd1", seed=0), tiny.unet("sd1", seed=7)
    with blended(first, second, 0.25):
        state = first.state_dict()
    reference = averaged(first, second, 0.25).state_dict()
    assert all(torch.allclose(v, reference[k]) for k, v in state.items())
    assert not torch.allclose(first.conv_in.weight, reference["conv_in.weight"])


def test_merge_of_other_families_is_refused_with_a_sentence() -> None:
    store = ModelStore()
    sd1 = as_model(store, tiny.unet("sd1"), "a")
    sdxl = as_model(store, tiny.unet("sdxl"), "b", family="sdxl")
    with pytest.raises(ValueError, match="cannot be merged: a sd1 model and a sdxl model"):
        merge_models(sd1, sdxl, 0.5)
    inpaint = as_model(store, tiny.unet("sd1", inpaint=True), "c")
    with pytest.raises(ValueError, match=r"conv_in\.weight is"):
        merge_models(sd1, inpaint, 0.5)


def test_saving_a_merged_model_writes_the_blend(tmp_path: Path) -> None:
    model, clip, vae, store = port_values("sd1")
    other, _, _, _kept = port_values("sd1")  # its store holds the network
    with torch.no_grad():
        for param in other.handle.get().parameters():
            param.add_(torch.randn_like(param))
    merged = merge_models(model, other, 0.3)
    save_checkpoint(tmp_path / "merged.safetensors", merged, clip, vae, store)
    reference = averaged(model.handle.get(), other.handle.get(), 0.3)
    ref_model = Model(
        store.handle(ModelKey("ref", "x", "0", "unet"), lambda: reference), model.config
    )
    save_checkpoint(tmp_path / "reference.safetensors", ref_model, clip, vae, store)
    written, _ = read_state_dict(tmp_path / "merged.safetensors")
    wanted, _ = read_state_dict(tmp_path / "reference.safetensors")
    assert written.keys() == wanted.keys()
    assert all(torch.allclose(written[k], wanted[k], atol=1e-6) for k in wanted)


def test_flux_transformers_merge_too() -> None:
    from tests.flux import tiny as flux

    first, second = flux.transformer(seed=0), flux.transformer(seed=9)
    reference = flux.transformer(seed=0)
    theirs = second.state_dict()
    blend = {k: 0.3 * v + 0.7 * theirs[k] for k, v in first.state_dict().items()}
    reference.load_state_dict(blend)
    gen = torch.Generator().manual_seed(0)
    inputs = dict(
        hidden_states=torch.randn(1, 16, first.config.in_channels, generator=gen),
        encoder_hidden_states=torch.randn(1, 5, first.config.joint_attention_dim, generator=gen),
        pooled_projections=torch.randn(1, first.config.pooled_projection_dim, generator=gen),
        timestep=torch.tensor([0.5]),
        img_ids=torch.zeros(16, 3),
        txt_ids=torch.zeros(5, 3),
        guidance=torch.tensor([3.5]),
    )
    with torch.no_grad(), blended(first, second, 0.3):
        merged = first(**inputs).sample
    with torch.no_grad():
        wanted = reference(**inputs).sample
    torch.testing.assert_close(merged, wanted)


def test_rescale_at_sigma_zero_is_plain_cfg_not_nan() -> None:
    x, _, cond, uncond = predictions()
    out = rescaled_cfg(x, torch.tensor(0.0), cond, uncond, 7.0, 0.7)
    torch.testing.assert_close(out, uncond + 7.0 * (cond - uncond))


def sdxl_output(unet: Any) -> torch.Tensor:
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(1, 4, 16, 16, generator=gen)
    context = torch.randn(1, 7, 2 * tiny.WIDTH, generator=gen)
    added = {"text_embeds": torch.randn(1, tiny.WIDTH, generator=gen), "time_ids": torch.ones(1, 6)}
    with torch.no_grad():
        return unet(x, torch.tensor([500.0]), context, added_cond_kwargs=added).sample


def test_freeu_on_an_sdxl_unet() -> None:
    unet = tiny.unet("sdxl")  # cross-attention up blocks first, as SDXL's
    plain = sdxl_output(unet)
    with FreeU(1.0, 1.0, 1.0, 1.0).applied(unet):
        assert torch.equal(sdxl_output(unet), plain)
    with FreeU(1.3, 1.4, 0.9, 0.2).applied(unet):
        assert (sdxl_output(unet) - plain).abs().max() > 1e-3
