"""Safe defaults and honest errors, against a real server: every user mistake gets a 4xx
with a sentence that names it (never a 500 or a traceback), files stay in their folders,
cross-origin browser requests are refused, and beyond loopback a token is required."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from apps.server.routes_info import redacted
from tests.server.harness import Reply, Server, call, make_home, multipart, toy_workflow

ALLOWED = "http://allowed.example"


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = make_home(tmp_path_factory.mktemp("plain"))
    server = Server(home, "--max-upload-mb", "0.05", "--cors-origin", ALLOWED).start()
    yield server
    server.stop()


def assert_client_error(reply: Reply, status: int, *words: str) -> dict:
    assert reply.status == status, reply.text
    assert "Traceback" not in reply.text
    body = reply.json()
    text = str(body).lower()
    for word in words:
        assert word.lower() in text, body
    return body


def png(size: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(server: Server, name: str, content: bytes, **fields: str) -> Reply:
    body, kind = multipart(fields, {"image": (name, content)})
    return call("POST", f"{server.url}/upload/image", data=body, headers={"Content-Type": kind})


def test_malformed_and_wrong_requests_get_4xx_naming_the_problem(plain: Server) -> None:
    url = f"{plain.url}/prompt"
    assert_client_error(call("POST", url, data=b"{bad json"), 400, "not valid JSON")
    assert_client_error(call("POST", url, [1, 2]), 400, "JSON object")
    assert_client_error(call("POST", url, {"client_id": "x"}), 400, "prompt")
    assert_client_error(call("POST", url, {"prompt": {"nodes": 3}}), 400, "nodes")
    assert_client_error(call("GET", f"{plain.url}/no/such/route"), 404)
    assert_client_error(call("GET", f"{plain.url}/history?max_items=lots"), 400, "max_items")


def test_an_unknown_node_and_a_bad_value_are_named_in_node_errors(plain: Server) -> None:
    workflow = toy_workflow()
    workflow["nodes"]["mystery"] = {"type": "nobody.knows", "inputs": {}}
    workflow["nodes"]["sample"]["inputs"]["steps"] = -3
    body = assert_client_error(call("POST", f"{plain.url}/prompt", {"prompt": workflow}), 400)
    errors = body["node_errors"]
    assert errors["mystery"]["errors"][0]["type"] == "unknown_node_type"
    steps = [e for e in errors["sample"]["errors"] if e["extra_info"].get("input_name") == "steps"]
    assert steps and "steps" in steps[0]["details"]
    assert errors["sample"]["class_type"] == "KSampler"


def test_a_model_name_not_on_disk_is_refused(plain: Server) -> None:
    workflow = toy_workflow()
    workflow["nodes"]["ckpt"]["inputs"]["ckpt_name"] = "../../etc/passwd"
    body = assert_client_error(call("POST", f"{plain.url}/prompt", {"prompt": workflow}), 400)
    names = [e["extra_info"].get("input_name") for e in body["node_errors"]["ckpt"]["errors"]]
    assert "ckpt_name" in names
    assert call("GET", f"{plain.url}/queue").json()["queue_pending"] == []


def test_view_is_confined_to_its_folders(plain: Server, tmp_path: Path) -> None:
    outside = tmp_path / "private.txt"
    outside.write_text("TOP-SECRET-CONTENT")
    (plain.home / "output" / "leak.png").symlink_to(outside)
    (plain.home / "output" / "fine.png").write_bytes(png())
    view = f"{plain.url}/view"
    assert call("GET", f"{view}?filename=fine.png").status == 200
    for query in (
        "filename=../user/queue.sqlite3",
        "filename=queue.sqlite3&subfolder=../user",
        f"filename={outside}",
        "filename=passwd&subfolder=/etc",
        "filename=leak.png",
        "filename=a%01b.png",
        "filename=fine.png&type=models",
    ):
        reply = call("GET", f"{view}?{query}")
        assert_client_error(reply, 400)
        assert "TOP-SECRET-CONTENT" not in reply.text
    assert_client_error(call("GET", f"{view}?filename=absent.png"), 404, "absent.png")


def test_uploads_must_be_images_within_the_size_limit_and_stay_in_their_folder(
    plain: Server,
) -> None:
    first = upload(plain, "red.png", png())
    assert first.status == 200 and first.json() == {
        "name": "red.png",
        "subfolder": "",
        "type": "input",
    }
    assert upload(plain, "red.png", png()).json()["name"] == "red.png"  # the same bytes
    assert upload(plain, "red.png", png(9)).json()["name"] == "red (1).png"
    assert upload(plain, "red.png", png(), overwrite="true").json()["name"] == "red.png"
    assert (plain.home / "input" / "red.png").is_file()
    assert_client_error(
        upload(plain, "notes.png", b"just text, not a picture"), 400, "not an image"
    )
    assert_client_error(upload(plain, "../escape.png", png()), 400)
    assert_client_error(upload(plain, "ok.png", png(), subfolder="../../x"), 400)
    assert not (plain.home / "escape.png").exists()
    big = os.urandom(200_000)
    reply = upload(plain, "big.png", big)
    assert reply.status == 413 and "Traceback" not in reply.text


def test_cross_origin_browser_requests_are_refused(plain: Server) -> None:
    host = plain.url.removeprefix("http://")
    evil = call("GET", f"{plain.url}/queue", headers={"Origin": "http://evil.example"})
    assert_client_error(evil, 403, "cross-origin")
    posted = call(
        "POST", f"{plain.url}/queue", {"clear": True}, headers={"Origin": "http://evil.example"}
    )
    assert posted.status == 403
    same = call("GET", f"{plain.url}/queue", headers={"Origin": f"http://{host}"})
    assert same.status == 200
    allowed = call("GET", f"{plain.url}/queue", headers={"Origin": ALLOWED})
    assert allowed.status == 200 and allowed.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_beyond_loopback_every_route_and_the_websocket_need_the_token(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", with_models=False)
    server = Server(home, "--host", "0.0.0.0").start()
    try:
        token = (home / "user" / "server_token").read_text().strip()
        assert "token" in server.log.read_text()
        url = server.url.replace("0.0.0.0", "127.0.0.1")
        for path in ("/queue", "/object_info", "/v1/jobs", "/history"):
            assert_client_error(call("GET", url + path), 401, "token")
            wrong = call("GET", url + path, headers={"Authorization": "Bearer nope"})
            assert wrong.status == 401
        good = call("GET", f"{url}/queue", headers={"Authorization": f"Bearer {token}"})
        assert good.status == 200
        assert call("GET", f"{url}/queue?token={token}").status == 200
        ws = url.replace("http://", "ws://") + "/ws"
        assert asyncio.run(_ws_status(ws)) == 401
        assert asyncio.run(_ws_status(f"{ws}?token={token}")) == 101
    finally:
        server.stop()


async def _ws_status(url: str) -> int:
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url):
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = make_home(tmp_path_factory.mktemp("guarded"), with_models=False)
    server = Server(home, "--token", "s3cret-token-value").start()
    yield server
    server.stop()


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "BeArEr"])
def test_the_bearer_scheme_is_case_insensitive(guarded: Server, scheme: str) -> None:
    headers = {"Authorization": f"{scheme} s3cret-token-value"}
    assert call("GET", f"{guarded.url}/queue", headers=headers).status == 200
    wrong = {"Authorization": f"{scheme} not-the-token"}
    assert call("GET", f"{guarded.url}/queue", headers=wrong).status == 401


def test_system_stats_does_not_show_the_token(guarded: Server) -> None:
    headers = {"Authorization": "Bearer s3cret-token-value"}
    reply = call("GET", f"{guarded.url}/system_stats", headers=headers)
    assert reply.status == 200
    assert "s3cret-token-value" not in reply.text
    argv = reply.json()["system"]["argv"]
    assert argv[argv.index("--token") + 1] == "<redacted>"


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["serve", "--token", "T"], ["serve", "--token", "<redacted>"]),
        (["serve", "--token=T"], ["serve", "--token=<redacted>"]),
        (["serve", "--tok", "T", "--port", "1"], ["serve", "--tok", "<redacted>", "--port", "1"]),
        (["serve", "--threads", "2"], ["serve", "--threads", "2"]),
    ],
)
def test_every_spelling_of_the_token_option_is_redacted(argv: list[str], shown: list[str]) -> None:
    assert redacted(argv) == shown
