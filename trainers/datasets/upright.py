"""Images as the user's viewer shows them: EXIF orientation applied on every read.

Phones store the pixels as the sensor saw them and an EXIF `Orientation` tag (1-8) saying how
to turn them for display; browsers, Label Studio and photo viewers apply it. Every image read
in scaf-al goes through here, so every coordinate (`.pts`, boxes, Label Studio, CSVs) is in
that upright frame.

A reduced-size decode (`decode_reduced`) lets the JPEG decoder skip detail (1/2, 1/4, 1/8
scale via `Image.draft`): cheap enough to look for faces in a 12 MP photo before its face
regions are cut at full resolution.
"""

from __future__ import annotations

from PIL import Image

ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transpose that makes the stored pixels upright (Pillow's own table
# in ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def orientation(im: Image.Image) -> int:
    """The image's EXIF orientation (1 = upright as stored; unknown values read as 1)."""
    try:
        value = int(im.getexif().get(ORIENTATION_TAG, 1))
    except (TypeError, ValueError, OSError, SyntaxError):  # a malformed EXIF block
        return 1
    return value if value in _TRANSPOSE else 1


def upright_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) as shown: sides swapped for orientations 5-8 (quarter turns)."""
    w, h = im.size
    return (h, w) if orientation(im) >= 5 else (w, h)


def to_upright(im: Image.Image, value: int) -> Image.Image:
    """The loaded image turned by EXIF orientation `value` (itself when 1)."""
    method = _TRANSPOSE.get(value)
    return im if method is None else im.transpose(method)


def draft_for(im: Image.Image, min_side: int) -> float:
    """Ask the decoder (JPEG only) for a reduced decode whose short side stays >= `min_side`;
    returns the factor from the reduced to the full pixel grid (1.0: no reduction)."""
    full_w = im.size[0]
    if im.format != "JPEG" or min(im.size) <= min_side:
        return 1.0
    scale = min_side / min(im.size)
    im.draft("RGB", (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale))))
    return full_w / im.size[0]
