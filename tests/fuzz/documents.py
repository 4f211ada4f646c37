"""The valid documents the corpus starts from, in the three formats a server reads: ours,
ComfyUI's API format and ComfyUI's editor format (translated by `formats`, as a client
would have them). Mutating them reaches every part of the readers, not only the first."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from engine.registry import Registry
from engine.workflow import Workflow
from formats.comfy_api import to_comfy_api
from formats.comfy_editor_write import to_comfy_ui
from tests.conftest import REPO
from tests.server.harness import toy_workflow

BASICS = REPO / "workflows" / "image_basics.json"


def cheap_workflow() -> dict[str, Any]:
    """Runs in milliseconds without a model: what a probe queues when its oddity is
    accepted (an empty client_id, say)."""
    return json.loads(BASICS.read_text())


@cache
def base_documents() -> tuple[dict[str, Any], ...]:
    """Each start document in each format. The toy one takes a single step, so a mutation
    that stays valid and gets queued costs little."""
    registry = Registry.discover(plugins=False)
    ours = [cheap_workflow(), toy_workflow(steps=1)]
    found: list[dict[str, Any]] = list(ours)
    for document in ours:
        workflow = Workflow.model_validate(document)
        for translate in (to_comfy_api, to_comfy_ui):
            translated = translate(workflow, registry)
            assert translated is not None, "the start documents have ComfyUI twins"
            found.append(translated)
    return tuple(found)
