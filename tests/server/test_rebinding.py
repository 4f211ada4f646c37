"""DNS rebinding: a page whose own name was made to resolve to 127.0.0.1 sends its name as
Host (and as Origin, so an origin check passes). The server answers only the names it is
really reached by: loopback names and addresses, its listen address, and --allow-host."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import pytest

from apps.server.hosts import HostRule, host_name
from tests.server.harness import Server, call, make_home


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = make_home(tmp_path_factory.mktemp("rebinding"), with_models=False)
    running = Server(home, "--allow-host", "studio.lan").start()
    yield running
    running.stop()


def port(server: Server) -> str:
    return server.url.rsplit(":", 1)[1]


def as_host(server: Server, host: str, path: str = "/object_info") -> int:
    origin = f"http://{host}"
    return call("GET", server.url + path, headers={"Host": host, "Origin": origin}).status


def test_a_rebound_name_with_a_matching_origin_is_refused(server: Server) -> None:
    evil = f"evil.example:{port(server)}"
    reply = call("GET", f"{server.url}/history", headers={"Host": evil, "Origin": f"http://{evil}"})
    assert reply.status == 403
    assert "DNS rebinding" in reply.json()["error"] and "--allow-host" in reply.json()["error"]
    assert as_host(server, evil, "/view?filename=x.png") == 403
    assert (
        call("POST", f"{server.url}/prompt", {"prompt": {}}, headers={"Host": evil}).status == 403
    )


def test_the_websocket_of_a_rebound_name_is_refused(server: Server) -> None:
    async def connect(host: str) -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(server.ws_url, headers={"Host": host}):
                    return 101
            except aiohttp.WSServerHandshakeError as error:
                return error.status

    assert asyncio.run(connect(f"evil.example:{port(server)}")) == 403
    assert asyncio.run(connect(f"localhost:{port(server)}")) == 101


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "[::1]", "127.0.0.2", "studio.lan"])
def test_loopback_names_and_allowed_hosts_are_answered(server: Server, name: str) -> None:
    assert as_host(server, f"{name}:{port(server)}") == 200


def test_host_names_are_read_without_port_brackets_or_case() -> None:
    assert host_name("LocalHost:8188") == "localhost"
    assert host_name("[::1]:8188") == "::1" and host_name("::1") == "::1"
    assert host_name("example.com.") == "example.com"


def test_a_wildcard_listener_answers_any_name_unless_narrowed() -> None:
    assert HostRule("0.0.0.0", ()).accepts("anything.example:8188")
    narrowed = HostRule("0.0.0.0", ("studio.lan",))
    assert narrowed.accepts("studio.lan") and narrowed.accepts("127.0.0.1:1")
    assert not narrowed.accepts("evil.example")
    assert HostRule("192.168.1.5", ()).accepts("192.168.1.5:8188")
