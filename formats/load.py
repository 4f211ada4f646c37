"""Reading a workflow from whatever a user has: our JSON, ComfyUI's API-format or editor
JSON, a PNG that carries one, or a PNG with A1111/Forge/Civitai generation settings (a
`parameters` chunk), rebuilt as a workflow. The one entry point is `load_document`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, BinaryIO

from engine.jsontext import JSONRefused, parse_json
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import DocumentError, Workflow, parse_workflow, read_json
from formats.a1111 import PARAMETERS_CHUNK, from_infotext
from formats.comfy_api import from_comfy_api, is_comfy_api, is_comfy_ui
from formats.comfy_editor import from_comfy_ui
from formats.png import COMFY_PROMPT_CHUNK, COMFY_WORKFLOW_CHUNK, OUR_CHUNK, read_texts


def to_workflow(data: Any, registry: Registry) -> Workflow:
    """Decoded JSON in any format we read -> our workflow document."""
    if is_comfy_api(data):
        return from_comfy_api(data, registry)
    if is_comfy_ui(data):
        return from_comfy_ui(data, registry)
    return parse_workflow(data)


def load_document(
    path: str | Path, registry: Registry, settings: Settings | None = None
) -> Workflow:
    """Read a workflow file: .json in our or ComfyUI's formats, or a .png carrying one.
    `settings` gives the model folders an A1111 PNG's file names are matched against."""
    path = Path(path)
    if path.suffix.lower() == ".png":
        return _from_png(path, registry, settings=settings)
    return to_workflow(read_json(path), registry)


def from_png_bytes(
    data: bytes, registry: Registry, name: str = "the PNG", settings: Settings | None = None
) -> Workflow:
    """The workflow a PNG carries, from its bytes (an upload, a file dropped in the editor)."""
    return _from_png(io.BytesIO(data), registry, name, settings)


def _from_png(
    source: Path | BinaryIO,
    registry: Registry,
    path: object = None,
    settings: Settings | None = None,
) -> Workflow:
    path = source if path is None else path
    try:
        texts = read_texts(source)
    except FileNotFoundError:
        raise DocumentError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise DocumentError(f"{path}: cannot read it as a PNG ({exc})") from None
    # Ours first (exact), then what ComfyUI actually ran, then its editor graph.
    for chunk in (OUR_CHUNK, COMFY_PROMPT_CHUNK, COMFY_WORKFLOW_CHUNK):
        if chunk in texts:
            try:
                return to_workflow(parse_json(texts[chunk]), registry)
            except JSONRefused as exc:
                raise DocumentError(f"{path}: its {chunk!r} chunk: {exc}") from None
    # Last: settings to rebuild a workflow from, when no graph came with them.
    if PARAMETERS_CHUNK in texts:
        try:
            return from_infotext(texts[PARAMETERS_CHUNK], registry, settings)
        except DocumentError as exc:
            raise DocumentError(f"{path}: {exc}") from None
    raise DocumentError(
        f"{path}: this PNG carries no workflow (no diffgraph, prompt or workflow text chunk, "
        "and no A1111 parameters)"
    )
