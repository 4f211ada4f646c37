"""What /view does to a picture before sending it, as ComfyUI's /view does:

- `preview=webp;90` or `preview=jpeg;75`: a smaller re-encoding (format;quality; an unknown
  format, or a channel asking for alpha, gives webp; quality 90 when not given);
- `channel=rgb`: the colour without transparency, as PNG;
- `channel=a`: the transparency alone, as a PNG that is black with the file's alpha (fully
  opaque when the file has none), which is what ComfyUI's mask editor reads;
- `channel=rgba` (the default): the file as it is.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

PREVIEW_FORMATS = ("webp", "jpeg")
CHANNELS = ("rgba", "rgb", "a")
DEFAULT_QUALITY = 90


class NotAnImage(ValueError):
    """The file cannot be decoded as a picture (a preview or channel was asked of it)."""


@dataclass(frozen=True)
class Encoded:
    body: bytes
    content_type: str


def preview_request(preview: str, channel: str) -> tuple[str, int]:
    """(format, quality) for a `preview=` value, as ComfyUI reads it; ValueError for a
    quality past 100."""
    parts = preview.split(";")
    image_format = parts[0] if parts[0] in PREVIEW_FORMATS and "a" not in channel else "webp"
    quality = int(parts[-1]) if parts[-1].isdigit() else DEFAULT_QUALITY
    if quality > 100:
        raise ValueError(f"preview quality must be 0 to 100, not {quality}")
    return image_format, quality


def previewed(data: bytes, image_format: str, quality: int, channel: str) -> Encoded:
    """The picture re-encoded as webp or jpeg (jpeg, and channel=rgb, drop the alpha)."""
    with _opened(data) as image:
        if image_format == "jpeg" or channel == "rgb":
            image = image.convert("RGB")
        elif image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if image.has_transparency_data else "RGB")
        return _encoded(image, image_format.upper(), f"image/{image_format}", quality=quality)


def channel_only(data: bytes, channel: str) -> Encoded:
    """channel=rgb (colour, no alpha) or channel=a (alpha on black), as PNG."""
    with _opened(data) as image:
        if channel == "rgb":
            return _encoded(image.convert("RGB"), "PNG", "image/png")
        # As ComfyUI: only RGBA files have an alpha; any other is fully opaque.
        opaque = Image.new("L", image.size, 255)
        alpha = image.getchannel("A") if image.mode == "RGBA" else opaque
        result = Image.new("RGBA", image.size)
        result.putalpha(alpha)
        return _encoded(result, "PNG", "image/png")


def _opened(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise NotAnImage(f"not an image we can read ({exc})") from None
    return image


def _encoded(image: Image.Image, pil_format: str, content_type: str, **options: int) -> Encoded:
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=pil_format, **options)
    except (OSError, ValueError) as exc:  # a mode the format cannot hold
        raise NotAnImage(f"cannot be written as {pil_format} ({exc})") from None
    return Encoded(buffer.getvalue(), content_type)
