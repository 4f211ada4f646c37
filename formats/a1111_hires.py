"""A1111's hires fix as a second pass: the first pass's result is upscaled (as a latent, or
as pixels with a resize or an upscale model) and sampled again at `Denoising strength`
for `Hires steps` (0: the first pass's steps).

ComfyUI's KSampler with `denoise` d over N steps samples the last N steps of a
schedule of int(N / d) steps, which is what A1111 does for the second pass."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from formats.a1111_graph import Import, Link
from formats.a1111_names import ANTIALIASED, LATENT_UPSCALERS, PIXEL_UPSCALERS, UPSCALER_FILES
from formats.a1111_prompt import prompt_for_us
from formats.a1111_text import take_tags

HIRES_KEYS = ("Hires upscale", "Hires resize")


@dataclass(frozen=True)
class Pass:
    """One sampling pass, as KSampler's inputs (links and values)."""

    model: Link
    clip: Link
    vae: Link
    positive: Link
    negative: Link
    seed: int
    steps: int
    cfg: float
    sampler_name: str
    scheduler: str
    width: int
    height: int

    def sample(self, imp: Import, latent: Link, denoise: float, title: str) -> Link:
        node = imp.add(
            "KSampler",
            title,
            model=self.model,
            seed=self.seed,
            steps=self.steps,
            cfg=self.cfg,
            sampler_name=self.sampler_name,
            scheduler=self.scheduler,
            positive=self.positive,
            negative=self.negative,
            latent_image=latent,
            denoise=denoise,
        )
        return [node, 0]


def wants_hires(pairs: dict[str, str]) -> bool:
    if "Hires upscale" in pairs:
        return True
    resize = pairs.get("Hires resize", "0x0").replace(" ", "")
    return resize not in ("", "0x0")


def add_hires(imp: Import, first: Pass, latent: Link) -> Link:
    """The second pass after `latent` (the first pass's result); its result."""
    width, height = _target_size(imp, first)
    denoise = imp.number("Denoising strength", 0.7)
    second = replace(
        first,
        steps=int(imp.number("Hires steps", 0, whole=True)) or first.steps,
        cfg=imp.number("Hires CFG Scale", first.cfg),
        width=width,
        height=height,
    )
    second = _hires_sampler(imp, second)
    second = _hires_prompts(imp, second)
    checkpoint = imp.take("Hires checkpoint")
    if checkpoint not in (None, "Use same checkpoint"):
        imp.note("Hires checkpoint", checkpoint, "the second pass uses the first pass's model")
    upscaled = _upscale(imp, first, latent, width, height)
    return second.sample(imp, upscaled, denoise, "Hires fix: second pass")


def _target_size(imp: Import, first: Pass) -> tuple[int, int]:
    scale = imp.number("Hires upscale", 2.0)
    resize = imp.size("Hires resize")
    if resize is not None and resize != (0, 0):
        width = resize[0] or round(resize[1] * first.width / first.height)
        height = resize[1] or round(resize[0] * first.height / first.width)
    else:
        width, height = int(first.width * scale), int(first.height * scale)
    # The latent is an eighth of the picture; A1111 rounds the same way.
    return max(8, width // 8 * 8), max(8, height // 8 * 8)


def _hires_sampler(imp: Import, second: Pass) -> Pass:
    fallback = (second.sampler_name, second.scheduler)
    sampler_name, scheduler = imp.sampler("Hires sampler", "Hires schedule type", fallback)
    return replace(second, sampler_name=sampler_name, scheduler=scheduler)


def _hires_prompts(imp: Import, second: Pass) -> Pass:
    """`Hires prompt` / `Hires negative prompt`, when set, replace the prompts of the
    second pass only."""

    def encoded(key: str, current: Link) -> Link:
        text = imp.take(key)
        if not text:
            return current
        text, tags = take_tags(text)
        if tags:
            imp.note(key, text, "LoRA tags in the hires prompt are not applied")
        text = prompt_for_us(imp, text, key)
        return [imp.add("CLIPTextEncode", key, text=text, clip=second.clip), 0]

    positive = encoded("Hires prompt", second.positive)
    negative = encoded("Hires negative prompt", second.negative)
    return replace(second, positive=positive, negative=negative)


def _upscale(imp: Import, first: Pass, latent: Link, width: int, height: int) -> Link:
    label = imp.take("Hires upscaler") or "Latent"
    if label in LATENT_UPSCALERS:
        if label in ANTIALIASED:
            imp.note("Hires upscaler", label, "upscaled without antialiasing")
        method = LATENT_UPSCALERS[label]
        size: dict[str, Any] = {"width": width, "height": height, "crop": "disabled"}
        node = imp.add(
            "LatentUpscale", "Hires fix: upscale", samples=latent, upscale_method=method, **size
        )
        return [node, 0]
    image: Link = [imp.add("VAEDecode", samples=latent, vae=first.vae), 0]
    image = _with_model(imp, label, image)
    scaled = imp.add(
        "ImageScale",
        "Hires fix: resize",
        image=image,
        upscale_method=PIXEL_UPSCALERS.get(label, "lanczos"),
        width=width,
        height=height,
        crop="disabled",
    )
    return [imp.add("VAEEncode", pixels=[scaled, 0], vae=first.vae), 0]


def _with_model(imp: Import, label: str, image: Link) -> Link:
    """The picture through the upscale model A1111 names, when we have the node and the
    file; otherwise as it is (then resized with Lanczos), with a note."""
    if label in PIXEL_UPSCALERS:
        return image
    file = imp.files.by_stem("upscale_models", UPSCALER_FILES.get(label, label))
    if not (imp.has("UpscaleModelLoader") and imp.has("ImageUpscaleWithModel")):
        imp.note("Hires upscaler", label, "no upscale-model node installed; Lanczos used")
        return image
    if file is None:
        imp.note("Hires upscaler", label, "not found in models/upscale_models; Lanczos used")
        return image
    loader = imp.add("UpscaleModelLoader", model_name=file)
    node = imp.add(
        "ImageUpscaleWithModel", "Hires fix: upscale", upscale_model=[loader, 0], image=image
    )
    return [node, 0]
