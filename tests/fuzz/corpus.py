"""The malformed-request corpus: every route of the server, each fed what a confused or
hostile client sends. Generated from a fixed seed, so a failure is reproducible by index."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from PIL import Image

from tests.fuzz.client import Probe
from tests.fuzz.documents import base_documents, cheap_workflow
from tests.fuzz.values import BAD_BODIES, EVIL_VALUES, mutate, to_body

SEED = 20240611
JSON = (("Content-Type", "application/json"),)
COMFY_PREFIXES = ("", "/api")

# Text for path segments and query values: climbing, encodings, controls, sizes, numbers.
EVIL_STRINGS: tuple[str, ...] = (
    "", ".", "..", "../x", "..%2f..%2fx", "%2e%2e", "%252e%252e%252f", "a\x00b", "\x00",
    "x" * 300, "x" * 5000, "\ud800", "\udcff", "é", "😀", "a/b", "a\\b", "\\..\\x",
    "9" * 30, "99999999999999999999", "-1", "1e3", "0x10", "NaN", "Infinity", " 7 ",
    "' OR 1=1 --", "<script>alert(1)</script>", "\r\nX-Injected: 1", "%", "%zz", "%ff%fe",
    "pending,nope", ",,,", "running,done,failed,interrupted,pending,x",
)  # fmt: skip


def http_corpus(seed: int = SEED) -> list[Probe]:
    """Every probe, in a fixed order."""
    rng = random.Random(seed)
    probes: list[Probe] = []
    for make in (_prompt, _comfy_json_routes, _comfy_queries, _v1_jobs, _v1_other, _ws, _upload):
        probes.extend(make(rng))
    return probes


def segment(text: str) -> str:
    """`text` percent-encoded for a path segment or query value (lone surrogates as the
    bytes a careless client would send)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _prefix(rng: random.Random) -> tuple[str, str]:
    prefix = rng.choice(COMFY_PREFIXES)
    return prefix, "comfy" + (prefix or "/")


def _prompt(rng: random.Random) -> Iterator[Probe]:
    """POST /prompt: broken bodies, each envelope field wrong, every document mutated."""
    for body in BAD_BODIES:
        for prefix in COMFY_PREFIXES:
            yield Probe("comfy" + (prefix or "/"), "POST", f"{prefix}/prompt", body, JSON)
    fields = ("prompt", "client_id", "extra_data", "front", "partial_execution_targets")
    fields += ("prompt_id",)
    for field in fields:
        for value in EVIL_VALUES:
            prefix, family = _prefix(rng)
            envelope: dict[str, Any] = {"prompt": cheap_workflow(), field: value}
            yield Probe(family, "POST", f"{prefix}/prompt", to_body(envelope), JSON)
    for document in base_documents():
        for _ in range(60):
            prefix, family = _prefix(rng)
            changed = mutate(document, rng, count=rng.randint(1, 3))
            yield Probe(family, "POST", f"{prefix}/prompt", to_body({"prompt": changed}), JSON)


def _comfy_json_routes(rng: random.Random) -> Iterator[Probe]:
    fields = {
        "/queue": ("clear", "delete"),
        "/history": ("clear", "delete"),
        "/interrupt": ("prompt_id",),
        "/free": ("unload_models", "free_memory"),
    }
    for path, names in fields.items():
        for body in BAD_BODIES:
            prefix, family = _prefix(rng)
            yield Probe(family, "POST", prefix + path, body, JSON)
        for name in names:
            for value in EVIL_VALUES:
                prefix, family = _prefix(rng)
                yield Probe(family, "POST", prefix + path, to_body({name: value}), JSON)


def _comfy_queries(rng: random.Random) -> Iterator[Probe]:
    for text in EVIL_STRINGS:
        value = segment(text)
        for target in (
            f"/history?max_items={value}",
            f"/history/{value}",
            f"/object_info/{value}",
            f"/models/{value}",
            f"/view?filename={value}&type={value}",
            f"/view?filename=a.png&subfolder={value}",
        ):
            prefix, family = _prefix(rng)
            yield Probe(family, "GET", prefix + target)
    for path in ("/prompt", "/queue", "/history", "/embeddings", "/system_stats", "/models"):
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            prefix, family = _prefix(rng)
            yield Probe(family, method, prefix + path, b"{}", JSON)


def _v1_jobs(rng: random.Random) -> Iterator[Probe]:
    for body in BAD_BODIES:
        yield Probe("v1", "POST", "/v1/jobs", body, JSON)
    for field in ("workflow", "client_id", "targets", "front"):
        for value in EVIL_VALUES:
            envelope: dict[str, Any] = {"workflow": cheap_workflow(), field: value}
            yield Probe("v1", "POST", "/v1/jobs", to_body(envelope), JSON)
    for document in base_documents():
        for _ in range(30):
            changed = mutate(document, rng, count=rng.randint(1, 3))
            yield Probe("v1", "POST", "/v1/jobs", to_body({"workflow": changed}), JSON)
    for text in EVIL_STRINGS:
        value = segment(text)
        yield Probe("v1", "GET", f"/v1/jobs?status={value}")
        yield Probe("v1", "GET", f"/v1/jobs/{value}")
        yield Probe("v1", "DELETE", f"/v1/jobs/{value}")
        yield Probe("v1", "POST", f"/v1/jobs/{value}/requeue", b"{}", JSON)
        yield Probe("v1", "GET", f"/v1/nodes/{value}")


def _v1_other(rng: random.Random) -> Iterator[Probe]:
    """Workflow files: names, sources, bodies to save and to import."""
    for text in EVIL_STRINGS:
        for name in (segment(text), segment(text + ".json")):
            for source in ("user", "project", segment(text)):
                yield Probe("v1", "GET", f"/v1/workflows/{source}/{name}")
            yield Probe("v1", "DELETE", f"/v1/workflows/user/{name}")
            body = to_body(cheap_workflow())
            yield Probe("v1", "PUT", f"/v1/workflows/user/{name}", body, JSON)
    for body in BAD_BODIES:
        yield Probe("v1", "PUT", "/v1/workflows/user/fuzz.json", body, JSON)
        yield Probe("v1", "POST", "/v1/workflows/import", body, JSON)
    for document in base_documents():
        for _ in range(15):
            changed = to_body(mutate(document, rng, count=rng.randint(1, 3)))
            yield Probe("v1", "PUT", "/v1/workflows/user/fuzz.json", changed, JSON)
            yield Probe("v1", "POST", "/v1/workflows/import", changed, JSON)
    for png in _odd_pngs(rng):
        yield Probe("v1", "POST", "/v1/workflows/import", png)


def _odd_pngs(rng: random.Random) -> Iterator[bytes]:
    from PIL.PngImagePlugin import PngInfo

    plain = png_bytes()
    yield plain
    yield plain[:20]
    yield plain[:-5]
    for chunk in ("diffgraph", "prompt", "workflow"):
        for text in ("{", "NaN", "[" * 5000, '{"a": ' + "9" * 5000 + "}", '"\\ud800"', "{}"):
            info = PngInfo()
            info.add_text(chunk, text)
            yield png_bytes(info=info)
        document = rng.choice(base_documents())
        info = PngInfo()
        info.add_text(chunk, to_body(mutate(document, rng)).decode("utf-8", "surrogatepass"))
        yield png_bytes(info=info)


def png_bytes(size: int = 4, info: Any = None) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (10, 200, 30)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _ws(rng: random.Random) -> Iterator[Probe]:
    upgrade = (
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    )
    for text in EVIL_STRINGS:
        yield Probe("ws", "GET", f"/ws?clientId={segment(text)}", b"", upgrade)
        yield Probe("ws", "GET", f"/api/ws?clientId={segment(text)}")  # no upgrade asked
    for name, value in (
        ("Sec-WebSocket-Version", "99"),
        ("Sec-WebSocket-Key", "short"),
        ("Sec-WebSocket-Key", ""),
        ("Upgrade", "nonsense"),
        ("Connection", "keep-alive"),
    ):
        headers = tuple((n, value if n == name else v) for n, v in upgrade)
        yield Probe("ws", "GET", "/ws?clientId=odd", b"", headers)
    yield Probe("ws", "POST", "/ws", b"{}", JSON)


def _upload(rng: random.Random) -> Iterator[Probe]:
    """Uploads: hostile file names and fields, bodies that are not images or not forms."""
    png = png_bytes()
    names = [*EVIL_STRINGS, "ok.png", "a/b.png", "..", ".", "con.png", " .png", "x" * 256]
    for path in ("/upload/image", "/api/upload/image", "/upload/mask"):
        for name in names:
            fields = {"original_ref": '{"filename": "ok.png"}'} if "mask" in path else {}
            yield upload_probe(path, fields, name, png)
        for field in ("subfolder", "type", "overwrite", "original_ref"):
            for text in rng.sample(EVIL_STRINGS, 12):
                yield upload_probe(path, {field: text}, "fuzz.png", png)
        for content in (b"", b"not an image", png[:30], b"\x00" * 100):
            yield upload_probe(path, {}, "fuzz.png", content)
        yield Probe("upload", "POST", path, b"not a form", JSON)
        yield Probe("upload", "POST", path, b"--x\r\nbroken", (("Content-Type", FORM + "x"),))
        yield Probe("upload", "POST", path, b"", (("Content-Type", "multipart/form-data"),))
    for ref in ("NaN", "[" * 5000, '{"filename": 5}', '{"type": "models"}', '"\\ud800"', "{"):
        yield upload_probe("/upload/mask", {"original_ref": ref}, "fuzz.png", png)


FORM = "multipart/form-data; boundary="
BOUNDARY = "fuzzboundary7MA4YWxkTrZu0gW"


def upload_probe(path: str, fields: dict[str, str], filename: str, content: bytes) -> Probe:
    return Probe("upload", "POST", path, form(fields, filename, content), form_headers())


def form_headers() -> tuple[tuple[str, str], ...]:
    return (("Content-Type", FORM + BOUNDARY),)


def form(fields: dict[str, str], filename: str, content: bytes, field: str = "image") -> bytes:
    """A multipart body with the file name written as it is (quotes, NULs, any bytes)."""
    parts = []
    for name, value in fields.items():
        head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(_bytes(head + value) + b"\r\n")
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'
    )
    parts.append(_bytes(head) + content + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")
