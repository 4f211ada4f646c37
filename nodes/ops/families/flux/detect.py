"""Recognising Flux.1's files in the layouts users have, from key -> shape maps (header reads).

- a transformer alone (`models/diffusion_models/`): BFL layout, bare or under a prefix such
  as `model.diffusion_model.`, or diffusers layout; dev has the guidance embedding, schnell not;
- a text encoder alone (`models/text_encoders/`): T5 (transformers' `encoder.block.N…`,
  `shared.weight`) or CLIP-L (transformers' `text_model.…`), either possibly prefixed;
- the AE alone (`models/vae/`): LDM names, 16 latent channels, no quant_conv;
- an all-in-one checkpoint: the BFL transformer under `model.diffusion_model.`, CLIP-L under
  `text_encoders.clip_l.[transformer.]`, T5 under `text_encoders.t5xxl.[transformer.]` and
  the AE under `vae.` (the parts besides the transformer may be missing);
- a diffusers folder: model_index.json naming a Flux pipeline, one subfolder per component.

Each part comes back with where it sits (a key prefix, or a folder's subfolder) and its config
(`config.py`, `component_configs.py`: from the weights, completed by the config our files
carry in their metadata). The wrong kind of file raises `WrongFileError` naming what it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from nodes.ops.families.flux import identify as I
from nodes.ops.families.flux.component_configs import (
    ae_config_from_shapes,
    clip_config_from_shapes,
    t5_config_from_shapes,
)
from nodes.ops.families.flux.config import embedded_config, flux_config_from_shapes
from nodes.ops.families.flux.layout import (
    AE_PREFIX,
    CLIP_L_PREFIXES,
    T5_PREFIXES,
    TRANSFORMER_PREFIX,
)

Shapes = Mapping[str, Sequence[int]]
Metadata = Mapping[str, str]
Variant = Literal["dev", "schnell"]
_OTHER_CLIP_WIDTHS = {w for w, name in I.CLIP_NAMES.items() if name != "CLIP-L"}  # H and G


@dataclass(frozen=True)
class TransformerWeights:
    prefix: str  # key prefix in the file ("" when bare); the subfolder in a diffusers folder
    layout: Literal["bfl", "diffusers"]
    variant: Variant  # dev embeds the guidance scale, schnell does not
    config: dict[str, Any]  # FluxTransformer2DModel(**config)


@dataclass(frozen=True)
class TextEncoderWeights:
    kind: Literal["clip_l", "t5"]
    prefix: str  # CLIP: the part before `text_model.`; T5: before `encoder.`/`shared.`
    config: dict[str, Any]  # CLIPTextConfig(**config) / T5Config(**config)


@dataclass(frozen=True)
class AEWeights:
    prefix: str  # in LDM layout (convert with layout.ae_from_ldm)
    config: dict[str, Any]  # AutoencoderKL(**config)


@dataclass(frozen=True)
class FluxCheckpoint:
    """An all-in-one file (layout "single_file") or a diffusers folder ("diffusers")."""

    layout: Literal["single_file", "diffusers"]
    transformer: TransformerWeights
    clip_l: TextEncoderWeights | None
    t5: TextEncoderWeights | None
    ae: AEWeights | None

    @property
    def components(self) -> dict[str, str]:
        """diffusers component name -> key prefix (or subfolder), for the parts present."""
        parts = {
            "transformer": self.transformer,
            "text_encoder": self.clip_l,
            "text_encoder_2": self.t5,
            "vae": self.ae,
        }
        return {name: part.prefix for name, part in parts.items() if part is not None}

    @property
    def complete(self) -> bool:
        return len(self.components) == 4

    def keys_of(self, component: str, keys: Iterable[str]) -> list[str]:
        """The keys (of a single file) that belong to `component`."""
        prefix = self.components[component]
        return [k for k in keys if k.startswith(prefix)]


def _transformer_at(
    shapes: Shapes, prefix: str, layout: Literal["bfl", "diffusers"], metadata: Metadata
) -> TransformerWeights:
    config = flux_config_from_shapes(shapes, embedded_config(metadata), prefix)
    variant: Variant = "dev" if config["guidance_embeds"] else "schnell"
    return TransformerWeights(prefix, layout, variant, config)


def detect_transformer(shapes: Shapes, metadata: Metadata | None = None) -> TransformerWeights:
    """A Flux transformer file (alone, or the transformer of an all-in-one file)."""
    metadata = metadata or {}
    bfl = I.find_prefix(shapes, *I.BFL_ANCHORS)
    if bfl is not None and len(shapes[bfl + I.BFL_ANCHORS[0]]) == 2:
        return _transformer_at(shapes, bfl, "bfl", metadata)
    theirs = I.find_prefix(shapes, *I.DIFFUSERS_ANCHORS)
    if theirs is not None and any(
        k.startswith(f"{theirs}single_transformer_blocks.") for k in shapes
    ):
        return _transformer_at(shapes, theirs, "diffusers", metadata)
    raise I.refuse(shapes, "a Flux transformer")


def _t5_at(shapes: Shapes, prefix: str, metadata: Metadata) -> TextEncoderWeights:
    override = embedded_config(metadata, "text_encoder_2")
    return TextEncoderWeights("t5", prefix, t5_config_from_shapes(shapes, prefix, override))


def detect_t5(shapes: Shapes, metadata: Metadata | None = None) -> TextEncoderWeights:
    """A T5 encoder file in transformers' names (`encoder.block.N…`), possibly prefixed."""
    prefix = I.find_prefix(shapes, *I.T5_ANCHORS)
    if prefix is None:
        raise I.refuse(shapes, "a T5 text encoder")
    return _t5_at(shapes, prefix, metadata or {})


def _clip_at(shapes: Shapes, prefix: str, metadata: Metadata) -> TextEncoderWeights:
    override = embedded_config(metadata, "text_encoder")
    return TextEncoderWeights("clip_l", prefix, clip_config_from_shapes(shapes, prefix, override))


def detect_clip_l(shapes: Shapes, metadata: Metadata | None = None) -> TextEncoderWeights:
    """A CLIP-L text encoder file in transformers' names (`text_model.…`), possibly prefixed.
    Other CLIP widths are accepted (tiny models), except CLIP-H's and CLIP-G's."""
    base = I.find_prefix(shapes, *I.CLIP_ANCHORS)
    width = int(shapes[base + I.CLIP_ANCHORS[0]][1]) if base is not None else 0
    if base is None or width in _OTHER_CLIP_WIDTHS:
        raise I.refuse(shapes, "a CLIP-L text encoder")
    return _clip_at(shapes, base.removesuffix("text_model."), metadata or {})


def _ae_at(shapes: Shapes, prefix: str, metadata: Metadata) -> AEWeights:
    return AEWeights(
        prefix, ae_config_from_shapes(shapes, prefix, embedded_config(metadata, "vae"))
    )


def detect_ae(shapes: Shapes, metadata: Metadata | None = None) -> AEWeights:
    """Flux's AE in LDM layout: 16 latent channels and no quant_conv, possibly prefixed."""
    prefix = I.find_prefix(shapes, *I.AE_ANCHORS, I.LDM_AE_BLOCK)
    if (
        prefix is None
        or int(shapes[prefix + I.AE_ANCHORS[0]][1]) != 16
        or prefix + "quant_conv.weight" in shapes
    ):
        raise I.refuse(shapes, "Flux's 16-channel AE")
    return _ae_at(shapes, prefix, metadata or {})


def _first(shapes: Shapes, prefixes: Sequence[str], anchors: Sequence[str]) -> str | None:
    return next((p for p in prefixes if all(p + a in shapes for a in anchors)), None)


def detect_checkpoint(shapes: Shapes, metadata: Metadata | None = None) -> FluxCheckpoint:
    """An all-in-one Flux checkpoint; its text encoders and AE may be missing (None)."""
    metadata = metadata or {}
    if I.find_prefix(shapes, *I.BFL_ANCHORS) != TRANSFORMER_PREFIX:
        raise I.refuse(shapes, "a Flux all-in-one checkpoint")
    transformer = _transformer_at(shapes, TRANSFORMER_PREFIX, "bfl", metadata)
    clip = _first(shapes, [p + "text_model." for p in CLIP_L_PREFIXES], I.CLIP_ANCHORS)
    t5 = _first(shapes, T5_PREFIXES, I.T5_ANCHORS)
    ae = _first(shapes, (AE_PREFIX,), (*I.AE_ANCHORS, I.LDM_AE_BLOCK))
    return FluxCheckpoint(
        layout="single_file",
        transformer=transformer,
        clip_l=_clip_at(shapes, clip.removesuffix("text_model."), metadata) if clip else None,
        t5=_t5_at(shapes, t5, metadata) if t5 else None,
        ae=_ae_at(shapes, ae, metadata) if ae else None,
    )


def _saved_config(folder: Path) -> dict[str, Any] | None:
    """A subfolder's config.json as constructor arguments (no `_` keys, lists as tuples)."""
    path = folder / "config.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in data.items()
        if not k.startswith("_") and v is not None
    }


def detect_folder(path: str | Path) -> FluxCheckpoint:
    """A diffusers-format Flux folder: model_index.json naming a Flux pipeline, transformer/,
    text_encoder/ (CLIP-L), text_encoder_2/ (T5), vae/; parts but the transformer optional."""
    root = Path(path)
    index = root / "model_index.json"
    expected = "a diffusers Flux folder (model_index.json naming FluxPipeline)"
    if not index.is_file():
        raise I.WrongFileError(f"a folder without model_index.json ({root})", expected)
    pipeline = str(json.loads(index.read_text(encoding="utf-8")).get("_class_name"))
    if not pipeline.startswith("Flux"):
        raise I.WrongFileError(f"a diffusers {pipeline} folder", expected)
    config = _saved_config(root / "transformer")
    if config is None:
        raise I.WrongFileError(f"a {pipeline} folder without transformer/config.json", expected)
    variant: Variant = "dev" if config.get("guidance_embeds") else "schnell"
    clip, t5, ae = (_saved_config(root / s) for s in ("text_encoder", "text_encoder_2", "vae"))
    return FluxCheckpoint(
        layout="diffusers",
        transformer=TransformerWeights("transformer", "diffusers", variant, config),
        clip_l=TextEncoderWeights("clip_l", "text_encoder", clip) if clip else None,
        t5=TextEncoderWeights("t5", "text_encoder_2", t5) if t5 else None,
        ae=AEWeights("vae", ae) if ae else None,
    )
