"""How a node is declared: one small class, checked when its module is imported.

    @node("image.invert", title="Invert Image", category="image", comfy="ImageInvert")
    class InvertImage:
        class Inputs(BaseModel):
            image: Image
        class Outputs(BaseModel):
            image: Image
        def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs: ...

Inputs whose type is a port type are fed by links; int/float/str/bool/Literal inputs are
widgets with a literal value (which a link of the same type may also feed). Constraints come
from pydantic (`Field(ge=, le=)`) and from a `Widget(...)` marker in `Annotated[...]`.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel

from engine.footprint import CostHook
from engine.settings import Settings
from engine.types import PRIMITIVE_TYPES, PortType, type_name

NODE_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")

ChoiceSource = Callable[[Settings], Sequence[str]]
# Whether a value outside the listed choices is still valid (`x.png [output]`: a file that
# exists in another folder than the one listed): True, False (not such a value), or why a
# value of that kind is refused.
OtherValues = Callable[[Settings, str], bool | str]


class NodeDeclarationError(TypeError):
    """A node class is declared wrongly; raised when its module is imported."""


@dataclass(frozen=True)
class Widget:
    """Editor hints for a widget input, used as `Annotated[int, Widget(step=8)]`."""

    step: float | None = None
    multiline: bool = False
    slider: bool = False
    randomize: bool = False  # a seed: the editor offers "randomize after queue"
    # A fixed list of names, or a function computing them at run time (files on disk).
    choices: ChoiceSource | tuple[str, ...] | None = None
    # A file name inside one of our folders (subfolders allowed): checked before a run.
    file_name: bool = False
    # Values valid besides the listed choices; they are not offered in the editor.
    accepts: OtherValues | None = None


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: type
    widget: bool  # a literal value edited in the UI, or a port fed only by a link
    required: bool
    default: Any = None
    description: str | None = None
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    lt: float | None = None
    multiple_of: float | None = None
    step: float | None = None
    multiline: bool = False
    slider: bool = False
    randomize: bool = False
    static_choices: tuple[Any, ...] | None = None
    dynamic_choices: ChoiceSource | None = None
    nullable: bool = False  # declared `T | None`: null is a value, not a mistake
    file_name: bool = False
    accepts: OtherValues | None = None  # values valid besides the choices

    @property
    def has_choices(self) -> bool:
        return self.static_choices is not None or self.dynamic_choices is not None

    def choices(self, settings: Settings) -> list[Any] | None:
        """The allowed values now (a dynamic list is read afresh, e.g. from disk)."""
        if self.static_choices is not None:
            return list(self.static_choices)
        if self.dynamic_choices is not None:
            return list(self.dynamic_choices(settings))
        return None

    def schema(self, settings: Settings) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": type_name(self.type),
            "kind": "widget" if self.widget else "port",
            "required": self.required,
        }
        if self.widget and not self.required:
            out["default"] = self.default
        bounds = {
            "min": self.ge,
            "max": self.le,
            "exclusive_min": self.gt,
            "exclusive_max": self.lt,
            "multiple_of": self.multiple_of,
        }
        out.update({k: v for k, v in bounds.items() if v is not None})
        for key in ("step", "description"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        for flag in ("multiline", "slider", "randomize"):
            if getattr(self, flag):
                out[flag] = True
        if self.has_choices:
            out["choices"] = self.choices(settings)
            out["dynamic_choices"] = self.dynamic_choices is not None
        return out


@dataclass(frozen=True)
class OutputSpec:
    name: str
    type: type
    description: str | None = None

    def schema(self) -> dict[str, Any]:
        out = {"name": self.name, "type": type_name(self.type)}
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class NodeSpec:
    id: str
    version: int
    title: str
    category: str
    description: str
    is_output: bool
    comfy: str | None
    cls: type
    inputs: Mapping[str, InputSpec] = field(default_factory=dict)
    outputs: Mapping[str, OutputSpec] = field(default_factory=dict)
    fingerprint: Callable[[Mapping[str, Any], Settings], str | None] | None = None
    cost: CostHook | None = None  # memory it needs, said before it runs (engine.footprint)
    pack: str = ""

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "title": self.title,
            "category": self.category,
            "description": self.description,
            "output_node": self.is_output,
            "comfy_class": self.comfy,
            "pack": self.pack,
            "inputs": [i.schema(settings) for i in self.inputs.values()],
            "outputs": [o.schema() for o in self.outputs.values()],
        }


C = TypeVar("C", bound=type)


def node(
    id: str,
    *,
    title: str,
    category: str,
    version: int = 1,
    description: str | None = None,
    output: bool = False,
    comfy: str | None = None,
) -> Callable[[C], C]:
    """Declare a node class. The class gets a `spec` (NodeSpec); mistakes raise
    NodeDeclarationError naming the class."""

    def decorate(cls: C) -> C:
        def fail(why: str) -> NodeDeclarationError:
            return NodeDeclarationError(f"node class {cls.__module__}.{cls.__qualname__}: {why}")

        if not NODE_ID.match(id):
            raise fail(f"id {id!r} must be namespaced lower-case, like 'image.invert'")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise fail(f"version must be a positive int, got {version!r}")
        if not title.strip() or not category.strip():
            raise fail("title and category must not be empty")
        inputs_model = _model_attr(cls, "Inputs", fail)
        outputs_model = _model_attr(cls, "Outputs", fail)
        if not callable(getattr(cls, "run", None)):
            raise fail("has no run(self, inputs, ctx) method")
        fingerprint = getattr(cls, "fingerprint", None)
        if fingerprint is not None and not callable(fingerprint):
            raise fail("fingerprint must be a classmethod (widgets, settings) -> str | None")
        cost = getattr(cls, "cost", None)
        if cost is not None and not callable(cost):
            raise fail("cost must be a classmethod (CostInputs) -> NodeCost")
        spec = NodeSpec(
            id=id,
            version=version,
            title=title,
            category=category,
            description=(description or cls.__doc__ or "").strip(),
            is_output=output,
            comfy=comfy,
            cls=cls,
            inputs={n: _input_spec(n, f, fail) for n, f in inputs_model.model_fields.items()},
            outputs={n: _output_spec(n, f, fail) for n, f in outputs_model.model_fields.items()},
            fingerprint=fingerprint,
            cost=cost,
        )
        cls.spec = spec  # type: ignore[attr-defined]
        return cls

    return decorate


def spec_of(cls: type) -> NodeSpec | None:
    """The spec of a declared node class, or None for any other object."""
    spec = getattr(cls, "spec", None)
    return spec if isinstance(spec, NodeSpec) and spec.cls is cls else None


def _model_attr(cls: type, name: str, fail: Callable[[str], Exception]) -> type[BaseModel]:
    model = getattr(cls, name, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise fail(f"needs a nested `class {name}(BaseModel)`")
    return model


def _input_spec(name: str, info: Any, fail: Callable[[str], Exception]) -> InputSpec:
    ann = info.annotation
    optional = False
    if get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        if len(args) != 1 or len(get_args(ann)) != 2:
            raise fail(f"input {name!r}: only `T | None` unions are allowed, got {ann!r}")
        ann, optional = args[0], True
    hints = next((m for m in info.metadata if isinstance(m, Widget)), Widget())
    required = info.is_required()
    default = None if required else info.default

    if isinstance(ann, type) and issubclass(ann, PortType):
        if not required and default is not None:
            raise fail(f"port input {name!r} can only default to None")
        if hints != Widget():
            raise fail(f"port input {name!r} cannot carry widget hints")
        return InputSpec(name, ann, widget=False, required=required, description=info.description)

    static: tuple[Any, ...] | None = None
    if get_origin(ann) is Literal:
        static = get_args(ann)
        kinds = {type(v) for v in static}
        if len(kinds) != 1 or next(iter(kinds)) not in PRIMITIVE_TYPES:
            raise fail(f"input {name!r}: Literal choices must all be of one of int/float/str/bool")
        ann = next(iter(kinds))
    if ann not in PRIMITIVE_TYPES:
        raise fail(f"input {name!r}: type {ann!r} is neither a port type nor int/float/str/bool")
    if optional and not required and default is not None:
        raise fail(f"input {name!r}: an optional widget must default to None")
    _check_hints(name, ann, hints, static is not None, fail)
    dynamic = hints.choices
    if isinstance(dynamic, tuple):
        static, dynamic = dynamic, None
    bounds = {
        key: next((getattr(m, key) for m in info.metadata if isinstance(m, marker)), None)
        for key, marker in BOUNDS
    }
    return InputSpec(
        name,
        ann,
        widget=True,
        required=required,
        default=default,
        description=info.description,
        step=hints.step,
        multiline=hints.multiline,
        slider=hints.slider,
        randomize=hints.randomize,
        static_choices=static,
        dynamic_choices=dynamic,
        nullable=optional,
        file_name=hints.file_name,
        accepts=hints.accepts,
        **bounds,
    )


BOUNDS = (
    ("ge", at.Ge),
    ("le", at.Le),
    ("gt", at.Gt),
    ("lt", at.Lt),
    ("multiple_of", at.MultipleOf),
)


def _check_hints(
    name: str, ann: Any, hints: Widget, literal: bool, fail: Callable[[str], Exception]
) -> None:
    """Editor hints must fit the widget's type."""
    if hints.choices is not None and (ann is not str or literal):
        raise fail(f"input {name!r}: Widget(choices=...) needs a plain str field")
    if hints.accepts is not None and hints.choices is None:
        raise fail(f"input {name!r}: Widget(accepts=...) widens a choice list; give choices=")
    if (hints.step is not None or hints.slider) and ann not in (int, float):
        raise fail(f"input {name!r}: step/slider only apply to int or float widgets")
    if hints.multiline and ann is not str:
        raise fail(f"input {name!r}: multiline only applies to str widgets")
    if hints.file_name and ann is not str:
        raise fail(f"input {name!r}: file_name only applies to str widgets")


def _output_spec(name: str, info: Any, fail: Callable[[str], Exception]) -> OutputSpec:
    ann = info.annotation
    if not (ann in PRIMITIVE_TYPES or (isinstance(ann, type) and issubclass(ann, PortType))):
        raise fail(f"output {name!r}: type {ann!r} is neither a port type nor int/float/str/bool")
    return OutputSpec(name, ann, info.description)
