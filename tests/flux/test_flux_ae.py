"""Flux's 16-channel AE: diffusers <-> the LDM layout of `ae.safetensors`, and loading it."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL

from nodes.ops.families.flux import layout as L
from nodes.ops.families.flux.component_configs import ae_config_from_shapes
from nodes.ops.families.flux.config import embedded_config
from nodes.ops.weights.build import fill_model
from nodes.ops.weights.checkpoint_io import read_shapes, read_state_dict
from tests.flux import tiny
from tests.flux.conftest import Written


def test_round_trip_reproduces_every_tensor_bit_for_bit() -> None:
    sd = tiny.vae().state_dict()
    back = L.ae_from_ldm(L.ae_to_ldm(sd), tiny.VAE_CONFIG)
    assert back.keys() == sd.keys()
    assert all(torch.equal(back[k], v) for k, v in sd.items())


def test_ldm_names_have_16_latent_channels_and_no_quant_convs() -> None:
    ldm = L.ae_to_ldm(tiny.vae().state_dict())
    assert not any("quant_conv" in k for k in ldm)
    assert ldm["encoder.conv_out.weight"].shape[0] == 2 * 16  # mean and log-variance
    assert ldm["decoder.conv_in.weight"].shape[1] == 16
    assert ldm["encoder.mid.attn_1.q.weight"].ndim == 4  # a 1x1 conv in LDM, a linear here


def test_round_trip_under_the_all_in_one_prefix() -> None:
    sd = tiny.vae().state_dict()
    mixed = {**L.ae_to_ldm(sd, L.AE_PREFIX), "model.diffusion_model.img_in.weight": torch.zeros(1)}
    back = L.ae_from_ldm(mixed, tiny.VAE_CONFIG, L.AE_PREFIX)
    assert back.keys() == sd.keys()


def test_loaded_from_the_file_decodes_like_the_original(written: Written) -> None:
    shapes, metadata = read_shapes(written.dev.ae)
    config = ae_config_from_shapes(shapes, override=embedded_config(metadata, "vae"))
    state, _ = read_state_dict(written.dev.ae)
    with torch.device("meta"):
        loaded = AutoencoderKL(**config)
    fill_model(loaded, L.ae_from_ldm(state, config), "AE", written.dev.ae).eval()
    latent = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours = loaded.decode(latent).sample
        theirs = tiny.vae().decode(latent).sample
    assert ours.shape == (1, 3, 64, 64)
    assert torch.equal(ours, theirs)


def test_full_size_shapes_give_flux1_ae_config() -> None:
    with torch.device("meta"):
        ae = AutoencoderKL(**L.AE_CONFIG)
    shapes = {k: tuple(v.shape) for k, v in L.ae_to_ldm(ae.state_dict()).items()}
    assert ae_config_from_shapes(shapes) == L.AE_CONFIG
