"""The traversal corpus: names that try to leave their folder, and symlinks planted in
the home that lead out of it or loop, aimed at every route that takes a name.

Layout (see conftest.make_sandbox): SANDBOX/home is the server's home, SANDBOX/canaries
holds the canary files, SANDBOX/input is a decoy named like a home folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from tests.fuzz.client import Probe
from tests.fuzz.conftest import Sandbox
from tests.fuzz.corpus import JSON, form, form_headers, png_bytes, segment
from tests.server.harness import toy_workflow

FOLDERS = ("input", "output", "temp")
PLANTED = ("out.png", "outdir", "loop.png", "loopdir", "chain.png", "abs.png", "up.png")


def plant_links(sandbox: Sandbox) -> None:
    """In each folder a name could reach: links out (to a file, a folder, absolute,
    relative, through a chain) and loops (a file name, a folder name)."""
    secret = sandbox.canaries / "secret.png"
    assert not (sandbox.home / "models").is_symlink(), "never plant in the project's models"
    places = [sandbox.home / f for f in FOLDERS]
    places += [sandbox.home / "user" / "workflows", sandbox.home / "models" / "checkpoints"]
    for place in places:
        place.mkdir(parents=True, exist_ok=True)
        (place / "out.png").symlink_to(secret)
        (place / "out.json").symlink_to(sandbox.canaries / "secret.json")
        (place / "out.safetensors").symlink_to(sandbox.canaries / "secret.safetensors")
        (place / "outdir").symlink_to(sandbox.canaries, target_is_directory=True)
        (place / "loop.png").symlink_to("loop.png")
        (place / "loop.json").symlink_to("loop.json")
        (place / "loopdir").symlink_to("loopdir", target_is_directory=True)
        (place / "chain.png").symlink_to("chain2.png")
        (place / "chain2.png").symlink_to(place / "outdir" / "secret.png")
        (place / "abs.png").symlink_to(secret.resolve())
        up = Path(*[".."] * len(place.relative_to(sandbox.root).parts)) / "canaries"
        (place / "up.png").symlink_to(up / "secret.png")


def hostile_names(sandbox: Sandbox) -> list[str]:
    """Names as a user could type them: each tries to reach a canary or the home itself."""
    secret = sandbox.canaries / "secret.png"
    climbs = ["..", ".", "./", "../", "../secret.png", "../../canaries/secret.png"]
    climbs += ["../" * depth + "canaries/secret.png" for depth in range(3, 7)]
    climbs += ["sub/../../canaries/secret.png", "sub/./../..", "a//b.png", "sub/."]
    encoded = ["%2e%2e%2fsecret.png", "%2e%2e/%2e%2e/canaries/secret.png"]
    encoded += ["%252e%252e%252f%252e%252e%252fcanaries%252fsecret.png", "..%2f..%2fcanaries"]
    encoded += ["%c0%ae%c0%ae/secret.png", "..%c0%afsecret.png", "%u002e%u002e/secret.png"]
    backslashes = ["..\\..\\canaries\\secret.png", "\\..\\secret.png", "sub\\..\\..\\x.png"]
    absolute = [str(secret), str(secret.resolve()), "/etc/passwd", "//etc/passwd", "C:\\x.png"]
    nul = ["secret.png\x00.png", "..\x00/secret.png", "\x00", "a\x00b.png"]
    long = ["x" * 256 + ".png", "x" * 5000, "a/" * 600 + "b.png", "é" * 200 + ".png"]
    planted = list(PLANTED) + [f"outdir/secret{s}" for s in (".png", ".json", ".txt")]
    planted += ["loopdir/x.png", "loopdir/loopdir/x.png", "out.json", "loop.json"]
    planted += ["out.safetensors", "outdir/secret.safetensors"]
    return climbs + encoded + backslashes + absolute + nul + long + planted


def name_probes(sandbox: Sandbox) -> Iterator[Probe]:
    """Every route that takes a name, with every hostile name in every place it goes."""
    png = png_bytes()
    for name in hostile_names(sandbox):
        value = segment(name)
        for kind in FOLDERS:
            yield Probe("view", "GET", f"/view?filename={value}&type={kind}")
            annotated = segment(f"{name} [{kind}]")  # ComfyUI's `x.png [output]`
            yield Probe("view", "GET", f"/view?filename={annotated}")
            yield Probe("view", "GET", f"/view?filename={annotated}&preview=webp;90&channel=a")
            yield Probe("view", "GET", f"/api/view?filename=x.png&subfolder={value}&type={kind}")
            yield upload("/upload/image", {"type": kind}, name, png)
            yield upload("/upload/image", {"type": kind, "subfolder": name}, "ok.png", png)
            yield upload("/upload/image", {"type": kind, "overwrite": "true"}, name, png)
        ref = json.dumps({"filename": name, "type": "input"})
        yield upload("/upload/mask", {"original_ref": ref}, "ok.png", png)
        ref = json.dumps({"filename": "x.png", "subfolder": name, "type": "output"})
        yield upload("/upload/mask", {"original_ref": ref}, "ok.png", png)
        yield upload("/upload/mask", {"original_ref": '{"filename": "x.png"}'}, name, png)
        yield from workflow_file_probes(name)
        yield from model_name_probes(name)
        yield from model_name_probes(f"{name} [output]")
        for text in (value, segment(name + ".safetensors")):
            yield Probe("view_metadata", "GET", f"/view_metadata/checkpoints?filename={text}")


def workflow_file_probes(name: str) -> Iterator[Probe]:
    body = json.dumps(toy_workflow()).encode()
    for text in (name, name + ".json"):
        for form_of in (segment(text), text.replace("\x00", "%00").replace(" ", "%20")):
            if any(ord(c) < 33 or ord(c) > 126 for c in form_of):
                continue  # not sendable raw in a request line: the encoded form covers it
            for source in ("user", "project"):
                yield Probe("workflows", "GET", f"/v1/workflows/{source}/{form_of}")
            yield Probe("workflows", "PUT", f"/v1/workflows/user/{form_of}", body, JSON)
            yield Probe("workflows", "DELETE", f"/v1/workflows/user/{form_of}")


def model_name_probes(name: str) -> Iterator[Probe]:
    """A model name and an input image name in a workflow, queued both ways."""
    for node, field in (("ckpt", "ckpt_name"), ("load", "image")):
        workflow = toy_workflow(steps=1)
        if node == "load":
            workflow["nodes"]["load"] = {"type": "image.load", "inputs": {"image": name}}
        else:
            workflow["nodes"][node]["inputs"][field] = name
        yield Probe("models", "POST", "/prompt", json.dumps({"prompt": workflow}).encode(), JSON)
        body = json.dumps({"workflow": workflow}).encode()
        yield Probe("models", "POST", "/v1/jobs", body, JSON)


def upload(path: str, fields: dict[str, str], filename: str, content: bytes) -> Probe:
    return Probe("upload", "POST", path, form(fields, filename, content), form_headers())
