"""README's list of ComfyUI node ids is the registry's, and our aliases are ComfyUI's."""

from pathlib import Path

from formats.comfy_coverage import (
    BEGIN,
    END,
    accepted_ids,
    all_comfy_ids,
    coverage_markdown,
    rewrite,
)

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_lists_exactly_the_comfyui_nodes_the_registry_accepts():
    readme = README.read_text()
    assert rewrite(README, coverage_markdown(accepted_ids())) == readme, (
        "README's ComfyUI node list is stale: run `python -m formats.comfy_coverage`"
    )


def test_every_comfy_alias_is_a_real_comfyui_node_id():
    unknown = accepted_ids() - all_comfy_ids()
    assert not unknown, f"aliases ComfyUI does not have (typo?): {sorted(unknown)}"


def test_the_section_counts_what_is_accepted_and_names_what_is_missing():
    section = coverage_markdown({"KSampler", "SaveImage"})
    assert section.startswith(BEGIN) and section.endswith(END)
    assert "**2 of " in section
    assert "`ImageScaleBy`" in section.split("Not yet")[1]  # a missing one is named
    assert "`KSampler`" in section.split("Not yet")[0]
