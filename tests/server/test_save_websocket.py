"""Save Image (WebSocket) against a real `diffgraph serve`: the images reach the client that
queued the prompt as ComfyUI's binary frames, read the way ComfyUI's own example client
(websockets_api_example_ws_images.py) reads them."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.server.harness import Listener, Server, call, make_home

pytestmark = pytest.mark.slow  # starts a server (a few seconds)

PROMPT = {
    "3": {
        "class_type": "EmptyImage",
        "inputs": {"width": 24, "height": 16, "batch_size": 2, "color": 0x10C040},
    },
    "save_image_websocket_node": {
        "class_type": "SaveImageWebsocket",
        "inputs": {"images": ["3", 0]},
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(make_home(Path(tmp_path_factory.mktemp("home")), with_models=False)).start()
    yield running
    running.stop()


def images_as_comfyui_example_reads_them(listener: Listener, prompt_id: str) -> list[bytes]:
    """Binary frames that arrive while the node runs, each minus its 8-byte header."""
    listener.wait_done(prompt_id)
    images, current = [], None
    for item in list(listener.messages):
        if isinstance(item, dict):
            data = item["data"]
            if item["type"] == "executing" and data.get("prompt_id") == prompt_id:
                current = data["node"]
        elif current == "save_image_websocket_node":
            assert struct.unpack(">II", item[:8]) == (1, 2)  # preview image, format PNG
            images.append(item[8:])
    return images


def test_images_reach_the_queuing_client_as_png_frames(server: Server) -> None:
    listener, bystander = Listener(server), Listener(server)
    try:
        body = {"prompt": PROMPT, "client_id": listener.client_id}
        reply = call("POST", f"{server.url}/prompt", body)
        assert reply.status == 200, reply.text
        images = images_as_comfyui_example_reads_them(listener, reply.json()["prompt_id"])
    finally:
        listener.close()
        bystander.close()
    assert len(images) == 2
    for data in images:
        picture = Image.open(io.BytesIO(data))
        assert picture.format == "PNG" and picture.size == (24, 16)
        assert picture.convert("RGB").getpixel((0, 0)) == (0x10, 0xC0, 0x40)
    assert not any(isinstance(m, bytes) for m in bystander.messages)
