"""Files the ComfyUI way, against a real server: names annotated with their folder
(`x.png [output]`) in Load Image and /view, uploads that reuse the name of identical bytes,
/view's preview= and channel=, /view_metadata, and model folders linked in from elsewhere."""

from __future__ import annotations

import io
import json
import struct
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.server.harness import Reply, Server, call, make_home
from tests.server.test_security import assert_client_error, upload

SECRET = b"canary: never served"


def picture(mode: str, colour: Any, size: tuple[int, int] = (6, 4)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def safetensors(metadata: dict[str, str] | None) -> bytes:
    header: dict[str, Any] = {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"\0\0\0\0"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose models/loras holds a file, a file linked in from another disk and a
    folder linked in; a canary beside the home; pictures in output/ and temp/."""
    root = tmp_path_factory.mktemp("files")
    other_disk = root / "other-disk"
    (other_disk / "styles").mkdir(parents=True)
    (other_disk / "shared.safetensors").write_bytes(safetensors({"ss_output_name": "shared"}))
    (other_disk / "styles" / "ink.safetensors").write_bytes(safetensors({"trigger": "ink"}))
    (root / "secret.png").write_bytes(SECRET)
    home = make_home(root / "home", with_models=False)
    loras = home / "models" / "loras"
    loras.mkdir(parents=True)
    (loras / "plain.safetensors").write_bytes(safetensors(None))
    (loras / "linked.safetensors").symlink_to(other_disk / "shared.safetensors")
    (loras / "styles").symlink_to(other_disk / "styles", target_is_directory=True)
    (home / "models" / "unet").mkdir()
    (home / "models" / "unet" / "flux.safetensors").write_bytes(safetensors({"arch": "flux"}))
    (home / "output" / "result.png").write_bytes(picture("RGBA", (10, 200, 30, 64)))
    (home / "temp" / "preview.png").write_bytes(picture("RGB", (250, 250, 250)))
    (home / "output" / "page.html").write_text("<script>alert(1)</script>")
    return home


@pytest.fixture(scope="module")
def files(home: Path) -> Iterator[Server]:
    running = Server(home).start()
    yield running
    running.stop()


def get(server: Server, path: str, **query: str) -> Reply:
    return call("GET", f"{server.url}{path}?{urllib.parse.urlencode(query)}")


def decoded(reply: Reply) -> Image.Image:
    assert reply.status == 200, reply.text
    return Image.open(io.BytesIO(reply.body))


def queue(server: Server, prompt: dict[str, Any]) -> Reply:
    return call("POST", f"{server.url}/prompt", {"prompt": prompt})


def finished(server: Server, prompt_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        history = call("GET", f"{server.url}/history/{prompt_id}").json()
        if prompt_id in history:
            return history[prompt_id]
        time.sleep(0.1)
    raise AssertionError(f"job {prompt_id} did not finish")


def load_and_save(image: str, loader: str = "LoadImage") -> dict[str, Any]:
    output = [["1", 0]] if loader == "LoadImage" else None
    prompt: dict[str, Any] = {"1": {"class_type": loader, "inputs": {"image": image}}}
    if output is None:  # a mask: shown through Mask To Image
        prompt["3"] = {"class_type": "MaskToImage", "inputs": {"mask": ["1", 0]}}
        output = [["3", 0]]
    prompt["2"] = {
        "class_type": "SaveImage",
        "inputs": {"images": output[0], "filename_prefix": "loaded"},
    }
    return prompt


def test_load_image_reads_a_name_annotated_with_the_output_folder(files: Server) -> None:
    reply = queue(files, load_and_save("result.png [output]"))
    assert reply.status == 200, reply.text
    job = finished(files, reply.json()["prompt_id"])
    assert job["status"]["status_str"] == "success", job["status"]
    saved = job["outputs"]["2"]["images"][0]
    pixel = decoded(get(files, "/view", **saved)).getpixel((0, 0))
    assert pixel == (10, 200, 30)


def test_load_image_as_mask_reads_a_name_annotated_with_the_temp_folder(files: Server) -> None:
    reply = queue(files, load_and_save("preview.png [temp]", loader="LoadImageMask"))
    assert reply.status == 200, reply.text
    job = finished(files, reply.json()["prompt_id"])
    assert job["status"]["status_str"] == "success", job["status"]


def test_an_annotated_name_never_reaches_outside_its_folder(files: Server) -> None:
    for name in ("../secret.png [output]", "../../secret.png [input]", "/etc/passwd [temp]"):
        body = assert_client_error(queue(files, load_and_save(name)), 400)
        error = body["node_errors"]["1"]["errors"][0]
        assert error["extra_info"]["input_name"] == "image"
        assert "inside its folder" in error["details"] or "not a relative" in error["details"]


def test_an_annotated_name_of_a_missing_file_is_refused_naming_node_and_input(
    files: Server,
) -> None:
    body = assert_client_error(queue(files, load_and_save("absent.png [output]")), 400)
    error = body["node_errors"]["1"]["errors"][0]
    assert error["extra_info"]["input_name"] == "image"
    assert "no image 'absent.png' in the output folder" in error["details"]


def test_view_takes_the_folder_from_the_annotation_over_type(files: Server, home: Path) -> None:
    reply = get(files, "/view", filename="preview.png [temp]", type="output")
    assert reply.body == (home / "temp" / "preview.png").read_bytes()
    assert reply.headers["Content-Disposition"] == 'filename="preview.png"'


def test_view_refuses_an_annotated_name_that_leaves_its_folder(files: Server) -> None:
    for name in ("../secret.png [output]", "..%2Fsecret.png [temp]", "/secret.png [input]"):
        reply = get(files, "/view", filename=name)
        assert reply.status in (400, 404) and SECRET not in reply.body


def test_view_serves_pages_written_into_a_folder_as_downloads(files: Server) -> None:
    reply = get(files, "/view", filename="page.html")
    assert reply.status == 200 and reply.headers["Content-Type"] == "application/octet-stream"


def test_reuploading_identical_bytes_answers_the_same_name(files: Server, home: Path) -> None:
    content = picture("RGB", (1, 2, 3))
    first = upload(files, "same.png", content).json()
    again = upload(files, "same.png", content).json()
    assert first == again == {"name": "same.png", "subfolder": "", "type": "input"}
    assert sorted(p.name for p in (home / "input").glob("same*")) == ["same.png"]


def test_different_bytes_under_a_taken_name_are_numbered_and_then_reused(files: Server) -> None:
    upload(files, "clash.png", picture("RGB", (1, 1, 1)))
    second = picture("RGB", (2, 2, 2))
    assert upload(files, "clash.png", second).json()["name"] == "clash (1).png"
    assert upload(files, "clash.png", second).json()["name"] == "clash (1).png"
    third = upload(files, "clash.png", picture("RGB", (3, 3, 3))).json()
    assert third["name"] == "clash (2).png"


def test_overwrite_replaces_the_file_under_its_own_name(files: Server, home: Path) -> None:
    upload(files, "over.png", picture("RGB", (1, 1, 1)))
    replacement = picture("RGB", (9, 9, 9))
    assert upload(files, "over.png", replacement, overwrite="true").json()["name"] == "over.png"
    assert (home / "input" / "over.png").read_bytes() == replacement


@pytest.mark.parametrize(
    ("preview", "content_type", "pil_format"),
    [
        ("webp;50", "image/webp", "WEBP"),
        ("jpeg;75", "image/jpeg", "JPEG"),
        ("gif", "image/webp", "WEBP"),
    ],
)
def test_view_preview_reencodes_in_the_format_asked(
    files: Server, preview: str, content_type: str, pil_format: str
) -> None:
    reply = get(files, "/view", filename="result.png", preview=preview)
    assert reply.headers["Content-Type"] == content_type
    image = decoded(reply)
    assert image.format == pil_format and image.size == (6, 4)


def test_view_preview_quality_changes_the_bytes(files: Server) -> None:
    sizes = {
        q: len(get(files, "/view", filename="result.png", preview=f"jpeg;{q}").body)
        for q in (5, 95)
    }
    assert sizes[5] < sizes[95]


def test_view_channel_rgb_drops_the_alpha(files: Server) -> None:
    image = decoded(get(files, "/view", filename="result.png", channel="rgb"))
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (10, 200, 30)


def test_view_channel_a_gives_the_alpha_on_black(files: Server) -> None:
    image = decoded(get(files, "/view", filename="result.png", channel="a"))
    assert image.mode == "RGBA" and image.getpixel((0, 0)) == (0, 0, 0, 64)
    opaque = decoded(get(files, "/view", filename="preview.png", type="temp", channel="a"))
    assert opaque.getpixel((0, 0)) == (0, 0, 0, 255)


def test_view_refuses_an_unknown_channel_or_a_preview_of_a_non_image(files: Server) -> None:
    assert_client_error(get(files, "/view", filename="result.png", channel="b"), 400, "channel")
    assert_client_error(get(files, "/view", filename="page.html", preview="webp"), 400, "image")
    assert_client_error(
        get(files, "/view", filename="result.png", preview="webp;101"), 400, "quality"
    )


def test_model_files_and_folders_linked_in_are_listed(files: Server) -> None:
    listed = call("GET", f"{files.url}/models/loras").json()
    assert listed == ["linked.safetensors", "plain.safetensors", "styles/ink.safetensors"]


def test_view_metadata_answers_the_safetensors_metadata_of_listed_models(files: Server) -> None:
    for name, metadata in (
        ("linked.safetensors", {"ss_output_name": "shared"}),
        ("styles/ink.safetensors", {"trigger": "ink"}),
    ):
        reply = get(files, "/view_metadata/loras", filename=name)
        assert reply.status == 200 and reply.json() == metadata
    unet = get(files, "/api/view_metadata/unet", filename="flux.safetensors")  # ComfyUI's name
    assert unet.json() == {"arch": "flux"}


@pytest.mark.parametrize(
    ("folder", "filename"),
    [
        ("loras", "plain.safetensors"),  # no metadata
        ("loras", "absent.safetensors"),
        ("loras", "../../../secret.png"),
        ("loras", "../other-disk/shared.safetensors"),  # real, but not through the listing
        ("loras", "plain.ckpt"),
        ("hypernetworks", "plain.safetensors"),
    ],
)
def test_view_metadata_is_a_404_for_anything_else(
    files: Server, folder: str, filename: str
) -> None:
    reply = get(files, f"/view_metadata/{folder}", filename=filename)
    assert_client_error(reply, 404)
    assert SECRET not in reply.body
