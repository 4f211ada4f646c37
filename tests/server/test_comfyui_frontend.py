"""The routes ComfyUI's own frontend calls, against a real `diffgraph serve --frontend
comfyui`: its page at /, settings, user files (saved workflows), and the small ones it
reads at start; names never leave `user/default/`; with a token, the page's cookie."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from apps.server.comfy_frontend import (
    PACKAGE,
    PINNED_VERSION,
    FrontendUnavailable,
    comfyui_frontend_dir,
)
from apps.server.hub import Hub
from apps.server.routes_internal import LogRing
from tests.server.harness import Server, call, make_home

WORKFLOW = {"last_node_id": 1, "nodes": [{"id": 1, "type": "EmptyImage"}], "links": []}


@pytest.fixture(scope="module")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(make_home(tmp_path_factory.mktemp("comfy")), "--frontend", "comfyui")
    running.start()
    yield running
    running.stop()


def user_file(server: Server, name: str) -> str:
    return (
        server.url + "/api/userdata/" + quote(name, safe="")
    )  # as the frontend: one encoded segment


def test_the_comfyui_frontend_page_is_served_at_the_root(comfy: Server) -> None:
    page = call("GET", comfy.url + "/")
    assert page.status == 200
    assert "<title>ComfyUI</title>" in page.text
    assert call("GET", comfy.url + "/materialdesignicons.min.css").status == 200


def test_a_setting_is_stored_and_read_back_one_by_one_and_all_together(comfy: Server) -> None:
    assert call("POST", comfy.url + "/api/settings/Comfy.Theme", "dark").status == 200
    assert call("POST", comfy.url + "/api/settings", {"Comfy.Zoom": 1.5}).status == 200
    assert call("GET", comfy.url + "/api/settings/Comfy.Theme").json() == "dark"
    stored = call("GET", comfy.url + "/api/settings").json()
    assert stored["Comfy.Theme"] == "dark" and stored["Comfy.Zoom"] == 1.5
    assert call("GET", comfy.url + "/api/settings/Comfy.Unset").json() is None


def test_settings_that_are_not_an_object_are_refused(comfy: Server) -> None:
    reply = call("POST", comfy.url + "/api/settings", ["not", "an", "object"])
    assert reply.status == 400 and "JSON object" in reply.json()["error"]


def test_the_server_reports_one_user_with_server_storage(comfy: Server) -> None:
    assert call("GET", comfy.url + "/api/users").json()["storage"] == "server"
    assert call("POST", comfy.url + "/api/users", {"username": "x"}).status == 400


def test_a_saved_workflow_is_listed_read_moved_and_deleted(comfy: Server) -> None:
    saved = call("POST", user_file(comfy, "workflows/a.json"), data=json.dumps(WORKFLOW).encode())
    assert saved.status == 200 and saved.json() == "workflows/a.json"
    listing = call("GET", comfy.url + "/api/userdata?dir=workflows&recurse=true&full_info=true")
    assert [entry["path"] for entry in listing.json()] == ["a.json"]
    assert call("GET", user_file(comfy, "workflows/a.json")).json() == WORKFLOW
    destination = quote("workflows/b.json", safe="")
    moved = call("POST", user_file(comfy, "workflows/a.json") + "/move/" + destination)
    assert moved.status == 200 and moved.json() == "workflows/b.json"
    assert call("GET", user_file(comfy, "workflows/a.json")).status == 404
    assert call("DELETE", user_file(comfy, "workflows/b.json")).status == 204
    assert call("GET", user_file(comfy, "workflows/b.json")).status == 404


def test_a_file_is_not_overwritten_when_overwrite_is_false(comfy: Server) -> None:
    call("POST", user_file(comfy, "workflows/keep.json"), data=b"{}")
    again = call("POST", user_file(comfy, "workflows/keep.json") + "?overwrite=false", data=b"[]")
    assert again.status == 409
    assert call("GET", user_file(comfy, "workflows/keep.json")).body == b"{}"


def test_the_folder_listing_names_folders_before_files(comfy: Server) -> None:
    call("POST", user_file(comfy, "workflows/sub/c.json"), data=b"{}")
    listing = call("GET", comfy.url + "/api/v2/userdata?path=workflows").json()
    kinds = [(entry["type"], entry["path"]) for entry in listing]
    assert kinds[0] == ("directory", "workflows/sub")
    assert ("file", "workflows/sub/c.json") in kinds


ESCAPES = ["../queue.sqlite3", "../server_token", "/etc/passwd", "a/../../x"]


@pytest.mark.parametrize("name", ESCAPES)
def test_user_file_names_never_leave_the_user_folder(comfy: Server, name: str) -> None:
    for method in ("GET", "POST", "DELETE"):
        reply = call(method, user_file(comfy, name), data=b"x" if method == "POST" else None)
        assert reply.status == 400, (method, reply.text)
        assert "Traceback" not in reply.text
    listing = call("GET", comfy.url + "/api/userdata?dir=" + quote(name, safe=""))
    assert listing.status == 400
    assert not (comfy.home / "x").exists()


def test_a_missing_folder_is_a_404_as_in_comfyui(comfy: Server) -> None:
    assert call("GET", comfy.url + "/api/userdata?dir=nothing-here").status == 404
    assert call("GET", comfy.url + "/api/userdata").status == 400


def test_the_start_up_routes_answer_as_comfyui_without_custom_nodes(comfy: Server) -> None:
    assert call("GET", comfy.url + "/api/extensions").json() == []
    assert call("GET", comfy.url + "/api/i18n").json() == {}
    assert call("GET", comfy.url + "/api/workflow_templates").json() == {}
    features = call("GET", comfy.url + "/api/features").json()
    assert features["max_upload_size"] == 50 * 1024**2
    checkpoints = call("GET", comfy.url + "/api/experiment/models/checkpoints").json()
    assert {"name": "diffgraph-toy.safetensors", "pathIndex": 0} in checkpoints


def test_the_page_with_the_token_sets_a_cookie_that_opens_the_api(tmp_path: Path) -> None:
    token = "s3cret-token-for-the-test"
    server = Server(make_home(tmp_path), "--frontend", "comfyui", "--token", token).start()
    try:
        assert call("GET", server.url + "/").status == 401
        page = call("GET", f"{server.url}/?token={token}")
        assert page.status == 200
        cookie = page.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        sent = {"Cookie": cookie.split(";")[0]}
        assert call("GET", server.url + "/api/settings", headers=sent).status == 200
        wrong = {"Cookie": "diffgraph_token=guess"}
        assert call("GET", server.url + "/api/settings", headers=wrong).status == 401
    finally:
        server.stop()


def test_another_frontend_version_is_refused_with_the_install_command() -> None:
    with pytest.raises(FrontendUnavailable, match=r"diffgraph\[comfyui-frontend\]") as caught:
        comfyui_frontend_dir(pinned="0.0.1")
    assert PINNED_VERSION in str(caught.value) and "0.0.1" in str(caught.value)


def test_a_missing_frontend_package_is_refused_with_the_install_command() -> None:
    with pytest.raises(FrontendUnavailable, match="not installed"):
        comfyui_frontend_dir(package=PACKAGE + "-that-does-not-exist")


def test_a_symlink_leading_out_of_the_user_folder_is_neither_read_nor_listed(
    comfy: Server, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"secret": true}')
    planted = comfy.home / "user" / "default" / "workflows" / "out.json"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.symlink_to(secret)
    try:
        assert call("GET", user_file(comfy, "workflows/out.json")).status == 400
        overwrite = call("POST", user_file(comfy, "workflows/out.json"), data=b"{}")
        assert overwrite.status == 400 and secret.read_text() == '{"secret": true}'
        listing = call("GET", comfy.url + "/api/userdata?dir=workflows&recurse=true").json()
        assert "out.json" not in listing
    finally:
        planted.unlink()


def test_a_prompt_node_without_class_type_is_named_in_the_error(comfy: Server) -> None:
    # what the frontend sends for a node whose type it could not build
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {}}, "4": {"inputs": {"x": 1}}}
    reply = call("POST", comfy.url + "/api/prompt", {"prompt": prompt})
    assert reply.status == 400
    assert "node 4: class_type is missing" in reply.json()["error"]["message"]


def test_the_log_panel_keeps_the_servers_own_records(comfy: Server) -> None:
    ring = LogRing(Hub())
    logger = logging.getLogger("tests.log_panel")
    logger.addHandler(ring)
    try:
        logger.warning("a warning for the log panel")
    finally:
        logger.removeHandler(ring)
    assert ring.entries[-1]["m"] == "WARNING tests.log_panel: a warning for the log panel\n"
    raw = call("GET", comfy.url + "/internal/logs/raw").json()
    assert isinstance(raw["entries"], list) and raw["size"]["cols"] > 0


def test_a_log_subscription_must_name_its_client(comfy: Server) -> None:
    bad = call("PATCH", comfy.url + "/internal/logs/subscribe", {"enabled": True})
    assert bad.status == 400 and "clientId" in bad.json()["error"]
    good = {"clientId": "abc", "enabled": True}
    assert call("PATCH", comfy.url + "/internal/logs/subscribe", good).status == 200


def test_the_recent_files_are_listed_newest_first(comfy: Server) -> None:
    older, newer = comfy.home / "output" / "older.png", comfy.home / "output" / "newer.png"
    older.write_bytes(b"1")
    newer.write_bytes(b"2")
    os.utime(older, (1_000_000, 1_000_000))
    names = call("GET", comfy.url + "/internal/files/output").json()
    assert names.index("newer.png") < names.index("older.png")
    assert call("GET", comfy.url + "/internal/files/models").status == 400
    folders = call("GET", comfy.url + "/internal/folder_paths").json()
    assert folders["checkpoints"] == [str(comfy.home / "models" / "checkpoints")]
