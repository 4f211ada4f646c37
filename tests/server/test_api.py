"""The rest of the API against a real server: ComfyUI's info routes (also under /api/),
the typed /v1 API and its OpenAPI document, workflow files, the mask upload."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator

import pytest
from PIL import Image

from apps.server.openapi import ENDPOINTS
from formats.png import OUR_CHUNK, png_info
from tests.server.harness import Server, call, make_home, multipart, toy_workflow


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(make_home(tmp_path_factory.mktemp("api"), with_models=False)).start()
    yield server
    server.stop()


def test_comfyui_info_routes_answer_at_both_prefixes(api: Server) -> None:
    for prefix in ("", "/api"):
        info = call("GET", f"{api.url}{prefix}/object_info").json()
        sampler = info["KSampler"]
        assert sampler["input"]["required"]["model"] == ["MODEL"]
        assert "euler" in sampler["input"]["required"]["sampler_name"][0]
        assert sampler["output"] == ["LATENT"] and sampler["category"] == "sampling"
        one = call("GET", f"{api.url}{prefix}/object_info/CheckpointLoaderSimple").json()
        assert one["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == []
        assert "checkpoints" in call("GET", f"{api.url}{prefix}/models").json()
        assert call("GET", f"{api.url}{prefix}/models/checkpoints").json() == []
        assert call("GET", f"{api.url}{prefix}/embeddings").json() == []
        stats = call("GET", f"{api.url}{prefix}/system_stats").json()
        assert stats["devices"][0]["type"] in ("cpu", "cuda", "mps")
        assert call("GET", f"{api.url}{prefix}/prompt").json() == {
            "exec_info": {"queue_remaining": 0}
        }
    assert call("GET", f"{api.url}/object_info/NoSuchNode").json() == {}
    assert call("GET", f"{api.url}/models/secrets").status == 404
    assert call("POST", f"{api.url}/free", {"unload_models": True}).status == 200


def test_the_openapi_document_lists_every_v1_endpoint(api: Server) -> None:
    document = call("GET", f"{api.url}/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    for method, path, *_ in ENDPOINTS:
        assert method in document["paths"][path]
    job = document["components"]["schemas"]["JobView"]
    assert "pending" in str(job["properties"]["status"])


def test_v1_refuses_a_bad_job_with_every_problem_named(api: Server) -> None:
    workflow = toy_workflow()
    workflow["nodes"]["sample"]["inputs"]["cfg"] = "lots"
    reply = call("POST", f"{api.url}/v1/jobs", {"workflow": workflow})
    assert reply.status == 400
    problems = reply.json()["problems"]
    assert {"node": "sample", "input": "cfg"} in [
        {"node": p["node"], "input": p["input"]} for p in problems
    ]
    assert call("POST", f"{api.url}/v1/jobs", {"workflow": 3}).status == 400
    assert call("GET", f"{api.url}/v1/jobs?status=sleeping").status == 400
    assert call("GET", f"{api.url}/v1/jobs").json() == {"jobs": [], "next_offset": None}
    assert call("GET", f"{api.url}/v1/jobs/nope").status == 404
    assert call("POST", f"{api.url}/v1/jobs/nope/requeue").status == 404


def test_a_requeued_job_is_checked_again_and_refused_when_its_input_is_gone(
    api: Server,
) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(picture, "PNG")
    (api.home / "input" / "gone.png").write_bytes(picture.getvalue())
    workflow = {
        "version": 1,
        "nodes": {
            "load": {"type": "image.load", "inputs": {"image": "gone.png"}},
            "save": {
                "type": "image.save",
                "inputs": {"images": {"node": "load", "output": "image"}},
            },
        },
    }
    job = call("POST", f"{api.url}/v1/jobs", {"workflow": workflow}).json()
    deadline = time.monotonic() + 60
    while call("GET", f"{api.url}/v1/jobs/{job['id']}").json()["status"] != "done":
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.05)
    (api.home / "input" / "gone.png").unlink()
    reply = call("POST", f"{api.url}/v1/jobs/{job['id']}/requeue")
    assert reply.status == 400
    assert [(p["node"], p["input"]) for p in reply.json()["problems"]] == [("load", "image")]
    assert call("GET", f"{api.url}/v1/jobs?status=pending").json()["jobs"] == []


def test_workflow_files_can_be_listed_read_saved_and_deleted(api: Server) -> None:
    listed = call("GET", f"{api.url}/v1/workflows").json()["workflows"]
    default = [w for w in listed if w["default"]]
    assert default == [{"name": "toy_txt2img.json", "source": "project", "default": True}]
    project = call("GET", f"{api.url}/v1/workflows/project/toy_txt2img.json").json()
    assert project["nodes"]["sample"]["type"] == "sd.sample"
    saved = call("PUT", f"{api.url}/v1/workflows/user/mine.json", project)
    assert saved.json() == {"name": "mine.json", "source": "user", "default": False}
    assert call("GET", f"{api.url}/v1/workflows/user/mine.json").json() == project
    assert {"name": "mine.json", "source": "user", "default": False} in call(
        "GET", f"{api.url}/v1/workflows"
    ).json()["workflows"]
    assert call("PUT", f"{api.url}/v1/workflows/project/toy_txt2img.json", project).status in (
        404,
        405,
    )
    assert call("PUT", f"{api.url}/v1/workflows/user/..%2Fescape.json", project).status in (
        400,
        404,
    )
    assert call("PUT", f"{api.url}/v1/workflows/user/notes.txt", project).status == 400
    assert call("PUT", f"{api.url}/v1/workflows/user/bad.json", {"nodes": 1}).status == 400
    assert call("DELETE", f"{api.url}/v1/workflows/user/mine.json").status == 200
    assert call("GET", f"{api.url}/v1/workflows/user/mine.json").status == 404


def test_a_mask_upload_becomes_the_alpha_of_the_original(api: Server) -> None:
    def png(mode: str, colour: object) -> bytes:
        buffer = io.BytesIO()
        Image.new(mode, (8, 8), colour).save(buffer, format="PNG")  # type: ignore[arg-type]
        return buffer.getvalue()

    (api.home / "input" / "photo.png").write_bytes(png("RGB", (10, 200, 10)))
    body, kind = multipart(
        {"original_ref": '{"filename": "photo.png", "subfolder": "", "type": "input"}'},
        {"image": ("photo_mask.png", png("RGBA", (0, 0, 0, 40)))},
    )
    reply = call("POST", f"{api.url}/upload/mask", data=body, headers={"Content-Type": kind})
    assert reply.status == 200, reply.text
    merged = Image.open(api.home / "input" / reply.json()["name"])
    assert merged.mode == "RGBA" and merged.getpixel((3, 3)) == (10, 200, 10, 40)


def test_import_reads_every_format_a_user_may_have_into_our_document(api: Server) -> None:
    ours = toy_workflow()
    assert call("POST", f"{api.url}/v1/workflows/import", ours).json()["nodes"] == ours["nodes"]
    comfy = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}},
    }
    imported = call("POST", f"{api.url}/v1/workflows/import", comfy).json()
    assert imported["nodes"]["2"]["inputs"]["images"] == {"node": "1", "output": "image"}
    buffer = io.BytesIO()
    info = png_info({OUR_CHUNK: json.dumps(ours)})
    Image.new("RGB", (8, 8)).save(buffer, format="PNG", pnginfo=info)
    headers = {"Content-Type": "image/png"}
    from_png = call(
        "POST", f"{api.url}/v1/workflows/import", data=buffer.getvalue(), headers=headers
    )
    assert from_png.status == 200 and from_png.json()["nodes"] == ours["nodes"]
    bare = io.BytesIO()
    Image.new("RGB", (8, 8)).save(bare, format="PNG")
    refused = call("POST", f"{api.url}/v1/workflows/import", data=bare.getvalue(), headers=headers)
    assert refused.status == 400 and "carries no workflow" in refused.json()["error"]
    garbage = call("POST", f"{api.url}/v1/workflows/import", data=b"\x00\x01 nonsense")
    assert garbage.status == 400 and "neither a PNG nor JSON" in garbage.json()["error"]
