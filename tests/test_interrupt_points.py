"""Where long work looks at the interrupt flag: reading weights tensor by tensor, placing a
model module by module, every block of a network's forward pass, and pixels item by item.
Each test sets the flag of the run the thread works for and expects `Interrupted` at once
(not a CheckpointError or any other wrapping)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from engine.context import Interrupted, check_interrupt, interruptible_by
from nodes.ops.pixels import image as pixels
from nodes.ops.weights.checkpoint_io import read_state_dict, read_tensors
from nodes.ops.weights.checkpoint_write import write_safetensors
from nodes.ops.weights.interruptible import blocks, to_in_steps, watch


@pytest.fixture
def flag() -> Iterator[threading.Event]:
    event = threading.Event()
    with interruptible_by(event):
        yield event


def test_outside_a_run_the_check_does_nothing() -> None:
    check_interrupt()


def test_inside_a_run_the_check_raises_once_the_flag_is_set(flag: threading.Event) -> None:
    check_interrupt()
    flag.set()
    with pytest.raises(Interrupted):
        check_interrupt()


def test_the_flag_belongs_to_the_thread_whose_run_set_it(flag: threading.Event) -> None:
    flag.set()
    seen: list[BaseException | None] = []

    def other_thread() -> None:
        try:
            check_interrupt()
            seen.append(None)
        except Interrupted as exc:
            seen.append(exc)

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert seen == [None]


def test_reading_a_weight_file_stops_between_tensors(tmp_path: Path, flag: threading.Event) -> None:
    path = tmp_path / "weights.safetensors"
    write_safetensors(path, {f"t{i}": torch.zeros(4) for i in range(8)}, {})
    assert len(read_tensors(path, list)) == 8
    flag.set()
    with pytest.raises(Interrupted):  # not wrapped as an unreadable file
        read_tensors(path, list)
    with pytest.raises(Interrupted):
        read_state_dict(path)


def tiny_network() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))


def test_placing_a_model_stops_between_modules(flag: threading.Event) -> None:
    network = tiny_network()
    flag.set()
    with pytest.raises(Interrupted):
        to_in_steps(network, "cpu", torch.float64)
    assert next(network.parameters()).dtype == torch.float32  # stopped before the first


def test_placing_converts_every_weight_when_not_interrupted() -> None:
    network = to_in_steps(tiny_network(), "cpu", torch.float64)
    assert {p.dtype for p in network.parameters()} == {torch.float64}


def test_a_watched_network_stops_at_its_next_block(flag: threading.Event) -> None:
    network = watch(tiny_network())
    assert len(blocks(network)) == 3
    ran: list[int] = []
    network[0].register_forward_hook(lambda *_: (ran.append(0), flag.set()))
    with pytest.raises(Interrupted):
        network(torch.zeros(1, 4))
    assert ran == [0]  # the first block ran, the second did not start


def test_watching_twice_hooks_each_block_once() -> None:
    network = watch(watch(tiny_network()))
    assert all(len(block._forward_pre_hooks) == 1 for block in blocks(network))


def test_filling_a_large_image_stops_between_row_bands(flag: threading.Event) -> None:
    flag.set()
    with pytest.raises(Interrupted):
        pixels.solid(64, 64, 2, 0xFF0000)


def test_per_item_work_stops_between_images(flag: threading.Event) -> None:
    seen: list[int] = []

    def work(image: torch.Tensor) -> torch.Tensor:
        seen.append(len(seen))
        flag.set()
        return image

    with pytest.raises(Interrupted):
        pixels.per_item(torch.zeros(5, 2, 2, 3), work)
    assert seen == [0]


def test_saving_stops_between_images(tmp_path: Path, flag: threading.Event) -> None:
    flag.set()
    with pytest.raises(Interrupted):
        pixels.save_png(torch.zeros(3, 4, 4, 3), tmp_path, "x", {})
    assert list(tmp_path.glob("*.png")) == []


def test_solid_invert_and_resize_give_what_they_gave_before() -> None:
    red = pixels.solid(5, 3, 2, 0xFF0000)
    assert red.shape == (2, 3, 5, 3) and torch.equal(red[..., 0], torch.ones(2, 3, 5))
    assert torch.equal(pixels.invert(red), 1.0 - red)
    batch = torch.rand(3, 8, 8, 3)
    whole = torch.nn.functional.interpolate(
        batch.movedim(-1, 1), (4, 4), mode="bilinear", antialias=True
    )
    expected = whole.movedim(1, -1).clamp(0.0, 1.0)
    assert torch.allclose(pixels.resize(batch, 4, 4, "bilinear", "disabled"), expected)
