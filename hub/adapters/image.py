"""From image bytes to the model's input tensor: decode, orient, colour, normalise, quantize.

Pure functions over numpy arrays; OpenCV does the decoding. Two kinds of picture reach the
digits model: a photo of a digit written on paper (dark on light, uneven light) and a canvas
drawing (either polarity, often on a transparent background). Both are turned into what the
training data looked like: bright strokes of a set thickness, cropped and centred.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(1 << 30))  # OpenCV's own guard, behind ours

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import BadInput, PayloadTooLarge  # noqa: E402
from ..manifest import Preprocess, TensorSpec  # noqa: E402
from .image_header import read_header  # noqa: E402

WORKING_SIZE = 128  # pixels on the long side while a drawing is normalised
STROKE_DIVISOR = 3.5  # optdigits strokes are thick: about a third of the digit's height
_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}


def decode(data: bytes, max_pixels: int, target: tuple[int, int] | None = None) -> np.ndarray:
    """BGR uint8 picture, upright (EXIF orientation applied), transparency flattened.

    Large JPEGs are decoded at 1/2, 1/4 or 1/8 scale when the model needs far fewer pixels:
    libjpeg does that almost for free, and it is most of the work for a phone photo on a Pi.
    """
    header = read_header(data)
    if header.pixels > max_pixels:
        raise PayloadTooLarge(
            f"the image declares {header.width}x{header.height} pixels, over the limit of {max_pixels}; "
            "send a smaller picture", width=header.width, height=header.height)
    buffer = np.frombuffer(data, np.uint8)
    if header.format == "jpeg":
        factor = 1
        if target:
            while factor < 8 and min(header.width, header.height) // (factor * 2) >= 2 * max(target):
                factor *= 2
        image = cv2.imdecode(buffer, _REDUCED[factor])
    elif header.format in ("png", "webp"):
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    else:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise BadInput(f"the {header.format} image could not be decoded; it may be damaged")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = _flatten_alpha(image)
    return image


def _flatten_alpha(bgra: np.ndarray) -> np.ndarray:
    """Put a transparent drawing on a background that contrasts with its strokes."""
    alpha = bgra[:, :, 3:4].astype(np.float32) / 255.0
    bgr = bgra[:, :, :3].astype(np.float32)
    opaque = alpha[:, :, 0] > 0.5
    if opaque.all():
        return np.ascontiguousarray(bgra[:, :, :3])
    strokes_dark = opaque.any() and bgr[opaque].mean() < 128
    background = 255.0 if strokes_dark else 0.0
    return (bgr * alpha + background * (1 - alpha)).round().astype(np.uint8)


def to_color(bgr: np.ndarray, color: str) -> np.ndarray:
    if color == "gray":
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def bright_strokes(gray: np.ndarray) -> np.ndarray:
    """Make the strokes the bright part: paper and white canvases are inverted."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return 255 - gray if np.median(border) > 127 else gray


def normalise_drawing(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Binary strokes, cropped to the digit, thickened to a set width, centred in a square.

    The 8x8 training digits were 32x32 bitmaps counted in 4x4 blocks, so an area resize of a
    clean binary mask reproduces them; lighting, pen and canvas size stop mattering.
    """
    longest = max(gray.shape)
    if longest > WORKING_SIZE:  # thresholding and stroke width need no more pixels than this
        factor = WORKING_SIZE / longest
        gray = cv2.resize(gray, (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor))),
                          interpolation=cv2.INTER_AREA)
    gray = bright_strokes(gray)
    if float(gray.std()) < 4.0:
        raise BadInput("the picture looks blank: no drawing found")
    blurred = cv2.GaussianBlur(gray, (5, 5), 0)
    _, mask = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ys, xs = np.nonzero(mask)
    if len(xs) < 4:
        raise BadInput("the picture looks blank: no drawing found")
    x0, x1 = np.percentile(xs, [0.5, 99.5]).astype(int)
    y0, y1 = np.percentile(ys, [0.5, 99.5]).astype(int)
    mask = mask[y0:y1 + 1, x0:x1 + 1]
    side = max(mask.shape)  # the training digits fill the full height, centred across
    canvas = np.zeros((side, side), np.uint8)
    oy, ox = (side - mask.shape[0]) // 2, (side - mask.shape[1]) // 2
    canvas[oy:oy + mask.shape[0], ox:ox + mask.shape[1]] = mask
    stroke = 2.0 * cv2.distanceTransform(canvas, cv2.DIST_L2, 3).max()
    want = side / STROKE_DIVISOR  # about the stroke width of the training bitmaps
    if stroke < want:
        k = max(1, int(round(want - stroke)))
        canvas = cv2.dilate(canvas, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return cv2.resize(canvas, size, interpolation=cv2.INTER_AREA)


def quantize(pixels: np.ndarray, spec: TensorSpec, value_range: tuple[float, float] | None) -> np.ndarray:
    """Pixels 0..255 into the input tensor's dtype, with its scale and zero point.

    With no value_range (a bare Coral model) pixels go in raw, Coral's convention: uint8 as is,
    int8 shifted by 128, float divided by 255.
    """
    x = pixels.astype(np.float32)
    if value_range is None:
        if spec.dtype == "uint8":
            q = x
        elif spec.dtype == "int8":
            q = x - 128
        else:
            return (x / 255.0).astype(spec.dtype).reshape(spec.shape)
    else:
        low, high = value_range
        return quantize_real(low + x * ((high - low) / 255.0), spec)
    info = np.iinfo(spec.dtype)
    return np.clip(q, info.min, info.max).astype(spec.dtype).reshape(spec.shape)


def quantize_real(real: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Real values (the model's float input) into the tensor's dtype, scale and zero point."""
    if not spec.scale or spec.dtype.startswith("float"):
        return real.astype(spec.dtype).reshape(spec.shape)
    info = np.iinfo(spec.dtype)
    q = np.round(real / spec.scale + spec.zero_point)
    return np.clip(q, info.min, info.max).astype(spec.dtype).reshape(spec.shape)


def image_size(spec: TensorSpec) -> tuple[int, int]:
    """(width, height) the model takes, from [1, H, W, C] or [1, H, W]."""
    if len(spec.shape) not in (3, 4):
        raise BadInput(f"this model takes a {list(spec.shape)} tensor, not an image; use /v2 infer")
    return spec.shape[2], spec.shape[1]


def preprocess(data: bytes, spec: TensorSpec, prep: Preprocess, max_pixels: int) -> np.ndarray:
    size = image_size(spec)
    picture = to_color(decode(data, max_pixels, size), prep.color)
    if prep.crop_to_content and prep.color == "gray":
        pixels = normalise_drawing(picture, size)
    else:
        if prep.ink == "light_on_dark" and prep.color == "gray":
            picture = bright_strokes(picture)
        shrinking = picture.shape[0] > size[1] or picture.shape[1] > size[0]
        pixels = cv2.resize(picture, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return quantize(pixels, spec, prep.value_range)
