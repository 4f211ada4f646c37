"""Constant values, so one number or text can feed several nodes' inputs."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from engine.context import NodeContext
from engine.node import Widget, node


@node("value.int", title="Integer", category="values")
class IntValue:
    """An integer, e.g. a seed shared by several samplers."""

    class Inputs(BaseModel):
        value: Annotated[int, Widget(step=1)] = Field(0, ge=-(2**63), le=2**64 - 1)

    class Outputs(BaseModel):
        value: int

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(value=inputs.value)


@node("value.float", title="Float", category="values")
class FloatValue:
    """A floating-point number."""

    class Inputs(BaseModel):
        value: Annotated[float, Widget(step=0.01)] = 0.0

    class Outputs(BaseModel):
        value: float

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(value=inputs.value)


@node("value.text", title="Text", category="values")
class TextValue:
    """A piece of text, e.g. a prompt shared by several encoders."""

    class Inputs(BaseModel):
        value: Annotated[str, Widget(multiline=True)] = ""

    class Outputs(BaseModel):
        value: str

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(value=inputs.value)


@node("value.bool", title="Boolean", category="values")
class BoolValue:
    """A yes/no switch."""

    class Inputs(BaseModel):
        value: bool = False

    class Outputs(BaseModel):
        value: bool

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(value=inputs.value)
