"""The one reader of an image file a user gives, for `mnistsum predict` and the demo's upload alike: one contract.

Accepted: grey levels the MNIST way round (light ink on a dark background) in an 8-bit grayscale image (mode L),
a 1-bit image (read as 0 and 255), or an RGB or palette image whose colours are all grey; fully opaque. Refused,
in one line naming the file: transparency (what lies under it is unknown), colour, 16-bit and float images, a
size other than the caller's (checked from the header, before a pixel is decoded), an image of one grey level
(nothing to read) and a light background (dark ink on white: invert it first). Nothing is converted silently."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mnistsum.errors import InputError

MODES = ("L", "1", "P", "RGB", "RGBA", "LA")


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[0]} rows x {size[1]} columns"


def read_grey(path: str | Path, sizes: Collection[tuple[int, int]], name: str | None = None) -> np.ndarray:
    """The image's grey levels as a (rows, columns) uint8 array, its size one of `sizes` (rows, columns)."""
    name = name or str(path)
    expected = " or ".join(_size_text(s) for s in sizes)
    try:
        with Image.open(path) as img:
            rows, cols = img.height, img.width  # from the header: nothing decoded yet
            if (rows, cols) not in sizes:
                raise InputError(f"{name}: image of {_size_text((rows, cols))}, expected {expected}")
            if img.mode not in MODES:
                raise InputError(f"{name}: image mode {img.mode}, expected an 8-bit grayscale PNG")
            pixels = _grey(img, name)
    except Image.DecompressionBombError:  # Pillow refuses to open it at all: a size far beyond any we take
        raise InputError(f"{name}: image of over {Image.MAX_IMAGE_PIXELS:,} pixels, expected {expected}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InputError(f"{name}: not a readable image (expected a grayscale PNG of {expected})") from None
    if pixels.min() == pixels.max():
        raise InputError(f"{name}: every pixel is {pixels.min()}: no digit to read")
    if np.median(pixels) >= 128:
        raise InputError(f"{name}: light background; expected light digits on a dark background, as MNIST (invert it)")
    return pixels


def _grey(img: Image.Image, name: str) -> np.ndarray:
    if img.mode in ("L", "1"):
        return np.asarray(img.convert("L"), dtype=np.uint8)
    rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
    if (rgba[..., 3] != 255).any():
        raise InputError(f"{name}: image has transparent pixels ({img.mode}); expected an opaque grayscale PNG")
    if not ((rgba[..., 0] == rgba[..., 1]) & (rgba[..., 1] == rgba[..., 2])).all():
        raise InputError(f"{name}: colour image ({img.mode} with unequal channels); expected a grayscale PNG")
    return rgba[..., 0].copy()
