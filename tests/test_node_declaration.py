"""Declaring nodes: the spec and schema a class yields, and loud failures for bad ones."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from engine.node import NodeDeclarationError, Widget, node
from engine.settings import Settings
from engine.types import Image, Latent, can_connect
from tests.packs.testpack import Sink


def files(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.input_dir.glob("*.txt"))


@node("demo.everything", title="Everything", category="demo", version=3, comfy="Every")
class Everything:
    """Shows every kind of input."""

    class Inputs(BaseModel):
        image: Image
        latent: Latent | None = None
        steps: Annotated[int, Widget(step=1, slider=True)] = Field(20, ge=1, le=150)
        cfg: Annotated[float, Widget(step=0.5)] = Field(7.0, gt=0.0, lt=30.0)
        prompt: Annotated[str, Widget(multiline=True)] = Field("", description="What to draw")
        seed: Annotated[int, Widget(randomize=True)] = Field(0, ge=0)
        sampler: Literal["euler", "ddim"] = "euler"
        name: Annotated[str, Widget(choices=files)] = "a.txt"
        flag: bool = False

    class Outputs(BaseModel):
        image: Image
        count: int

    def run(self, inputs: Inputs, ctx: object) -> Outputs:
        return self.Outputs(image=inputs.image, count=1)


def test_spec_and_schema(settings: Settings) -> None:
    (settings.input_dir / "a.txt").write_text("")
    (settings.input_dir / "b.txt").write_text("")
    spec = Everything.spec  # type: ignore[attr-defined]
    assert (spec.id, spec.version, spec.comfy, spec.is_output) == (
        "demo.everything",
        3,
        "Every",
        False,
    )
    assert spec.description == "Shows every kind of input."
    schema = spec.schema(settings)
    by_name = {i["name"]: i for i in schema["inputs"]}
    assert by_name["image"] == {"name": "image", "type": "IMAGE", "kind": "port", "required": True}
    assert by_name["latent"]["required"] is False and by_name["latent"]["kind"] == "port"
    assert by_name["steps"] == {
        "name": "steps",
        "type": "INT",
        "kind": "widget",
        "required": False,
        "default": 20,
        "min": 1,
        "max": 150,
        "step": 1,
        "slider": True,
    }
    assert by_name["cfg"]["exclusive_min"] == 0.0 and by_name["cfg"]["exclusive_max"] == 30.0
    assert by_name["prompt"]["multiline"] and by_name["prompt"]["description"] == "What to draw"
    assert by_name["seed"]["randomize"] is True
    assert by_name["sampler"]["choices"] == ["euler", "ddim"]
    assert by_name["sampler"]["dynamic_choices"] is False
    assert by_name["name"]["choices"] == ["a.txt", "b.txt"]  # read from disk now
    assert by_name["name"]["dynamic_choices"] is True
    assert by_name["flag"]["type"] == "BOOLEAN"
    assert schema["outputs"] == [
        {"name": "image", "type": "IMAGE"},
        {"name": "count", "type": "INT"},
    ]
    assert list(by_name) == [
        "image",
        "latent",
        "steps",
        "cfg",
        "prompt",
        "seed",
        "sampler",
        "name",
        "flag",
    ]


def test_output_flag_and_pack_spec() -> None:
    assert Sink.spec.is_output  # type: ignore[attr-defined]


def test_edge_rules() -> None:
    assert can_connect(Image, Image) and can_connect(int, float)
    assert not can_connect(Image, Latent) and not can_connect(float, int)
    assert not can_connect(bool, int) and not can_connect(int, bool)


def declare(**kwargs: object):
    """A fresh class under @node with the given pieces (for the failure cases)."""
    node_id = kwargs.pop("id", "demo.bad")
    body: dict[str, object] = {
        "Inputs": type("Inputs", (BaseModel,), {"__annotations__": {"x": int}, "x": 1}),
        "Outputs": type("Outputs", (BaseModel,), {"__annotations__": {"y": int}}),
        "run": lambda self, inputs, ctx: None,
    }
    body.update(kwargs)
    body = {k: v for k, v in body.items() if v is not None}
    cls = type("BadNode", (), body)
    return node(str(node_id), title="Bad", category="demo")(cls)


def inputs(annotations: dict[str, object], **defaults: object) -> type[BaseModel]:
    return type("Inputs", (BaseModel,), {"__annotations__": annotations, **defaults})


@pytest.mark.parametrize(
    ("pieces", "message"),
    [
        ({"id": "NoNamespace"}, "must be namespaced"),
        ({"Inputs": None}, "class Inputs(BaseModel)"),
        ({"Outputs": int}, "class Outputs(BaseModel)"),
        ({"run": None}, "has no run"),
        ({"Inputs": inputs({"image": Image}, image=None)}, None),  # optional port: fine
        ({"Inputs": inputs({"image": Image | None}, image=3)}, "can only default to None"),
        ({"Inputs": inputs({"d": dict})}, "neither a port type nor int/float/str/bool"),
        ({"Inputs": inputs({"u": int | str})}, "only `T | None` unions"),
        ({"Inputs": inputs({"m": Literal["a", 1]})}, "Literal choices must all be"),
        ({"Inputs": inputs({"n": Annotated[int, Widget(choices=files)]})}, "plain str field"),
        ({"Inputs": inputs({"s": Annotated[str, Widget(step=1)]})}, "step/slider only"),
        ({"Inputs": inputs({"i": Annotated[int, Widget(multiline=True)]})}, "multiline only"),
        (
            {"Inputs": inputs({"a": Annotated[str, Widget(accepts=lambda s, v: True)]})},
            "give choices",
        ),
        ({"Inputs": inputs({"i": Annotated[Image, Widget(step=1)]})}, "cannot carry widget"),
        ({"Outputs": inputs({"o": list})}, "output 'o'"),
        ({"fingerprint": 3}, "fingerprint must be"),
    ],
)
def test_bad_declarations_fail_loudly_naming_the_class(
    pieces: dict[str, object], message: str | None
) -> None:
    if message is None:
        declare(**pieces)
        return
    with pytest.raises(NodeDeclarationError) as err:
        declare(**pieces)
    assert message in str(err.value)
    assert "BadNode" in str(err.value)


def test_bad_header_fields() -> None:
    cls = type("Header", (), {"Inputs": inputs({}), "Outputs": inputs({}), "run": lambda s: 0})
    with pytest.raises(NodeDeclarationError, match="version"):
        node("demo.h", title="H", category="demo", version=0)(cls)
    with pytest.raises(NodeDeclarationError, match="title and category"):
        node("demo.h", title=" ", category="demo")(cls)


@node("demo.sizes", title="Sizes", category="demo")
class Sizes:
    class Inputs(BaseModel):
        width: Annotated[int, Widget(step=8)] = Field(512, ge=16, multiple_of=8)
        method: Annotated[str, Widget(choices=("nearest", "bilinear"))] = "nearest"

    class Outputs(BaseModel):
        width: int

    def run(self, inputs: Inputs, ctx: object) -> Outputs:
        return self.Outputs(width=inputs.width)


def test_multiple_of_and_fixed_choice_tuples(settings: Settings) -> None:
    from engine.registry import Registry
    from engine.validate import validate
    from engine.workflow import Workflow, WorkflowNode

    spec = Sizes.spec  # type: ignore[attr-defined]
    by_name = {i["name"]: i for i in spec.schema(settings)["inputs"]}
    assert by_name["width"]["multiple_of"] == 8
    assert by_name["method"]["choices"] == ["nearest", "bilinear"]
    assert by_name["method"]["dynamic_choices"] is False
    registry = Registry()
    registry.add_pack([Sizes], "demo")
    doc = Workflow(
        nodes={"1": WorkflowNode(type="demo.sizes", inputs={"width": 100, "method": "cubic"})}
    )
    problems = validate(doc, registry, settings, targets=["1"])
    assert sorted((p.code, p.input) for p in problems) == [
        ("value_not_in_choices", "method"),
        ("value_out_of_range", "width"),
    ]
    assert "multiple of 8" in next(p.message for p in problems if p.input == "width")
