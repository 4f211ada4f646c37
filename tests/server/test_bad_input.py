"""What a careless or hostile client sends gets a 400 that names what is wrong (the node
and input where there is one), never a 500; NaN never gets in, so it never comes out; and
names stay inside their folders, even "." and "..", even through symlink loops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.server.harness import Reply, Server, call, multipart, toy_workflow
from tests.server.test_security import assert_client_error, png, upload

JSON_HEADERS = {"Content-Type": "application/json"}


def post_raw(server: Server, path: str, body: bytes) -> Reply:
    return call("POST", server.url + path, data=body, headers=JSON_HEADERS)


def strict_json(reply: Reply) -> object:
    """The body as JSON by the grammar: a bare NaN or Infinity fails."""

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in {reply.text[:200]}")

    return json.loads(reply.body, parse_constant=refuse)


def test_an_unreadable_document_to_v1_jobs_is_a_400_listing_the_problem(server: Server) -> None:
    body = assert_client_error(
        call("POST", f"{server.url}/v1/jobs", {"workflow": {"nodes": 3}}), 400, "nodes"
    )
    assert body["problems"][0]["code"] == "invalid_prompt"


def test_an_object_input_that_is_not_a_link_is_a_400_naming_node_and_input(
    server: Server,
) -> None:
    prompt = {"7": {"class_type": "SaveImage", "inputs": {"images": {}}}}
    for path, key in (("/prompt", "prompt"), ("/v1/jobs", "workflow")):
        body = assert_client_error(call("POST", server.url + path, {key: prompt}), 400)
        assert "node 7: inputs.images: an object must be a link" in json.dumps(body)


def test_meta_that_is_not_an_object_is_a_400_naming_the_node(server: Server) -> None:
    prompt = {"4": {"class_type": "EmptyImage", "inputs": {}, "_meta": "title"}}
    assert_client_error(call("POST", f"{server.url}/prompt", {"prompt": prompt}), 400, "node 4")


@pytest.mark.parametrize(
    "body",
    [
        b'{"prompt": %s, "extra_data": {"x": NaN}}',
        b'{"prompt": %s, "extra_data": {"x": [Infinity]}}',
        b'{"prompt": %s, "extra_data": {"x": -1e999}}',
    ],
)
def test_non_finite_numbers_are_refused_so_queue_and_history_stay_json(
    server: Server, body: bytes
) -> None:
    document = json.dumps(toy_workflow(steps=1)).encode()
    reply = post_raw(server, "/prompt", body % document)
    assert_client_error(reply, 400, "finite")
    for path in ("/queue", "/history", "/v1/jobs"):
        strict_json(call("GET", server.url + path))


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"prompt": ' + b"9" * 5000 + b"}", "5000 digits"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"prompt": "\xff\xfe"}', "not UTF-8"),
        (b'{"prompt": {}, "client_id": "\\ud800"}', "lone surrogate"),
        (b'{"workflow": {"nodes": {"\\udfff": {}}}}', "lone surrogate"),
    ],
)
def test_bodies_that_break_a_trusting_reader_are_400s_saying_why(
    server: Server, body: bytes, words: str
) -> None:
    for path in ("/prompt", "/api/prompt", "/v1/jobs", "/queue", "/v1/workflows/import"):
        assert_client_error(post_raw(server, path, body), 400, words)


def test_front_must_be_a_real_boolean(server: Server) -> None:
    workflow = toy_workflow(steps=1)
    comfy = call("POST", f"{server.url}/prompt", {"prompt": workflow, "front": "no"})
    assert_client_error(comfy, 400, "'front' must be true or false")
    ours = call("POST", f"{server.url}/v1/jobs", {"workflow": workflow, "front": "no"})
    assert_client_error(ours, 400, "front", "boolean")


def test_client_id_must_be_text(server: Server) -> None:
    reply = call("POST", f"{server.url}/prompt", {"prompt": toy_workflow(), "client_id": [1]})
    assert_client_error(reply, 400, "'client_id' must be text")


def test_max_items_beyond_any_history_is_a_400_naming_it(server: Server) -> None:
    for value in ("99999999999999999999", "9" * 5000, "-1"):
        reply = call("GET", f"{server.url}/history?max_items={value}")
        assert_client_error(reply, 400, "max_items")


@pytest.mark.parametrize("subfolder", ["", "sub", "a/b"])
@pytest.mark.parametrize("kind", ["input", "output", "temp"])
@pytest.mark.parametrize("name", [".", ".."])
def test_an_upload_named_dot_or_dotdot_is_refused_and_writes_nothing(
    server: Server, subfolder: str, kind: str, name: str
) -> None:
    before = sorted(p.name for p in server.home.iterdir())
    reply = upload(server, name, png(), subfolder=subfolder, type=kind)
    assert_client_error(reply, 400, "inside its folder")
    assert sorted(p.name for p in server.home.iterdir()) == before


@pytest.mark.parametrize("filename", ["a\x00b.png", "x" * 300 + ".png"])
def test_an_upload_with_a_nul_or_an_overlong_filename_is_a_400(
    server: Server, filename: str
) -> None:
    body, kind = multipart({}, {"image": (filename, png())})
    reply = call("POST", f"{server.url}/upload/image", data=body, headers={"Content-Type": kind})
    assert_client_error(reply, 400)


def test_overlong_names_for_view_and_workflow_files_are_400s(server: Server) -> None:
    long = "x" * 5000
    assert_client_error(call("GET", f"{server.url}/view?filename={long}.png"), 400, "too long")
    for method in ("GET", "PUT", "DELETE"):
        url = f"{server.url}/v1/workflows/user/{'y' * 300}.json"
        data = json.dumps(toy_workflow()).encode() if method == "PUT" else None
        assert_client_error(call(method, url, data=data, headers=JSON_HEADERS), 400, "too long")


def test_symlink_loops_in_the_home_are_refused_and_left_out_of_listings(
    server: Server,
) -> None:
    home: Path = server.home
    (home / "output" / "loop.png").symlink_to("loop.png")
    (home / "output" / "loopdir").symlink_to("loopdir", target_is_directory=True)
    workflows = home / "user" / "workflows"
    workflows.mkdir(parents=True, exist_ok=True)
    (workflows / "loop.json").symlink_to("loop.json")
    for query in ("filename=loop.png", "filename=x.png&subfolder=loopdir"):
        assert_client_error(call("GET", f"{server.url}/view?{query}"), 400, "cannot be followed")
    listed = call("GET", f"{server.url}/v1/workflows")
    assert listed.status == 200 and "loop.json" not in listed.text
    assert_client_error(call("GET", f"{server.url}/v1/workflows/user/loop.json"), 400)


def test_an_original_ref_that_is_not_an_image_is_a_400(server: Server) -> None:
    (server.home / "input" / "notes.png").write_text("not an image")
    fields = {"original_ref": json.dumps({"filename": "notes.png", "type": "input"})}
    body, kind = multipart(fields, {"image": ("mask.png", png())})
    reply = call("POST", f"{server.url}/upload/mask", data=body, headers={"Content-Type": kind})
    assert_client_error(reply, 400, "original_ref", "not an image")


def test_a_form_without_a_boundary_is_a_400(server: Server) -> None:
    headers = {"Content-Type": "multipart/form-data"}
    reply = call("POST", f"{server.url}/upload/image", data=b"--x\r\n", headers=headers)
    assert_client_error(reply, 400, "not a readable form")


def test_a_subfolder_that_is_a_file_is_a_409_not_a_500(server: Server) -> None:
    (server.home / "input" / "taken").write_bytes(b"a file")
    reply = upload(server, "ok.png", png(), subfolder="taken")
    assert_client_error(reply, 409, "taken")
