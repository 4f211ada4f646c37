"""The side-by-side harness against ComfyUI, in the parts that need no ComfyUI: the random
checkpoint maker, the graph both servers are sent, the phases read from WebSocket messages
and the ratio summary (bench/make_random_checkpoint.py, bench/side_by_side.py,
bench/vs_comfyui.py)."""

from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from bench import make_random_checkpoint as maker
from bench import side_by_side as sbs
from bench import vs_comfyui
from engine.registry import Registry
from engine.settings import Settings
from formats.load import load_document
from nodes.ops.families.sd.detect import detect_state_dict
from nodes.ops.families.sd.saving import to_single_file
from tests.sd import tiny


def tiny_configs(family: str) -> maker.Configs:
    configs: maker.Configs = {"unet": tiny.unet_config(family), "vae": dict(tiny.VAE_CONFIG)}
    configs["text_encoder"] = tiny.text_config().to_dict()
    if family == "sdxl":
        configs["text_encoder_2"] = tiny.text_config("gelu").to_dict()
    return configs


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_the_full_size_layout_is_the_published_one(family: str) -> None:
    # Shapes only (meta tensors): the layout our loader and ComfyUI's recognise by key names.
    state = maker.random_checkpoint(family, torch.float16, device="meta")
    found = detect_state_dict(state)
    assert found.family == family and found.has_vae and found.has_text_encoders
    assert found.context_dim == {"sd1": 768, "sdxl": 2048}[family]
    unet_params = sum(v.numel() for k, v in state.items() if k.startswith("model.diffusion_model."))
    assert unet_params == {"sd1": 859_520_964, "sdxl": 2_567_463_684}[family]


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_a_random_checkpoint_has_the_save_checkpoint_keys_in_the_asked_dtype(family: str) -> None:
    configs = tiny_configs(family)
    state = maker.random_checkpoint(family, torch.bfloat16, seed=5, configs=configs)
    models_keys = to_single_file(
        family,  # type: ignore[arg-type]
        tiny.unet(family).state_dict(),
        configs["unet"],
        tiny.vae().state_dict(),
        {
            name: model.state_dict()
            for name, model in zip(
                maker.ROLES[family], tiny.text_encoders(family).values(), strict=True
            )
        },
    )
    assert set(state) == set(models_keys)
    assert {v.dtype for v in state.values()} == {torch.bfloat16}
    assert all(torch.isfinite(v.float()).all() for v in state.values())
    again = maker.random_checkpoint(family, torch.bfloat16, seed=5, configs=configs)
    assert all(torch.equal(state[k], again[k]) for k in state), "a seed gives the same file"


def test_weights_keep_activations_of_order_one() -> None:
    state = maker.random_state("vae", dict(tiny.VAE_CONFIG), torch.float32, seed=0)
    conv = state["decoder.conv_in.weight"]
    fan_in = conv.shape[1] * conv.shape[2] * conv.shape[3]
    assert conv.std().item() == pytest.approx(fan_in**-0.5, rel=0.2)
    assert torch.all(state["decoder.conv_norm_out.weight"] == 1)
    assert torch.all(state["decoder.conv_norm_out.bias"] == 0)


def test_the_command_writes_a_plain_community_style_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maker, "shipped_configs", tiny_configs)
    path = tmp_path / "ckpt" / "tiny.safetensors"
    assert maker.main(["sd15", str(path), "--dtype", "fp16"]) == 0
    with safe_open(str(path), "pt") as f:
        assert f.metadata() == {"format": "pt"}  # no configs: found by key names, as any file
        assert f.get_tensor("first_stage_model.decoder.conv_in.weight").dtype == torch.float16
    with pytest.raises(FileExistsError):
        maker.main(["sd15", str(path)])


def test_the_graph_is_comfyuis_default_and_ours_accepts_it(
    tmp_path: Path, sd_registry: Registry, sd_settings: Settings
) -> None:
    graph = sbs.default_graph("tiny_sd1.safetensors", size=64, steps=3, seed=7)
    assert {n: v["class_type"] for n, v in graph.items()} == {
        "3": "KSampler",
        "4": "CheckpointLoaderSimple",
        "5": "EmptyLatentImage",
        "6": "CLIPTextEncode",
        "7": "CLIPTextEncode",
        "8": "VAEDecode",
        "9": "SaveImage",
    }
    assert graph["3"]["inputs"]["steps"] == 3 and graph["5"]["inputs"]["width"] == 64
    path = tmp_path / "api.json"
    path.write_text(json.dumps(graph))
    workflow = load_document(str(path), sd_registry, sd_settings)
    assert len(workflow.nodes) == 7


def messages(steps: int, start: float = 10.0) -> list[sbs.Message]:
    """A run as a server reports it: loader 4 s, encodes, sampler steps 1 s apart (the first
    2 s), decode 0.5 s, save; times as the client stamps them."""

    def executing(t: float, node: str | None) -> sbs.Message:
        return t, {"type": "executing", "data": {"node": node, "prompt_id": "p"}}

    out = [executing(start, "4"), executing(start + 4, "6"), executing(start + 4.1, "7")]
    t = start + 4.2
    out.append(executing(t, "3"))
    for i in range(steps):
        t += 2.0 if i == 0 else 1.0
        out.append((t, {"type": "progress", "data": {"value": i + 1, "max": steps, "node": "3"}}))
    out += [executing(t, "8"), executing(t + 0.5, "9")]
    out.append((t + 0.6, {"type": "executed", "data": {"node": "9", "output": {}}}))
    out.append(executing(t + 0.6, None))
    return out


def test_phases_are_read_from_the_message_stamps() -> None:
    run = sbs.run_times(messages(4), started=0.0, ready=3.0, rss_mb=100.0)
    assert run.first_image == pytest.approx(19.8)  # start 10, loader 4, encodes, steps 5, decode
    assert dataclasses.replace(run, first_image=0.0) == sbs.RunTimes(
        ready=3.0,
        loader=4.0,
        first_step=2.0,
        step=1.0,
        decode=0.5,
        first_image=0.0,
        peak_rss_mb=100.0,
    )
    assert sbs.step_times(messages(3)) == pytest.approx([2.0, 1.0, 1.0])


def test_a_run_missing_a_phase_is_an_error_not_a_zero() -> None:
    broken = [m for m in messages(2) if m[1]["type"] != "executed"]
    with pytest.raises(ValueError, match="save node"):
        sbs.run_times(broken, 0.0, 1.0, 1.0)


def times(scale: float) -> sbs.RunTimes:
    return sbs.RunTimes(*(scale * v for v in (1, 2, 3, 4, 5, 6, 7)))


def test_ratios_pair_run_i_with_run_i() -> None:
    ours, theirs = [times(1), times(2), times(3)], [times(2), times(2), times(2)]
    rows = {r["metric"]: r for r in sbs.ratio_summary(ours, theirs)}
    assert set(rows) == set(sbs.RunTimes.METRICS)
    step: dict[str, Any] = rows["step"]
    assert step["ratio_min"] == 0.5 and step["ratio_median"] == 1.0
    assert step["diffgraph"] == statistics.median([4, 8, 12]) and step["comfyui"] == 8
    table = sbs.markdown(list(rows.values()), pairs=3)
    assert "| step | 8.000 s | 8.000 s | 0.50 | 1.00 |" in table
    with pytest.raises(ValueError, match="paired"):
        sbs.ratio_summary(ours, theirs[:2])


def test_without_a_comfyui_it_skips_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert vs_comfyui.main([]) == 0
    assert "skipped" in capsys.readouterr().out


def test_comfyui_is_pointed_at_the_same_checkpoint_folder(tmp_path: Path) -> None:
    args = vs_comfyui.parse(
        ["--comfyui", "/c", "--comfyui-python", "/v/bin/python", "--models-dir", "/m"]
    )
    theirs = vs_comfyui.comfyui_command(args, 8000, tmp_path)
    ours = vs_comfyui.diffgraph_command(args, 8001, tmp_path)
    assert "base_path: /m" in (tmp_path / "extra_model_paths.yaml").read_text()
    assert {"--cpu", "--disable-all-custom-nodes"} <= set(theirs)
    assert ours[0] == "/v/bin/diffgraph" and ours[ours.index("--models-dir") + 1] == "/m"
    assert ours[ours.index("--threads") + 1] == "2"
