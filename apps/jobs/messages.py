"""Executor events -> ComfyUI's WebSocket messages, so existing clients follow our runs.

Message names and payloads are ComfyUI's: execution_start, execution_cached, executing,
progress, executed, execution_error, execution_interrupted, execution_success, and the
binary preview frame (4-byte big-endian event type 1, 4-byte image format 1=JPEG or 2=PNG,
the image's bytes). A job ends with `executing` for node null, which clients wait for.

A sampler's JPEG previews go out only when the job asked for them (`extra_data.preview_method`,
else the server's `--preview-method`, "none" as in ComfyUI): API clients take every binary
frame for a result image. Save Image (WebSocket)'s PNG frames are results: always sent.
"""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Callable
from typing import Any

from engine.events import (
    Event,
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

PREVIEW_IMAGE, JPEG, PNG = 1, 1, 2
# What ComfyUI keeps in a history entry's status messages.
HISTORY_MESSAGES = {
    "execution_start",
    "execution_cached",
    "execution_error",
    "execution_interrupted",
    "execution_success",
}

Send = Callable[[dict[str, Any] | bytes], None]
# ComfyUI's --preview-method values. We have one previewer, the latent -> RGB map: "auto"
# picks it, as ComfyUI's does, and "taesd" falls back to it, as ComfyUI's does without the
# TAESD decoder file.
PREVIEW_METHODS = ("none", "auto", "latent2rgb", "taesd")
SERVER_DEFAULT = "default"  # what a prompt sends to keep the server's choice


def previews_wanted(extra_data: dict[str, Any] | None, server_method: str) -> bool:
    """Whether a job's sampler previews are sent: its own `preview_method` when it gives a
    known one, else the server's."""
    asked = (extra_data or {}).get("preview_method", SERVER_DEFAULT)
    method = asked if asked in PREVIEW_METHODS else server_method
    return method != "none"


def message(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "data": data}


def status_message(queue_remaining: int, sid: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"status": {"exec_info": {"queue_remaining": queue_remaining}}}
    if sid is not None:
        data["sid"] = sid
    return message("status", data)


def preview_jpeg(image: Image, quality: int = 85) -> bytes:
    """The first image of the batch as JPEG bytes."""
    from PIL import Image as PILImage

    pixels = image.pixels[0].clamp(0, 1).mul(255).round().byte().cpu().numpy()
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def jpeg_frame(jpeg: bytes) -> bytes:
    """JPEG bytes as ComfyUI's binary preview frame."""
    return struct.pack(">II", PREVIEW_IMAGE, JPEG) + jpeg


def preview_png(image: Image) -> bytes:
    """The first image of the batch as PNG bytes (fast compression, as ComfyUI sends)."""
    from PIL import Image as PILImage

    pixels = image.pixels[0].clamp(0, 1).mul(255).round().byte().cpu().numpy()
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def preview_frame(image: Image, quality: int = 85, image_format: str = "JPEG") -> bytes:
    """The first image of the batch as ComfyUI's binary preview frame (JPEG or PNG)."""
    if image_format == "PNG":
        return struct.pack(">II", PREVIEW_IMAGE, PNG) + preview_png(image)
    return jpeg_frame(preview_jpeg(image, quality))


class JobMessages:
    """The listener for one job: sends each event as ComfyUI messages and keeps the
    messages a history entry carries."""

    def __init__(
        self,
        prompt_id: str,
        node_types: dict[str, str],
        send: Send,
        previews: bool = True,
        broadcast: Send | None = None,
    ) -> None:
        self.prompt_id = prompt_id
        self.node_types = node_types  # node id -> type id, for error payloads
        self.history: list[list[Any]] = []
        self.executed: list[str] = []
        self.previews = previews  # a sampler's JPEG frames; PNG results go out regardless
        self._send = send
        self._broadcast = broadcast  # to every client: the queue's `status`

    def __call__(self, event: Event) -> None:
        for item in self._translate(event):
            if isinstance(item, dict) and item["type"] in HISTORY_MESSAGES:
                self.history.append([item["type"], item["data"]])
            self._send(item)

    def frame(self, frame: bytes) -> None:
        """A binary frame encoded elsewhere (a Ray worker): sent unless it is a preview the
        job did not ask for."""
        if self.previews or frame[4:8] != struct.pack(">I", JPEG):
            self._send(frame)

    def finished(self, queue_remaining: int | None = None) -> None:
        """Every job ends with this, whatever happened: the queue's new length to everyone
        (when known), then `executing` with node null to the job's client."""
        if self._broadcast is not None and queue_remaining is not None:
            self._broadcast(status_message(queue_remaining))
        self._send(message("executing", {"node": None, "prompt_id": self.prompt_id}))

    def invalid(self, node: str | None, text: str) -> None:
        """The graph no longer validates when its turn came (e.g. a model file was removed)."""
        self(NodeFailed(node or "", self.node_types.get(node or "", ""), "InvalidWorkflow", text))

    def _translate(self, event: Event) -> list[dict[str, Any] | bytes]:
        pid = self.prompt_id
        stamp = int(time.time() * 1000)
        if isinstance(event, RunStarted):
            return [
                message("execution_start", {"prompt_id": pid, "timestamp": stamp}),
                message(
                    "execution_cached",
                    {"nodes": list(event.cached), "prompt_id": pid, "timestamp": stamp},
                ),
            ]
        if isinstance(event, NodeCached):
            self.executed.append(event.node)
            return [self._executed(event.node, event.ui)] if event.ui else []
        if isinstance(event, NodeStarted):
            node = {"node": event.node, "display_node": event.node, "prompt_id": pid}
            return [message("executing", node)]
        if isinstance(event, Progress):
            step = {"value": event.step, "max": event.total, "prompt_id": pid, "node": event.node}
            out: list[dict[str, Any] | bytes] = [message("progress", step)]
            if event.preview is not None and (self.previews or event.preview_format == "PNG"):
                out.append(preview_frame(event.preview, image_format=event.preview_format))
            return out
        if isinstance(event, NodeFinished):
            self.executed.append(event.node)
            return [self._executed(event.node, event.ui)] if event.ui else []
        if isinstance(event, NodeFailed):
            return [message("execution_error", self._error(event, stamp))]
        if isinstance(event, RunInterrupted):
            data = {
                "prompt_id": pid,
                "node_id": event.node,
                "node_type": self.node_types.get(event.node or ""),
                "executed": list(self.executed),
                "timestamp": stamp,
            }
            return [message("execution_interrupted", data)]
        if isinstance(event, RunFinished):
            return [message("execution_success", {"prompt_id": pid, "timestamp": stamp})]
        return []

    def _executed(self, node: str, ui: Any) -> dict[str, Any]:
        data = {"node": node, "display_node": node, "output": dict(ui), "prompt_id": self.prompt_id}
        return message("executed", data)

    def _error(self, event: NodeFailed, stamp: int) -> dict[str, Any]:
        return {
            "prompt_id": self.prompt_id,
            "node_id": event.node,
            "node_type": event.type,
            "executed": list(self.executed),
            "exception_message": event.message,
            "exception_type": event.exception,
            "input_name": event.input,
            # A user's mistake (an input named) gets its sentence, not a traceback.
            "traceback": event.traceback.splitlines() if event.input is None else [],
            "current_inputs": {},
            "current_outputs": {},
            "timestamp": stamp,
        }
