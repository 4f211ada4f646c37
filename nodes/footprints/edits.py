"""What the image-edit and mask nodes that change sizes need (nodes/image_edit.py,
nodes/masks.py); the others transform a tensor into one like it, which the default
estimate covers."""

from __future__ import annotations

from engine.footprint import FLOAT32, CostInputs, Estimate, NodeCost, tensor
from nodes.footprints.costs import load_image
from nodes.footprints.formulas import image, size_origin
from nodes.ops.pixels.sizes import STEPWISE_RADIUS


def _mask(batch: int, height: int, width: int, origin: tuple[str, str]) -> Estimate:
    what = f"{'a mask' if batch == 1 else f'{batch:,} masks'} of {width}x{height} pixels"
    return tensor((batch, height, width), origin, what)


def solid_mask(given: CostInputs) -> NodeCost:
    w = given.widgets
    return NodeCost({"mask": _mask(1, int(w["height"]), int(w["width"]), size_origin(given))})


def load_mask(given: CostInputs) -> NodeCost:
    """Load Image (as Mask): Load Image's work, keeping one channel."""
    read = load_image(given)
    mask = read.outputs.get("mask")
    return NodeCost({"mask": mask} if mask else {}, read.working, driver=read.driver)


def scale_by(given: CostInputs) -> NodeCost:
    source = given.link("image")
    if len(source.shape) != 4:
        return NodeCost()
    batch, height, width = source.shape[:3]
    factor = float(given.widgets["scale_by"])
    made = image(
        batch,
        max(1, round(width * factor)),
        max(1, round(height * factor)),
        (given.node_id, "scale_by"),
    )
    return NodeCost({"image": made}, working=made.nbytes // max(1, batch), driver="scale_by")


def pad_for_outpaint(given: CostInputs) -> NodeCost:
    source = given.link("image")
    if len(source.shape) != 4:
        return NodeCost()
    w = {k: int(given.widgets[k]) for k in ("left", "top", "right", "bottom")}
    height = source.shape[1] + w["top"] + w["bottom"]
    width = source.shape[2] + w["left"] + w["right"]
    origin = (given.node_id, "right" if w["right"] >= w["left"] else "left")
    padded = image(source.shape[0], width, height, origin)
    return NodeCost({"image": padded, "mask": _mask(1, height, width, origin)}, driver=origin[1])


def batch_images(given: CostInputs) -> NodeCost:
    first, second = given.link("image1"), given.link("image2")
    if len(first.shape) != 4 or len(second.shape) != 4:
        return NodeCost()
    height, width = first.shape[1:3]
    made = image(first.shape[0] + second.shape[0], width, height, given.origin("image2"))
    return NodeCost({"image": made}, working=second.nbytes, driver="image2")


def mask_to_image(given: CostInputs) -> NodeCost:
    mask = given.link("mask")
    if len(mask.shape) != 3:
        return NodeCost()
    batch, height, width = mask.shape
    return NodeCost({"image": image(batch, width, height, given.origin("mask"))})


def grow_mask(given: CostInputs) -> NodeCost:
    """Grow Mask: a mask like its input; a large diamond is grown on a rotated grid of
    (H + W)^2 values per mask, held about three times over (nodes/ops/pixels/morphology)."""
    mask = given.link("mask")
    if len(mask.shape) != 3:
        return NodeCost()
    _, height, width = mask.shape
    working = 3 * mask.nbytes
    large = abs(int(given.widgets["expand"])) > STEPWISE_RADIUS
    if large and given.widgets.get("tapered_corners", True):
        working = max(working, 3 * FLOAT32 * (height + width) ** 2)
    return NodeCost({"mask": mask}, working=working, driver="mask")


def repeat_images(given: CostInputs) -> NodeCost:
    source = given.link("image")
    if len(source.shape) != 4:
        return NodeCost()
    batch, height, width = source.shape[:3]
    amount = int(given.widgets["amount"])
    return NodeCost({"image": image(batch * amount, width, height, (given.node_id, "amount"))})


def scale_to_total_pixels(given: CostInputs) -> NodeCost:
    source = given.link("image")
    if len(source.shape) != 4:
        return NodeCost()
    batch, height, width = source.shape[:3]
    total = float(given.widgets["megapixels"]) * 1024 * 1024
    factor = (total / max(1, height * width)) ** 0.5
    made = image(
        batch, round(width * factor), round(height * factor), (given.node_id, "megapixels")
    )
    return NodeCost({"image": made}, working=made.nbytes // max(1, batch), driver="megapixels")


def scale_to_max_dimension(given: CostInputs) -> NodeCost:
    source = given.link("image")
    if len(source.shape) != 4:
        return NodeCost()
    batch, height, width = source.shape[:3]
    largest = max(1, int(given.widgets["largest_size"]))
    factor = largest / max(1, height, width)
    made = image(
        batch,
        max(1, round(width * factor)),
        max(1, round(height * factor)),
        (given.node_id, "largest_size"),
    )
    return NodeCost({"image": made}, working=made.nbytes // max(1, batch), driver="largest_size")


def resize_and_pad(given: CostInputs) -> NodeCost:
    source = given.link("image")
    if len(source.shape) != 4:
        return NodeCost()
    w = given.widgets
    width, height = int(w["target_width"]), int(w["target_height"])
    side = "target_height" if height > width else "target_width"
    made = image(source.shape[0], width, height, (given.node_id, side))
    return NodeCost({"image": made}, working=made.nbytes, driver=side)


def stitch(given: CostInputs) -> NodeCost:
    """Image Stitch: at most both images side by side, each at the larger one's size."""
    first, second = given.link("image1"), given.link("image2")
    if len(first.shape) != 4:
        return NodeCost()
    if len(second.shape) != 4:
        return NodeCost({"image": first})
    batch = max(first.shape[0], second.shape[0])
    height = max(first.shape[1], second.shape[1])
    width = first.shape[2] + second.shape[2] + 1024  # the widest spacing band
    made = image(batch, width, height, given.origin("image2"))
    return NodeCost({"image": made}, working=made.nbytes, driver="image2")
