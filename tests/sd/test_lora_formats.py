"""Each LoRA format, written as its trainer writes it, changes the named weight by its
formula (computed here independently of the loader), strength 0 changes nothing, and the
weights are back bit for bit once the model is out of use."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nodes.ops.families.patches import add_lora, unet_in_use
from nodes.ops.weights.lora import LoraLayer, deltas, patched
from nodes.ops.weights.lora_lowrank import LowRank
from tests.sd.lora_files import (
    CONV1,
    CONV3,
    LINEAR,
    WIDE,
    Applied,
    State,
    kohya,
    randn,
    save,
)

RANK = 4


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4)


def test_kohya_lora_adds_strength_times_alpha_over_rank_times_up_down(tmp_path: Path) -> None:
    down, up = randn(RANK, 32, seed=1), randn(32, RANK, seed=2)
    name = kohya(LINEAR)
    state = {f"{name}.lora_down.weight": down, f"{name}.lora_up.weight": up}
    state[f"{name}.alpha"] = torch.tensor(2.0)
    applied = Applied("sd1", save(state, tmp_path), strength_model=0.8)
    close(applied.unet_change(LINEAR), 0.8 * (2.0 / RANK) * (up @ down))


def test_a_3x3_conv_locon_sums_the_up_projection_over_the_rank_per_kernel_tap(
    tmp_path: Path,
) -> None:
    down, up = randn(RANK, 32, 3, 3, seed=3), randn(32, RANK, 1, 1, seed=4)
    name = kohya(CONV3)
    state = {f"{name}.lora_down.weight": down, f"{name}.lora_up.weight": up}
    applied = Applied("sd1", save(state, tmp_path))
    expected = torch.einsum("or,rihw->oihw", up[:, :, 0, 0], down)
    close(applied.unet_change(CONV3), expected)


def test_a_1x1_conv_lora_changes_the_1x1_kernel(tmp_path: Path) -> None:
    down, up = randn(RANK, 32, 1, 1, seed=5), randn(32, RANK, 1, 1, seed=6)
    name = kohya(CONV1)
    state = {f"{name}.lora_down.weight": down, f"{name}.lora_up.weight": up}
    applied = Applied("sd1", save(state, tmp_path))
    expected = (up[:, :, 0, 0] @ down[:, :, 0, 0])[:, :, None, None]
    close(applied.unet_change(CONV1), expected)


def test_a_locon_with_a_mid_core_passes_each_tap_through_the_core(tmp_path: Path) -> None:
    down, up = randn(RANK, 32, 1, 1, seed=7), randn(32, RANK, 1, 1, seed=8)
    mid = randn(RANK, RANK, 3, 3, seed=9)
    name = kohya(CONV3)
    state = {
        f"{name}.lora_down.weight": down,
        f"{name}.lora_up.weight": up,
        f"{name}.lora_mid.weight": mid,
    }
    applied = Applied("sd1", save(state, tmp_path))
    expected = torch.einsum("om,mnhw,ni->oihw", up[:, :, 0, 0], mid, down[:, :, 0, 0])
    close(applied.unet_change(CONV3), expected)


def loha_state(name: str, rows: int, columns: int) -> State:
    return {
        f"{name}.hada_w1_a": randn(rows, RANK, seed=10),
        f"{name}.hada_w1_b": randn(RANK, columns, seed=11),
        f"{name}.hada_w2_a": randn(rows, RANK, seed=12),
        f"{name}.hada_w2_b": randn(RANK, columns, seed=13),
        f"{name}.alpha": torch.tensor(3.0),
    }


def test_loha_is_the_elementwise_product_of_two_low_rank_products(tmp_path: Path) -> None:
    name = kohya(WIDE)
    s = loha_state(name, 256, 32)
    applied = Applied("sd1", save(s, tmp_path), strength_model=0.5)
    first = s[f"{name}.hada_w1_a"] @ s[f"{name}.hada_w1_b"]
    second = s[f"{name}.hada_w2_a"] @ s[f"{name}.hada_w2_b"]
    close(applied.unet_change(WIDE), first * second * (3.0 / RANK) * 0.5)


def test_loha_on_a_conv_reshapes_the_product_to_the_kernel(tmp_path: Path) -> None:
    name = kohya(CONV3)
    s = loha_state(name, 32, 32 * 9)
    applied = Applied("sd1", save(s, tmp_path))
    first = s[f"{name}.hada_w1_a"] @ s[f"{name}.hada_w1_b"]
    second = s[f"{name}.hada_w2_a"] @ s[f"{name}.hada_w2_b"]
    close(applied.unet_change(CONV3), (first * second * 3.0 / RANK).reshape(32, 32, 3, 3))


def test_loha_with_tucker_cores_rebuilds_each_factor_from_its_core(tmp_path: Path) -> None:
    name = kohya(CONV3)
    parts = {
        "hada_w1_a": randn(RANK, 32, seed=14),  # (rank, out) in the Tucker form
        "hada_w1_b": randn(RANK, 32, seed=15),  # (rank, in)
        "hada_t1": randn(RANK, RANK, 3, 3, seed=16),
        "hada_w2_a": randn(RANK, 32, seed=17),
        "hada_w2_b": randn(RANK, 32, seed=18),
        "hada_t2": randn(RANK, RANK, 3, 3, seed=19),
    }
    applied = Applied("sd1", save({f"{name}.{k}": v for k, v in parts.items()}, tmp_path))

    def factor(a: torch.Tensor, b: torch.Tensor, core: torch.Tensor) -> torch.Tensor:
        return torch.einsum("po,pqhw,qi->oihw", a, core, b)

    first = factor(parts["hada_w1_a"], parts["hada_w1_b"], parts["hada_t1"])
    second = factor(parts["hada_w2_a"], parts["hada_w2_b"], parts["hada_t2"])
    close(applied.unet_change(CONV3), first * second)  # no alpha: scale 1


def kron(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The Kronecker product written out: block (i, j) is a[i, j] * b."""
    rows = [torch.cat([a[i, j] * b for j in range(a.shape[1])], dim=1) for i in range(a.shape[0])]
    return torch.cat(rows, dim=0)


def test_lokr_with_a_low_rank_second_factor_scales_by_alpha_over_its_rank(
    tmp_path: Path,
) -> None:
    name = kohya(WIDE)
    w1, w2_a, w2_b = randn(16, 4, seed=20), randn(16, RANK, seed=21), randn(RANK, 8, seed=22)
    state = {
        f"{name}.lokr_w1": w1,
        f"{name}.lokr_w2_a": w2_a,
        f"{name}.lokr_w2_b": w2_b,
        f"{name}.alpha": torch.tensor(8.0),
    }
    applied = Applied("sd1", save(state, tmp_path), strength_model=0.7)
    close(applied.unet_change(WIDE), kron(w1, w2_a @ w2_b) * (8.0 / RANK) * 0.7)


def test_lokr_with_two_whole_factors_ignores_alpha(tmp_path: Path) -> None:
    name = kohya(LINEAR)
    w1, w2 = randn(4, 2, seed=23), randn(8, 16, seed=24)
    state = {f"{name}.lokr_w1": w1, f"{name}.lokr_w2": w2, f"{name}.alpha": torch.tensor(1.0)}
    applied = Applied("sd1", save(state, tmp_path))
    close(applied.unet_change(LINEAR), kron(w1, w2))


def test_lokr_on_a_conv_multiplies_the_first_factor_into_each_kernel_block(
    tmp_path: Path,
) -> None:
    name = kohya(CONV3)
    w1_a, w1_b, w2 = randn(4, 2, seed=25), randn(2, 4, seed=26), randn(8, 8, 3, 3, seed=27)
    state = {f"{name}.lokr_w1_a": w1_a, f"{name}.lokr_w1_b": w1_b, f"{name}.lokr_w2": w2}
    state[f"{name}.alpha"] = torch.tensor(1.0)
    applied = Applied("sd1", save(state, tmp_path))
    w1 = (w1_a @ w1_b) * (1.0 / 2)  # alpha / the rank of the low-rank first factor
    expected = torch.einsum("ac,bdhw->abcdhw", w1, w2).reshape(32, 32, 3, 3)
    close(applied.unet_change(CONV3), expected)


def test_kohya_dora_rescales_each_input_column_of_the_merged_weight(tmp_path: Path) -> None:
    name = kohya(WIDE)
    down, up = randn(RANK, 32, seed=28), randn(256, RANK, seed=29)
    magnitude = randn(1, 32, seed=30).abs() + 1.0
    state = {
        f"{name}.lora_down.weight": down,
        f"{name}.lora_up.weight": up,
        f"{name}.dora_scale": magnitude,
        f"{name}.alpha": torch.tensor(2.0),
    }
    applied = Applied("sd1", save(state, tmp_path), strength_model=0.6)
    weight = applied.unet_before[f"{WIDE}.weight"]
    merged = weight + (2.0 / RANK) * (up @ down)
    adapted = magnitude * merged / torch.linalg.vector_norm(merged, dim=0, keepdim=True)
    close(applied.unet_change(WIDE), 0.6 * (adapted - weight))


def test_peft_dora_rescales_each_output_row_of_the_merged_weight(tmp_path: Path) -> None:
    base = f"unet.{WIDE}"
    down, up = randn(RANK, 32, seed=31), randn(256, RANK, seed=32)
    magnitude = randn(256, seed=33).abs() + 1.0
    state = {
        f"{base}.lora_A.weight": down,
        f"{base}.lora_B.weight": up,
        f"{base}.lora_magnitude_vector": magnitude,
    }
    applied = Applied("sd1", save(state, tmp_path))
    weight = applied.unet_before[f"{WIDE}.weight"]
    merged = weight + up @ down  # PEFT files carry no alpha: scale 1
    norms = torch.linalg.vector_norm(merged, dim=1, keepdim=True)
    close(applied.unet_change(WIDE), magnitude[:, None] * merged / norms - weight)


@pytest.mark.parametrize("kind", ["lora", "loha", "lokr", "dora"])
def test_strength_zero_leaves_every_weight_identical(tmp_path: Path, kind: str) -> None:
    name = kohya(LINEAR)
    states = {
        "lora": {f"{name}.lora_down.weight": randn(RANK, 32, seed=1)},
        "loha": loha_state(name, 32, 32),
        "lokr": {f"{name}.lokr_w1": randn(4, 4, seed=2), f"{name}.lokr_w2": randn(8, 8, seed=3)},
        "dora": {
            f"{name}.lora_down.weight": randn(RANK, 32, seed=4),
            f"{name}.dora_scale": randn(1, 32, seed=5),
        },
    }
    state = states[kind]
    if kind in ("lora", "dora"):
        state[f"{name}.lora_up.weight"] = randn(32, RANK, seed=6)
    applied = Applied("sd1", save(state, tmp_path), strength_model=0.0)
    assert applied.changed() == set()


@pytest.mark.parametrize("kind", ["loha", "dora"])
def test_weights_are_restored_bit_for_bit_after_use(tmp_path: Path, kind: str) -> None:
    name = kohya(WIDE)
    if kind == "loha":
        state = loha_state(name, 256, 32)
    else:
        state = {
            f"{name}.lora_down.weight": randn(RANK, 32, seed=7),
            f"{name}.lora_up.weight": randn(256, RANK, seed=8),
            f"{name}.dora_scale": randn(1, 32, seed=9).abs(),
        }
    applied = Applied("sd1", save(state, tmp_path))
    assert applied.changed() == {f"{WIDE}.weight"}
    assert all(torch.equal(applied.unet_after[k], v) for k, v in applied.unet_before.items())


def test_a_dora_after_another_lora_normalises_the_weight_that_lora_made(tmp_path: Path) -> None:
    name = kohya(WIDE)
    first_down, first_up = randn(RANK, 32, seed=40), randn(256, RANK, seed=41)
    first = {f"{name}.lora_down.weight": first_down, f"{name}.lora_up.weight": first_up}
    down, up = randn(RANK, 32, seed=42), randn(256, RANK, seed=43)
    magnitude = randn(1, 32, seed=44).abs() + 1.0
    dora = {
        f"{name}.lora_down.weight": down,
        f"{name}.lora_up.weight": up,
        f"{name}.dora_scale": magnitude,
    }
    applied = Applied("sd1", save(first, tmp_path, "first.safetensors"))
    model, _ = add_lora(
        save(dora, tmp_path, "dora.safetensors"),
        applied.model,
        applied.clip,
        1.0,
        0.0,
        applied.store,
    )
    with unet_in_use(model, applied.store) as unet:
        during = unet.state_dict()[f"{WIDE}.weight"].clone()
    before = applied.unet_before[f"{WIDE}.weight"]
    after_first = before + first_up @ first_down
    merged = after_first + up @ down
    expected = magnitude * merged / torch.linalg.vector_norm(merged, dim=0, keepdim=True)
    close(during, expected)


def test_a_lycoris_full_layer_adds_its_stored_difference(tmp_path: Path) -> None:
    diff = randn(32, 32, 3, 3, seed=45)
    applied = Applied("sd1", save({f"{kohya(CONV3)}.diff": diff}, tmp_path), strength_model=0.5)
    close(applied.unet_change(CONV3), 0.5 * diff)


def test_an_fp8_weight_is_patched_in_float32_and_restored_bit_for_bit() -> None:
    layer = torch.nn.Linear(8, 8, bias=False)
    layer.weight.data = layer.weight.data.to(torch.float8_e4m3fn)
    original = layer.weight.detach().clone()
    lora = LoraLayer(LowRank(randn(2, 8, seed=46), randn(8, 2, seed=47)))
    updates = deltas({"lora_unet_x": lora}, {"lora_unet_x": "weight"}, layer, 0.5)
    with patched(layer, updates):
        during = layer.weight.detach().clone()
    expected = (original.float() + 0.5 * lora.diff.matrix()).to(torch.float8_e4m3fn)
    assert torch.equal(during.view(torch.uint8), expected.view(torch.uint8))
    assert torch.equal(layer.weight.detach().view(torch.uint8), original.view(torch.uint8))


def test_sdxl_loha_and_lokr_reach_the_second_text_encoder_and_the_unet(tmp_path: Path) -> None:
    te = "lora_te2_text_model_encoder_layers_0_mlp_fc1"  # OpenCLIP-G's (64, 32)
    unet = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_k"  # (64, 64)
    state = loha_state(te, 64, 32)
    w1, w2 = randn(8, 8, seed=48), randn(8, 8, seed=49)
    state |= {f"{kohya(unet, 'sdxl')}.lokr_w1": w1, f"{kohya(unet, 'sdxl')}.lokr_w2": w2}
    applied = Applied("sdxl", save(state, tmp_path), strength_model=0.5, strength_clip=2.0)
    hada = (state[f"{te}.hada_w1_a"] @ state[f"{te}.hada_w1_b"]) * (
        state[f"{te}.hada_w2_a"] @ state[f"{te}.hada_w2_b"]
    )
    fc1 = "text_model.encoder.layers.0.mlp.fc1.weight"
    close(applied.clip_change(1, fc1), 2.0 * (3.0 / RANK) * hada)
    close(applied.unet_change(unet), 0.5 * kron(w1, w2))
    first_encoder = applied.clip_before[0]  # CLIP-L: te2 names nothing of it
    assert all(torch.equal(v, first_encoder[k]) for k, v in applied.clip_during[0].items())
