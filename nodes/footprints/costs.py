"""What each of diffgraph's memory-heavy node kinds needs, in one table of functions that
their declarations hook in (`cost = hook(costs.sampler)`; formulas in `nodes.footprints.formulas`).
Kinds not here transform a tensor into one like it, which the default estimate covers."""

from __future__ import annotations

from collections.abc import Mapping

from engine.footprint import CostHook, CostInputs, Estimate, NodeCost, tensor
from engine.model_paths import ModelPaths
from engine.paths import annotated_file
from nodes.footprints.formulas import (
    SAVE_IMAGE_COPIES,
    check_prompts,
    denoiser_working,
    image,
    latent,
    resident,
    size_origin,
    vae_working,
    weight_params,
)

# Most prompt nodes read their text through CLIP: 75 tokens a window, each window one
# encoder pass and 77 more tokens that every sampler step attends to. 2,048 tokens (27
# windows; T5's 512 four times over) is far more than any model was trained to read,
# while a 10 MB prompt (about two million tokens) took 6 GB before it was refused.
MAX_PROMPT_TOKENS = 2048


def empty_latent(channels: int) -> CostHook:
    """Empty Latent: a zero latent of the widgets' size (no work besides)."""

    def cost(given: CostInputs) -> NodeCost:
        w = given.widgets
        made = latent(w["batch_size"], channels, w["width"], w["height"], size_origin(given))
        return NodeCost({"latent": made})

    return cost


def empty_image(given: CostInputs) -> NodeCost:
    w = given.widgets
    return NodeCost({"image": image(w["batch_size"], w["width"], w["height"], size_origin(given))})


def load_image(given: CostInputs) -> NodeCost:
    """Load Image: the file's pixels (read from its header) as RGB and a mask, decoded
    through an RGBA copy."""
    from PIL import Image as PILImage

    try:
        path = annotated_file(given.settings, given.widgets["image"])
        with PILImage.open(path) as opened:
            width, height = opened.size
    except (OSError, ValueError):
        return NodeCost()  # the node reports an unreadable file when it runs
    pixels = image(1, width, height, (given.node_id, "image"))
    mask = tensor((1, height, width), (given.node_id, "image"), "a mask")
    return NodeCost({"image": pixels, "mask": mask}, working=2 * pixels.nbytes, driver="image")


def scale_image(given: CostInputs) -> NodeCost:
    """Scale Image: each image resized in turn into the new batch."""
    source = given.link("image")
    if len(source.shape) != 4:
        return NodeCost()
    batch, height, width = source.shape[:3]
    new_w, new_h = int(given.widgets["width"]), int(given.widgets["height"])
    if new_w == 0:
        new_w = max(1, round(width * new_h / max(1, height)))
    if new_h == 0:
        new_h = max(1, round(height * new_w / max(1, width)))
    made = image(batch, new_w or width, new_h or height, size_origin(given))
    return NodeCost({"image": made}, working=source.nbytes // max(1, batch), driver="width")


def save_images(given: CostInputs) -> NodeCost:
    """Save/Preview Image: one image at a time becomes a PNG."""
    images = given.link("images")
    per_image = images.nbytes // max(1, (images.shape or (1,))[0])
    return NodeCost(working=SAVE_IMAGE_COPIES * per_image, driver="images")


CHECKPOINT_PARTS = {"model": "denoiser", "clip": "text", "vae": "vae"}


def loader(kind: str, widgets: tuple[str, ...], parts: Mapping[str, str]) -> CostHook:
    """A loader of model files: their weights, resident (once per file), and for each
    output the parameters of its part of them (`parts`: output -> part, or "all")."""

    def cost(given: CostInputs) -> NodeCost:
        paths = ModelPaths.from_settings(given.settings)
        found = [paths.resolve(kind, given.widgets[widget]) for widget in widgets]
        params = [weight_params(path) for path in found]
        weights = {
            str(path): resident(sum(p.values()), given)
            for path, p in zip(found, params, strict=True)
        }
        total = {part: sum(p.get(part, 0) for p in params) for part in ("denoiser", "text", "vae")}
        everything = sum(total.values())
        outputs = {
            output: Estimate(params=everything if part == "all" else total[part])
            for output, part in parts.items()
        }
        return NodeCost(outputs, models=weights)

    return cost


def lora(given: CostInputs) -> NodeCost:
    """Load LoRA: its layers kept parsed (in float32) beside the model."""
    path = ModelPaths.from_settings(given.settings).resolve("loras", given.widgets["lora_name"])
    return NodeCost(
        {"model": given.link("model"), "clip": given.link("clip")},
        models={str(path): 2 * path.stat().st_size},
    )


def sampler(given: CostInputs) -> NodeCost:
    """Sample, Sample (Advanced), Sampler (Custom): the network over the whole batch each
    step, twice with classifier-free guidance (one pass for cfg 1), ControlNets alongside."""
    passes = 1 if given.widgets.get("cfg") == 1.0 else 2
    return _sampling(given, given.link("model").params, passes, ("output", "latent"))


def guided_sampler(given: CostInputs) -> NodeCost:
    """Sampler (Custom, Advanced): as many passes a step as its guider makes."""
    guider = given.link("guider")
    passes = guider.shape[0] if guider.shape else 2
    return _sampling(given, guider.params, passes, ("output",))


def _sampling(given: CostInputs, params: int, passes: int, names: tuple[str, ...]) -> NodeCost:
    source = given.link("latent_image")
    control = given.link("positive").params + given.link("negative").params
    working = denoiser_working(source, params, passes, given)
    if control:
        working += denoiser_working(source, control, passes, given)
    outputs = {name: source for name in (*names, "denoised_output")}
    return NodeCost(outputs, working, driver="latent_image")


def guider(given: CostInputs) -> NodeCost:
    """Basic/CFG Guider: the model and how many passes a step makes (2 with a negative)."""
    passes = 2 if "negative" in given.links and given.widgets.get("cfg") != 1.0 else 1
    prompts = given.link("positive").params + given.link("conditioning").params
    made = Estimate(shape=(passes,), params=given.link("model").params + prompts)
    return NodeCost({"guider": made})


def vae_decode(given: CostInputs) -> NodeCost:
    """VAE Decode: 8x the latent's size in pixels, a pass of a few images (or a tile) at a
    time, the decoded chunks gathered and rescaled (three copies of the output)."""
    source = given.link("samples")
    if len(source.shape) != 4:
        return NodeCost()
    batch, _, height, width = source.shape
    made = tensor((batch, 8 * height, 8 * width, 3), source.origin, source.what)
    network = vae_working(batch, 8 * height, 8 * width, given.link("vae").params, given)
    return NodeCost({"image": made}, network + 3 * made.nbytes, driver="samples")


def vae_encode(given: CostInputs) -> NodeCost:
    """VAE Encode (and for Inpainting): a latent of 1/8 the size, the pixels cropped and
    converted a pass at a time."""
    source = given.link("pixels")
    if len(source.shape) != 4:
        return NodeCost()
    batch, height, width, _ = source.shape
    made = tensor((batch, 4, height // 8, width // 8), source.origin, source.what)
    network = vae_working(batch, height, width, given.link("vae").params, given)
    return NodeCost({"latent": made}, network + 2 * source.nbytes, driver="pixels")


def control_net(given: CostInputs) -> NodeCost:
    """Apply ControlNet: the prompt now carries a network that runs beside the model."""
    params = given.link("control_net").params
    outputs = {
        name: Estimate(params=given.link(name).params + params)
        for name in ("conditioning", "positive", "negative")
    }
    return NodeCost(outputs)


def resized_latent(given: CostInputs) -> NodeCost:
    """Upscale Latent (By): the latent at its new size."""
    source = given.link("samples")
    if len(source.shape) != 4:
        return NodeCost()
    batch, channels, height, width = source.shape
    if "scale_by" in given.widgets:
        scale = float(given.widgets["scale_by"])
        new_w, new_h = round(8 * width * scale), round(8 * height * scale)
    else:
        new_w = int(given.widgets["width"]) or 8 * width
        new_h = int(given.widgets["height"]) or 8 * height
    origin = (given.node_id, "scale_by" if "scale_by" in given.widgets else "width")
    made = latent(batch, channels, new_w, new_h, origin)
    return NodeCost({"latent": made}, made.nbytes, driver="samples")


def repeated_latent(given: CostInputs) -> NodeCost:
    """Repeat Latent Batch: `amount` times the batch."""
    source = given.link("samples")
    if len(source.shape) != 4:
        return NodeCost()
    batch, channels, height, width = source.shape
    amount = int(given.widgets["amount"])
    origin = (given.node_id, "amount")
    made = latent(batch * amount, channels, 8 * width, 8 * height, origin)
    return NodeCost({"latent": made}, driver="samples")


def prompt(*names: str) -> CostHook:
    """A prompt node: refuses a text certainly over `MAX_PROMPT_TOKENS` (what it encodes
    is small: a few windows of embeddings)."""

    def cost(given: CostInputs) -> NodeCost:
        check_prompts(given, names, MAX_PROMPT_TOKENS)
        return NodeCost()

    return cost
