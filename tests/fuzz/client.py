"""A raw HTTP/1.1 client on a socket: it sends exactly the bytes a fuzz case holds (control
characters, broken encodings, odd headers) where urllib or http.client would refuse them,
and reads whatever the server answers."""

from __future__ import annotations

import socket
from dataclasses import dataclass

TIMEOUT = 30.0


@dataclass(frozen=True)
class Probe:
    """One request of a corpus: `family` groups the routes it aims at, for the report."""

    family: str
    method: str
    target: str  # path and query, sent as they are
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        return f"{self.method} {self.target[:120]!r} body={self.body[:120]!r}"


@dataclass(frozen=True)
class Answer:
    status: int
    head: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def send(host: str, port: int, probe: Probe) -> Answer:
    """Send `probe` with Connection: close and read the answer to its end (for a WebSocket
    upgrade, to the end of the head: the socket then stays open, so it is closed here)."""
    head = [f"{probe.method} {probe.target} HTTP/1.1", f"Host: {host}:{port}"]
    names = {name.lower() for name, _ in probe.headers}
    head += [f"{name}: {value}" for name, value in probe.headers]
    if "content-length" not in names:
        head.append(f"Content-Length: {len(probe.body)}")
    if "connection" not in names:
        head.append("Connection: close")
    raw = "\r\n".join(head).encode("utf-8", "surrogateescape") + b"\r\n\r\n" + probe.body
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(raw)
        return _read(sock)


def _read(sock: socket.socket) -> Answer:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    length = _content_length(head.decode("latin-1"))
    if status == 101:
        return Answer(status, head.decode("latin-1"), body)
    # A kept-alive connection (an upgrade refused, say) ends with the length, not a close.
    while (length is None or len(body) < length) and (chunk := sock.recv(65536)):
        body += chunk
        if length is None and body.endswith(b"0\r\n\r\n"):
            break  # the last chunk of a chunked body
    return Answer(status, head.decode("latin-1"), body)


def _content_length(head: str) -> int | None:
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            return int(value.strip())
    return None
