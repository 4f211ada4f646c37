"""Textual-inversion files in the layouts their tools write, read without running code."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from nodes.ops.text.embeddings import read_embedding, vectors_for
from nodes.ops.weights.checkpoint_io import CheckpointError

VECTORS = torch.randn(3, 768, generator=torch.Generator().manual_seed(0))


def a1111_pt(path: Path, vectors: torch.Tensor, legacy: bool = False) -> Path:
    """What A1111's Embedding.save writes: torch.save of this dict (the vector still
    requires grad, as after training)."""
    data = {
        "string_to_token": {"*": 265},
        "string_to_param": {"*": vectors.clone().requires_grad_(True)},
        "name": path.stem,
        "step": 1500,
        "sd_checkpoint": "a9263745",
        "sd_checkpoint_name": "v1-5-pruned-emaonly",
    }
    torch.save(data, path, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_an_a1111_pt_file_gives_its_vectors(tmp_path: Path, legacy: bool) -> None:
    found = read_embedding(a1111_pt(tmp_path / "style.pt", VECTORS, legacy))
    assert list(found) == ["string_to_param.*"]
    assert torch.equal(found["string_to_param.*"], VECTORS)
    assert not found["string_to_param.*"].requires_grad


def test_an_a1111_safetensors_file_gives_its_vectors(tmp_path: Path) -> None:
    save_file({"emb_params": VECTORS}, str(tmp_path / "style.safetensors"))
    assert torch.equal(read_embedding(tmp_path / "style.safetensors")["emb_params"], VECTORS)


def test_a_diffusers_learned_embeds_bin_gives_one_vector(tmp_path: Path) -> None:
    torch.save({"<cat-toy>": VECTORS[0]}, tmp_path / "learned_embeds.bin")
    found = read_embedding(tmp_path / "learned_embeds.bin")
    assert found["<cat-toy>"].shape == (1, 768)


def test_sdxl_files_give_each_encoder_its_own_set(tmp_path: Path) -> None:
    big_g = torch.randn(3, 1280)
    save_file({"clip_l": VECTORS, "clip_g": big_g}, str(tmp_path / "xl.safetensors"))
    found = read_embedding(tmp_path / "xl.safetensors")
    assert torch.equal(vectors_for("xl", "clip_l", 768, lambda _: found), VECTORS)
    assert torch.equal(vectors_for("xl", "clip_g", 1280, lambda _: found), big_g)


def test_sdxl_sets_are_told_apart_by_name_when_widths_match(tmp_path: Path) -> None:
    other = torch.randn(3, 768)
    found = {"clip_g": other, "clip_l": VECTORS}
    assert torch.equal(vectors_for("xl", "clip_l", 768, lambda _: found), VECTORS)
    assert torch.equal(vectors_for("xl", "clip_g", 768, lambda _: found), other)


def test_an_embedding_of_another_width_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'style' has no vectors of width 1024 for clip_h"):
        vectors_for("style", "clip_h", 1024, lambda _: {"emb_params": VECTORS})


def test_the_original_textual_inversion_parameter_dict_gives_its_vectors(tmp_path: Path) -> None:
    # The original textual_inversion code saved string_to_param as a ParameterDict (a
    # module); an inert stand-in takes its tensors without running its code.
    params = torch.nn.ParameterDict({"*": torch.nn.Parameter(VECTORS.clone())})
    torch.save({"string_to_token": {"*": 265}, "string_to_param": params}, tmp_path / "old.pt")
    found = read_embedding(tmp_path / "old.pt")
    assert list(found) == ["string_to_param.*"] and torch.equal(found["string_to_param.*"], VECTORS)


def test_a_file_that_needs_full_unpickling_is_refused_with_a_sentence(tmp_path: Path) -> None:
    torch.save({"string_to_param": torch.nn.Linear(768, 2)}, tmp_path / "module.pt")
    with pytest.raises(CheckpointError, match="needs unpickling arbitrary code") as caught:
        read_embedding(tmp_path / "module.pt")
    assert "Linear" in str(caught.value) and "module.pt" in str(caught.value)


class _RunsCode:
    """Unpickling this would create the marker file: code run by loading."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_a_pickle_that_would_run_code_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    torch.save({"string_to_param": {"*": _RunsCode(marker)}}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refuses"):
        read_embedding(tmp_path / "evil.pt")
    assert not marker.exists()


def test_a_file_without_vectors_is_refused_with_a_sentence(tmp_path: Path) -> None:
    torch.save({"name": "empty", "step": 3}, tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="no embedding vectors"):
        read_embedding(tmp_path / "empty.pt")
