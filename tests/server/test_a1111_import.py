"""The editor's import route given a PNG made by A1111: its settings rebuilt as a workflow,
matched against the server's own model folders, and odd settings never a 500."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image as PILImage

from formats.png import png_info
from tests.server.conftest import needs_toy_model
from tests.server.harness import Server, call, make_home


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(make_home(tmp_path_factory.mktemp("a1111"))).start()
    yield running
    running.stop()


def import_png(server: Server, parameters: str) -> Any:
    buffer = io.BytesIO()
    PILImage.new("RGB", (8, 8)).save(
        buffer, format="PNG", pnginfo=png_info({"parameters": parameters})
    )
    headers = {"Content-Type": "image/png"}
    return call(
        "POST", f"{server.url}/v1/workflows/import", data=buffer.getvalue(), headers=headers
    )


@needs_toy_model
def test_the_model_is_matched_against_the_servers_checkpoints(server: Server) -> None:
    reply = import_png(
        server,
        "a red circle\nSteps: 4, Sampler: Euler a, CFG scale: 7, Seed: 3, Size: 64x64, "
        "Model: DIFFGRAPH-TOY, ENSD: 31337",
    )
    assert reply.status == 200, reply.text
    document = reply.json()
    [loader] = [n for n in document["nodes"].values() if n["type"] == "sd.load_checkpoint"]
    assert loader["inputs"]["ckpt_name"] == "diffgraph-toy.safetensors"
    assert document["meta"]["import_notes"] == [
        {"setting": "ENSD", "value": "31337", "note": "not reproduced by this workflow"}
    ]


def test_settings_that_make_no_sense_are_notes_not_errors(server: Server) -> None:
    reply = import_png(server, 'a cat\nSteps: lots, Size: big, Seed: "unclosed, CFG scale: x')
    assert reply.status == 200, reply.text
    notes = {note["setting"] for note in reply.json()["meta"]["import_notes"]}
    assert {"Steps", "Size", "CFG scale"} <= notes


def test_an_oversized_parameters_chunk_is_refused_with_a_reason(server: Server) -> None:
    reply = import_png(server, "<lora:x:1> " * 20_000)
    assert reply.status == 400
    assert "'parameters' chunk holds 220,000 characters" in reply.json()["error"]
