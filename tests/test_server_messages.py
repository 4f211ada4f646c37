"""Executor events become ComfyUI's WebSocket messages with ComfyUI's payloads."""

from __future__ import annotations

import io
import struct
from typing import Any

import torch
from PIL import Image as PILImage

from apps.jobs.messages import JobMessages, preview_frame, previews_wanted, status_message
from engine.events import (
    NodeCached,
    NodeFailed,
    NodeFinished,
    NodeStarted,
    Progress,
    RunFinished,
    RunInterrupted,
    RunStarted,
)
from engine.types import Image


def record() -> tuple[JobMessages, list[Any]]:
    sent: list[Any] = []
    return JobMessages("p1", {"a": "sd.sample", "b": "image.save"}, sent.append), sent


def test_a_run_becomes_comfyui_messages_in_order() -> None:
    messages, sent = record()
    preview = Image(torch.rand(1, 16, 16, 3))
    for event in (
        RunStarted("p1", ("a", "b"), ("c",)),
        NodeCached("c"),
        NodeStarted("a", "sd.sample"),
        Progress("a", 1, 2, preview),
        NodeFinished("a", 0.1),
        NodeStarted("b", "image.save"),
        NodeFinished("b", 0.1, {"images": [{"filename": "x.png"}]}),
        RunFinished("p1", 0.2),
    ):
        messages(event)
    messages.finished()
    kinds = [m["type"] if isinstance(m, dict) else "preview" for m in sent]
    assert kinds == [
        "execution_start",
        "execution_cached",
        "executing",
        "progress",
        "preview",
        "executing",
        "executed",
        "execution_success",
        "executing",
    ]
    assert sent[1]["data"]["nodes"] == ["c"]
    assert sent[3]["data"] == {"value": 1, "max": 2, "prompt_id": "p1", "node": "a"}
    assert sent[6]["data"]["output"] == {"images": [{"filename": "x.png"}]}
    assert sent[-1]["data"] == {"node": None, "prompt_id": "p1"}
    kept = [m[0] for m in messages.history]
    assert kept == ["execution_start", "execution_cached", "execution_success"]


def test_errors_and_interrupts_name_the_node() -> None:
    messages, sent = record()
    messages(NodeFailed("a", "sd.sample", "NodeInputError", "bad size", "latent_image", "tb"))
    messages(RunInterrupted("p1", "b"))
    error, interrupted = sent[0]["data"], sent[1]["data"]
    assert error["node_id"] == "a" and error["exception_message"] == "bad size"
    assert error["input_name"] == "latent_image" and error["traceback"] == []
    assert interrupted["node_id"] == "b" and interrupted["node_type"] == "image.save"


def test_preview_frame_layout_and_status() -> None:
    frame = preview_frame(Image(torch.zeros(2, 8, 12, 3)))
    assert struct.unpack(">II", frame[:8]) == (1, 1)
    assert PILImage.open(io.BytesIO(frame[8:])).size == (12, 8)
    assert status_message(3, sid="me")["data"] == {
        "status": {"exec_info": {"queue_remaining": 3}},
        "sid": "me",
    }


def test_sampler_previews_are_left_out_unless_the_job_wants_them() -> None:
    sent: list[Any] = []
    messages = JobMessages("p1", {}, sent.append, previews=False)
    messages(Progress("a", 1, 2, Image(torch.rand(1, 8, 8, 3))))
    assert [m["type"] for m in sent] == ["progress"]


def test_save_image_websocket_frames_are_sent_even_without_previews() -> None:
    sent: list[Any] = []
    messages = JobMessages("p1", {}, sent.append, previews=False)
    messages(Progress("save", 1, 1, Image(torch.rand(1, 8, 8, 3)), preview_format="PNG"))
    assert struct.unpack(">II", sent[1][:8]) == (1, 2)


def test_frames_encoded_on_a_worker_follow_the_same_rule() -> None:
    sent: list[Any] = []
    messages = JobMessages("p1", {}, sent.append, previews=False)
    image = Image(torch.rand(1, 8, 8, 3))
    messages.frame(preview_frame(image))
    messages.frame(preview_frame(image, image_format="PNG"))
    assert [struct.unpack(">II", frame[:8]) for frame in sent] == [(1, 2)]


def test_a_prompt_asks_for_previews_or_keeps_the_server_default() -> None:
    assert not previews_wanted({}, "none")
    assert previews_wanted({}, "latent2rgb")
    assert previews_wanted({"preview_method": "auto"}, "none")
    assert not previews_wanted({"preview_method": "none"}, "auto")
    assert previews_wanted({"preview_method": "default"}, "taesd")
    assert not previews_wanted({"preview_method": "sparkles"}, "none")  # unknown: the default
