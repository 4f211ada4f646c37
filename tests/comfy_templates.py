"""ComfyUI's official workflow templates (PyPI `comfyui-workflow-templates-json`, a dev
dependency), read and judged the way tests/test_comfy_template_catalogue.py checks them.

`python -m tests.comfy_templates` prints the counts README quotes.

A template is judged in three steps: it imports (our reader turns its editor JSON,
subgraphs and all, into our document), it uses only nodes we have (else validation names
each node whose type we lack), and it validates. Its model names point at files nobody has
here: a file-choice widget (a list read from a models folder) holding an absent name is a
missing file, which a user fixes by downloading it, not a fault in the format. Every other
problem counts as a failure to validate.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import comfyui_workflow_templates_json

from engine.registry import Registry
from engine.settings import Settings
from engine.validate import Problem, validate
from engine.workflow import Workflow
from formats.comfy_api import is_comfy_ui
from formats.load import to_workflow

FOLDER = Path(comfyui_workflow_templates_json.__file__).parent / "templates"

# Templates of our families (SD1.5/SDXL/Flux images) that use only nodes we have: each runs
# in the catalogue test on tiny models saved under the file names it asks for.
RUNNABLE = (
    "flux1_krea_dev.json",
    "flux_dev_checkpoint_example.json",
    "flux_dev_full_text_to_image.json",
    "flux_schnell.json",
    "flux_schnell_full_text_to_image.json",
    "image_sdxl_simple.json",
    "sdxl_refiner_prompt_example.json",
    "sdxl_simple_example.json",
)


def template_names() -> list[str]:
    """Every workflow in the package (it also ships index and search files)."""
    return sorted(p.name for p in FOLDER.glob("*.json") if is_comfy_ui(read(p.name)))


def read(name: str) -> Any:
    return json.loads((FOLDER / name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Verdict:
    workflow: Workflow
    unknown: list[Problem]  # a node type we lack, one per such node
    missing_files: list[Problem]
    failures: list[Problem]  # everything else validation found

    @property
    def validated(self) -> bool:
        return not self.unknown and not self.failures


def judge(name: str, registry: Registry, settings: Settings) -> Verdict:
    workflow = to_workflow(read(name), registry)
    problems = validate(workflow, registry, settings)
    unknown = [p for p in problems if p.code == "unknown_node_type"]
    missing = [p for p in problems if is_missing_file(p, workflow, registry)]
    failures = [p for p in problems if p not in unknown and p not in missing]
    return Verdict(workflow, unknown, missing, failures)


def is_missing_file(problem: Problem, workflow: Workflow, registry: Registry) -> bool:
    """A file-choice widget naming a file that is not in its models folder."""
    if problem.code != "value_not_in_choices" or problem.node is None or problem.input is None:
        return False
    spec = registry.get(workflow.nodes[problem.node].type)
    inp = spec.inputs.get(problem.input) if spec else None
    return inp is not None and inp.dynamic_choices is not None


def counts(registry: Registry, settings: Settings) -> dict[str, int]:
    names = template_names()
    verdicts = [judge(name, registry, settings) for name in names]
    return {
        "templates": len(names),
        "imported": len(verdicts),  # judge raises on a template that does not import
        "only_our_nodes": sum(not v.unknown for v in verdicts),
        "validated": sum(v.validated for v in verdicts),
        "run": len(RUNNABLE),
    }


if __name__ == "__main__":
    home = Path(tempfile.mkdtemp())  # no models: every model name is a missing file
    found = counts(Registry.discover(plugins=False), Settings.at(home))
    version = metadata.version("comfyui-workflow-templates-json")
    line = " / ".join(f"{k} {v}" for k, v in found.items())
    print(f"{line} (comfyui-workflow-templates-json {version})", file=sys.stdout)
