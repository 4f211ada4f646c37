"""A node pack written for the tests: trivial arithmetic, a tensor blob with a size, a
fingerprinted file reader, a slow interruptible node and nodes that fail."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import torch
from pydantic import BaseModel, Field

from engine.context import NodeContext, NodeInputError
from engine.node import Widget, node
from engine.settings import Settings
from engine.types import PortType, tensor_bytes


@dataclass(frozen=True, eq=False)
class Blob(PortType):
    """A port type declared by a pack: a tensor whose bytes the cache counts."""

    type_name = "TEST_BLOB"
    data: torch.Tensor

    def nbytes(self) -> int:
        return tensor_bytes(self.data)


def letters(settings: Settings) -> list[str]:
    return ["a", "b", "c"]


@node("test.number", title="Number", category="test")
class Number:
    class Inputs(BaseModel):
        value: Annotated[int, Widget(step=1)] = Field(1, ge=0, le=1000)

    class Outputs(BaseModel):
        value: int

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(value=inputs.value)


@node("test.add", title="Add", category="test")
class Add:
    class Inputs(BaseModel):
        a: int
        b: int = Field(0, ge=-1000, le=1000)

    class Outputs(BaseModel):
        value: int

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(value=inputs.a + inputs.b)


@node("test.sink", title="Sink", category="test", output=True)
class Sink:
    class Inputs(BaseModel):
        value: int
        label: Literal["x", "y"] = "x"
        letter: Annotated[str, Widget(choices=letters)] = "a"

    class Outputs(BaseModel):
        pass

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        ctx.show(value=inputs.value)
        return self.Outputs()


@node("test.blob", title="Blob", category="test")
class MakeBlob:
    class Inputs(BaseModel):
        kib: int = Field(1, ge=0, le=1 << 20)
        fill: float = 0.0

    class Outputs(BaseModel):
        blob: Blob

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(blob=Blob(torch.full((inputs.kib * 256,), inputs.fill)))


@node("test.blob_sum", title="Blob Sum", category="test", output=True)
class BlobSum:
    class Inputs(BaseModel):
        blob: Blob

    class Outputs(BaseModel):
        total: float

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        total = float(inputs.blob.data.sum())
        ctx.show(total=total)
        return self.Outputs(total=total)


@node("test.read_file", title="Read File", category="test")
class ReadFile:
    """Reads a text file from the input folder; its fingerprint is the file's content."""

    class Inputs(BaseModel):
        name: str = "data.txt"

    class Outputs(BaseModel):
        length: int

    @classmethod
    def fingerprint(cls, widgets: Mapping[str, Any], settings: Settings) -> str:
        return (settings.input_dir / widgets["name"]).read_text()

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(length=len((ctx.settings.input_dir / inputs.name).read_text()))


@node("test.slow", title="Slow", category="test")
class Slow:
    """Counts steps with a pause between them, reporting progress each step."""

    class Inputs(BaseModel):
        value: int = 0
        steps: int = Field(10, ge=1, le=100_000)
        delay: float = Field(0.01, ge=0.0, le=10.0)

    class Outputs(BaseModel):
        value: int

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        ctx.settings.temp_dir.mkdir(parents=True, exist_ok=True)
        (ctx.settings.temp_dir / "slow.started").touch()  # lets a test wait for this point
        for step in range(1, inputs.steps + 1):
            time.sleep(inputs.delay)
            ctx.progress(step, inputs.steps)
        return self.Outputs(value=inputs.value + inputs.steps)


@node("test.fail", title="Fail", category="test")
class Fail:
    class Inputs(BaseModel):
        value: int = 0
        message: str = "boom"

    class Outputs(BaseModel):
        value: int

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        raise RuntimeError(inputs.message)


@node("test.bad_input", title="Bad Input", category="test")
class BadInput:
    class Inputs(BaseModel):
        path: str = "missing.txt"

    class Outputs(BaseModel):
        value: int

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        raise NodeInputError("path", f"no file named {inputs.path!r}")
