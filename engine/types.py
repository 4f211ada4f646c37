"""Port types: the values that travel along edges between nodes.

An edge is legal when the output's class is the input's class or a subclass of it. Every
port type is a real class here; widgets (literal inputs) are plain int/float/str/bool.
This module must not import torch: tensors are only annotated, so validating a graph
stays instant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic_core import core_schema

if TYPE_CHECKING:
    import torch
    from pydantic import GetCoreSchemaHandler


def tensor_bytes(tensor: Any) -> int:
    """Bytes held by a tensor, or 0 for None (duck-typed so torch is not imported)."""
    if tensor is None:
        return 0
    return int(tensor.element_size() * tensor.nelement())


class PortType:
    """Base of every value that travels along an edge."""

    type_name: ClassVar[str] = "ANY"  # stable name in schemas; ComfyUI's where one exists
    color: ClassVar[str] = "#888888"  # editor colour of the port

    def nbytes(self) -> int:
        """Bytes this value holds outside the model store (counted by the output cache)."""
        return 0

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # Lets node authors use port types in plain pydantic models: an isinstance check.
        return core_schema.is_instance_schema(cls)


@dataclass(frozen=True, eq=False)
class Image(PortType):
    """A batch of RGB images: float tensor [batch, height, width, 3] with values in [0, 1]."""

    type_name = "IMAGE"
    color = "#64b5f6"
    pixels: torch.Tensor

    def nbytes(self) -> int:
        return tensor_bytes(self.pixels)


@dataclass(frozen=True, eq=False)
class Mask(PortType):
    """A batch of masks: float tensor [batch, height, width], 1 = selected."""

    type_name = "MASK"
    color = "#81c784"
    values: torch.Tensor

    def nbytes(self) -> int:
        return tensor_bytes(self.values)


@dataclass(frozen=True, eq=False)
class Latent(PortType):
    """Latent images [batch, channels, height, width], an optional noise mask
    [batch, 1, height, width] limiting where sampling may change them, and the batch
    positions they came from (so a picked sub-batch keeps its seeds)."""

    type_name = "LATENT"
    color = "#ff9cf9"
    samples: torch.Tensor
    noise_mask: torch.Tensor | None = None
    batch_index: tuple[int, ...] | None = None

    def nbytes(self) -> int:
        return tensor_bytes(self.samples) + tensor_bytes(self.noise_mask)


@dataclass(frozen=True, eq=False)
class ConditioningPart:
    """One text encoding with what modifies it (area, strength, control hints, SDXL
    size conditioning...) in `extras`, keyed by name."""

    embeds: torch.Tensor  # [batch, tokens, width]
    pooled: torch.Tensor | None = None  # [batch, width] (SDXL)
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Conditioning(PortType):
    """What steers the denoiser: one or more encoded prompts, combined at sampling time."""

    type_name = "CONDITIONING"
    color = "#ffa931"
    parts: tuple[ConditioningPart, ...]

    def nbytes(self) -> int:
        return sum(tensor_bytes(p.embeds) + tensor_bytes(p.pooled) for p in self.parts)


class Handle(Protocol):
    """A way back to a model the store holds (`engine.model_store.ModelHandle`): `get()`
    returns the loaded model, loading it again if it was evicted meanwhile."""

    def get(self) -> Any: ...


@dataclass(frozen=True, eq=False)
class LoadedModel(PortType):
    """A reference to weights held by the model store. The store owns the memory (and may
    evict and reload it), so cached outputs holding this reference stay small."""

    handle: Handle
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Model(LoadedModel):
    """The denoiser (UNet) with its prediction type and patches in `config`."""

    type_name = "MODEL"
    color = "#b39ddb"


@dataclass(frozen=True, eq=False)
class Clip(LoadedModel):
    """The text encoder(s) and tokenizer(s)."""

    type_name = "CLIP"
    color = "#ffd500"


@dataclass(frozen=True, eq=False)
class Vae(LoadedModel):
    """The autoencoder between pixel space and latent space."""

    type_name = "VAE"
    color = "#ff6e6e"


@dataclass(frozen=True, eq=False)
class ControlNet(LoadedModel):
    """A ControlNet that adds spatial guidance to the denoiser."""

    type_name = "CONTROL_NET"
    color = "#00d78d"


@dataclass(frozen=True, eq=False)
class UpscaleModel(LoadedModel):
    """A super-resolution network (ESRGAN, Real-ESRGAN, SwinIR...), its architecture and
    scale in `config`."""

    type_name = "UPSCALE_MODEL"
    color = "#9c6ad4"


@dataclass(frozen=True, eq=False)
class Noise(PortType):
    """The starting noise of a custom sampler: Gaussian noise from `seed` (per batch item,
    seed + index), or none at all (`seed` None) for a latent that is noisy already."""

    type_name = "NOISE"
    color = "#b0b0b0"
    seed: int | None


@dataclass(frozen=True, eq=False)
class Sigmas(PortType):
    """The noise levels a custom sampler steps through, descending (usually to 0)."""

    type_name = "SIGMAS"
    color = "#cdffcd"
    values: torch.Tensor

    def nbytes(self) -> int:
        return tensor_bytes(self.values)


@dataclass(frozen=True, eq=False)
class SamplerChoice(PortType):
    """Which sampler algorithm a custom sampler runs, with its options (eta, ...)."""

    type_name = "SAMPLER"
    color = "#ecb4b4"
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Guider(PortType):
    """What steers a custom sampler: a model, the prompt, and classifier-free guidance
    against the negative (`negative` None: the prompt alone, as BasicGuider)."""

    type_name = "GUIDER"
    color = "#66ffff"
    model: Model
    positive: Conditioning
    negative: Conditioning | None = None
    cfg: float = 1.0

    def nbytes(self) -> int:
        return self.positive.nbytes() + (self.negative.nbytes() if self.negative else 0)


# Widget value types and their schema names. bool is listed before int on purpose:
# bool is a subclass of int in Python and must not be taken for one.
PRIMITIVE_TYPES: dict[type, str] = {bool: "BOOLEAN", int: "INT", float: "FLOAT", str: "STRING"}


def type_name(tp: type) -> str:
    """The schema name of a port or widget type."""
    if tp in PRIMITIVE_TYPES:
        return PRIMITIVE_TYPES[tp]
    if isinstance(tp, type) and issubclass(tp, PortType):
        return tp.type_name
    raise TypeError(f"{tp!r} is neither a port type nor a widget type")


def can_connect(source: type, target: type) -> bool:
    """Whether an output of type `source` may feed an input of type `target`."""
    if source is bool or target is bool:
        return source is target
    if source is int and target is float:
        return True
    return issubclass(source, target)
