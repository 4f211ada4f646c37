"""Models with their LoRAs, whatever the family: adding a LoRA file to a model and its text
encoders (checked against their shapes), and using a model patched in place for the
duration of the work. Which layer a LoRA's names mean is the family's business
(`Family.lora`: kohya/A1111 and diffusers/PEFT names, Flux's fused BFL layers).

A file none of whose layers fits the model is refused, naming the file, how many layers
matched nothing and one of their keys. A file of which only some layers fit is applied
for those, and the rest are reported (`warn`, and the log, as ComfyUI logs "lora key not
loaded"): a LoRA made for a close relative often carries a few layers the model lacks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any, Protocol

import torch

from engine.model_store import ModelKey, ModelStore, file_fingerprint
from engine.types import Clip, Model
from nodes.ops.families.registry import family_of
from nodes.ops.sampling.compiled import compiled, unchanged
from nodes.ops.text.encoding import TextEncoder, TextEncoders
from nodes.ops.weights.checkpoint_io import CheckpointError, read_state_dict
from nodes.ops.weights.lora import (
    LoraFile,
    LoraLayer,
    LoraPatch,
    deltas,
    matching,
    parse_lora,
    patched,
    targets,
)
from nodes.ops.weights.lora_keys import is_text_layer
from nodes.ops.weights.merge import MergePatch, blended

log = logging.getLogger(__name__)
Warn = Callable[[str], None]


def lora_file(store: ModelStore, patch: LoraPatch) -> LoraFile:
    """A LoRA file's layers, parsed once and kept by the model store."""
    key = ModelKey("lora", patch.path, patch.fingerprint)
    parsed: LoraFile = store.get(key, lambda: parse_lora(read_state_dict(patch.path)[0]))
    return parsed


def lora_layers(store: ModelStore, patch: LoraPatch) -> dict[str, LoraLayer]:
    return lora_file(store, patch).layers


def network_lora(
    model: Model, network: Any, layers: dict[str, LoraLayer]
) -> tuple[dict[str, str], dict[str, LoraLayer]]:
    """(LoRA name -> the network's parameter, the layers in those names) for this family."""
    return family_of(model.config).lora(network, layers)


def encoder_prefixes(family: str, encoder: TextEncoder) -> list[str]:
    if family in ("sdxl", "flux"):  # the first encoder te1 (CLIP-L), the second te2
        return ["lora_te1_"] if encoder.name == "clip_l" else ["lora_te2_"]
    return ["lora_te_", "lora_te1_"]


def encoder_names(family: str, encoder: TextEncoder) -> dict[str, str]:
    """LoRA names of a text encoder's layers. LoRA files name them as in the HF model with
    its `text_model.` wrapper, which transformers 5's CLIPTextModel no longer has."""
    model = encoder.model
    wrapped = hasattr(model, "text_model")
    aliases = {} if wrapped else {p: f"text_model.{p}" for p, _ in model.named_modules() if p}
    names: dict[str, str] = {}
    for prefix in encoder_prefixes(family, encoder):
        names.update(targets(model, prefix, aliases))
    return names


def _merge(into: dict[str, torch.Tensor], more: dict[str, torch.Tensor]) -> None:
    for name, update in more.items():
        into[name] = into[name] + update if name in into else update


def unet_updates(model: Model, unet: Any, store: ModelStore) -> dict[str, torch.Tensor]:
    updates: dict[str, torch.Tensor] = {}
    for patch in model.config.get("patches", ()):
        names, layers = network_lora(model, unet, lora_layers(store, patch))
        _merge(updates, deltas(layers, names, unet, patch.strength, updates))
    return updates


def encoder_updates(
    clip: Clip, encoders: TextEncoders, store: ModelStore
) -> list[dict[str, torch.Tensor]]:
    per_encoder: list[dict[str, torch.Tensor]] = [{} for _ in encoders.encoders]
    for patch in clip.config.get("patches", ()):
        layers = lora_layers(store, patch)
        for updates, encoder in zip(per_encoder, encoders.encoders, strict=True):
            names = encoder_names(encoders.family, encoder)
            _merge(updates, deltas(layers, names, encoder.model, patch.strength, updates))
    return per_encoder


class NetworkHook(Protocol):
    """What a model patch node (FreeU...) adds around the network's use, in config["hooks"]."""

    def applied(self, network: Any) -> AbstractContextManager[Any]: ...


@contextmanager
def unet_in_use(model: Model, store: ModelStore, compile: bool = False) -> Iterator[Any]:
    """The network with the model's patches applied for the block; with `compile`, a
    compiled network where the model adds nothing to it (see `sampling.compiled`)."""
    with _unet_weights(model, store) as unet, ExitStack() as hooks:
        for hook in model.config.get("hooks", ()):
            hooks.enter_context(hook.applied(unet))
        yield compiled(unet) if compile and unchanged(model.config) else unet


@contextmanager
def _unet_weights(model: Any, store: ModelStore) -> Iterator[Any]:
    """The network computing with this model's weights: its merge and LoRAs applied."""
    merge: MergePatch | None = model.config.get("merge")
    if merge is None:
        unet = model.handle.get()
        with patched(unet, unet_updates(model, unet, store)):
            yield unet
        return
    with (
        _unet_weights(merge.first, store) as first,
        _unet_weights(merge.second, store) as second,
    ):
        _distinct(first, second)
        updates = unet_updates(model, first, store)  # LoRAs added after the merge count whole
        with (
            patched(first, updates),
            patched(second, updates),
            blended(first, second, merge.ratio),
        ):
            yield first


@contextmanager
def clip_in_use(clip: Any, store: ModelStore) -> Iterator[TextEncoders]:
    merge: MergePatch | None = clip.config.get("merge")
    if merge is None:
        encoders: TextEncoders = clip.handle.get()
        updates = encoder_updates(clip, encoders, store)
        with _all_patched([(e.model, u) for e, u in zip(encoders.encoders, updates, strict=True)]):
            yield encoders
        return
    with clip_in_use(merge.first, store) as first, clip_in_use(merge.second, store) as second:
        pairs = list(zip(first.encoders, second.encoders, strict=True))
        updates = encoder_updates(clip, first, store)
        patches = [(e.model, u) for pair, u in zip(pairs, updates, strict=True) for e in pair]
        with _all_patched(patches), ExitStack() as stack:
            for mine, other in pairs:
                _distinct(mine.model, other.model)
                stack.enter_context(blended(mine.model, other.model, merge.ratio))
            yield first


def _distinct(first: Any, second: Any) -> None:
    if first is second:  # Model Merge Simple folds a model merged with itself into LoRAs
        raise ValueError("a merge whose two sides share one network cannot be blended")


@contextmanager
def _all_patched(pairs: list[tuple[Any, dict[str, torch.Tensor]]]) -> Iterator[None]:
    if not pairs:
        yield
        return
    (module, updates), rest = pairs[0], pairs[1:]
    with patched(module, updates), _all_patched(rest):
        yield


def _unet_fit(model: Model, file: LoraFile) -> tuple[set[str], set[str]]:
    network = model.handle.get()
    names, layers = network_lora(model, network, file.layers)
    hits, misfits = matching(layers, names, network)
    # A fused layer the family split into the network's parts was recognised by name;
    # its parts' shapes were checked above, so it counts under the file's own name.
    split = {n for n in file.layers if n not in layers}
    return (hits & set(file.layers)) | split, misfits


def _clip_fit(clip: Clip, file: LoraFile) -> tuple[set[str], set[str]]:
    encoders: TextEncoders = clip.handle.get()
    hits: set[str] = set()
    misfits: set[str] = set()
    for encoder in encoders.encoders:
        fit, misfit = matching(file.layers, encoder_names(encoders.family, encoder), encoder.model)
        hits |= fit
        misfits |= misfit
    return hits, misfits


def _check(path: Path, file: LoraFile, family: Any, hits: set[str], misfits: set[str]) -> None:
    """Refuse a file that does not fit the model at all (naming why)."""
    if not file.layers:
        sample = f" (e.g. {file.unread[0]!r})" if file.unread else ""
        raise CheckpointError(
            path,
            f"not a LoRA: none of its {file.keys} keys is a LoRA, LoHa or LoKr tensor{sample}",
        )
    if misfits:
        bad = sorted(misfits)[0]
        raise CheckpointError(
            path,
            f"this LoRA does not fit this {family} model (layer "
            f"{file.sources.get(bad, bad)!r} has another shape): is it made for another "
            "model family?",
        )
    if not hits:
        example = file.sources[sorted(file.layers)[0]]
        raise CheckpointError(
            path,
            f"this LoRA matches no layer of this {family} model: none of its "
            f"{len(file.layers)} layers matched (e.g. {example!r}). Is it made for another "
            "model family?",
        )


def _report(path: Path, file: LoraFile, missed: list[str], warn: Warn | None) -> None:
    """Say which parts of a partly fitting file were not applied."""
    parts = []
    if missed:
        example = file.sources.get(missed[0], missed[0])
        parts.append(
            f"{len(missed)} of its {len(file.layers)} layers matched no layer of this model "
            f"(e.g. {example!r})"
        )
    if file.unread:
        parts.append(
            f"{len(file.unread)} keys are of no LoRA format we read (e.g. {file.unread[0]!r})"
        )
    if not parts:
        return
    message = f"LoRA {path.name}: {' and '.join(parts)}; they were not applied"
    log.warning(message)
    if warn is not None:
        warn(message)


def _with_patch(value: Any, patch: LoraPatch) -> Any:
    config = {**value.config, "patches": (*value.config.get("patches", ()), patch)}
    return type(value)(value.handle, config)


def add_lora(
    path: Path,
    model: Model,
    clip: Clip,
    strength_model: float,
    strength_clip: float,
    store: ModelStore,
    *,
    warn: Warn | None = None,
) -> tuple[Model, Clip]:
    """The model and CLIP with the LoRA file at `path` added at these strengths. Layers
    of the file that fit neither are reported through `warn` (and the log)."""
    fingerprint = file_fingerprint(path)
    file = lora_file(store, LoraPatch(str(path), fingerprint, 1.0))
    unet_hits, unet_misfits = _unet_fit(model, file) if file.layers else (set(), set())
    clip_hits, clip_misfits = _clip_fit(clip, file) if file.layers else (set(), set())
    hits = unet_hits | clip_hits
    _check(path, file, model.config.get("family"), hits, unet_misfits | clip_misfits)
    _report(path, file, sorted(set(file.layers) - hits), warn)
    if strength_model != 0 and unet_hits:
        model = _with_patch(model, LoraPatch(str(path), fingerprint, strength_model))
    if strength_clip != 0 and clip_hits:
        clip = _with_patch(clip, LoraPatch(str(path), fingerprint, strength_clip))
    return model, clip


def add_model_lora(
    path: Path, model: Model, strength: float, store: ModelStore, *, warn: Warn | None = None
) -> Model:
    """The model with the LoRA file at `path` added (LoraLoaderModelOnly): its text
    encoder layers are left out without a word, the rest is checked as in `add_lora`."""
    fingerprint = file_fingerprint(path)
    file = lora_file(store, LoraPatch(str(path), fingerprint, 1.0))
    model_layers = {n for n in file.layers if not is_text_layer(n)}
    if file.layers and not model_layers:
        raise CheckpointError(
            path,
            f"all {len(file.layers)} layers of this LoRA are for the text encoder: load it "
            "with Load LoRA (LoraLoader), which patches the CLIP too",
        )
    hits, misfits = _unet_fit(model, file) if file.layers else (set(), set())
    _check(path, file, model.config.get("family"), hits, misfits)
    _report(path, file, sorted(model_layers - hits), warn)
    if strength != 0 and hits:
        model = _with_patch(model, LoraPatch(str(path), fingerprint, strength))
    return model
