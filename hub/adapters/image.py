"""From image bytes to the model's input tensor: decode, orient, colour, normalise, quantize.

Pure functions over numpy arrays; OpenCV does the decoding. Two kinds of picture reach the
digits model: a photo of a digit written on paper (dark on light, uneven light) and a canvas
drawing (either polarity, often on a transparent background). Both are turned into what the
training data looked like: bright strokes of a set thickness, cropped and centred.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(1 << 30))  # OpenCV's own guard, behind ours

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import BadInput, PayloadTooLarge  # noqa: E402
from ..manifest import Preprocess, TensorSpec  # noqa: E402
from .budget import UNLIMITED, DecodeBudget  # noqa: E402
from .image_header import ImageHeader, read_header  # noqa: E402

WORKING_SIZE = 128  # pixels on the long side while a drawing is normalised
STROKE_DIVISOR = 3.5  # optdigits strokes are thick: about a third of the digit's height
_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}


def reduction(header: ImageHeader, target: tuple[int, int] | None) -> int:
    """1, 2, 4 or 8: how much smaller libjpeg may decode a JPEG and still give the model enough pixels.
    Always 1 for a lossless JPEG: libjpeg-turbo decodes those at full size whatever scale is asked."""
    factor = 1
    if header.format == "jpeg" and not header.lossless and target:
        while factor < 8 and min(header.width, header.height) // (factor * 2) >= 2 * max(target):
            factor *= 2
    return factor


def working_bytes(header: ImageHeader, factor: int = 1) -> int:
    """The most memory decoding this picture holds at once, from its header alone, with a margin.

    Measured (tests/test_hostile_memory.py checks it): OpenCV's PNG and WebP decoders hold twice
    their output while decoding. After that, the output plus the one copy each later step makes
    while the one before is alive: 16-bit samples to 8-bit, transparency flattened (a mask, then
    strips into one BGR copy), gray to BGR. Resizing for the model comes first, so the colour
    conversion after it is small.

    libjpeg holds a buffer of the whole picture at full size, whatever the scale, while it decodes a
    progressive JPEG (or one sent a scan per component): 2 bytes per DCT coefficient, 286 MiB for a
    7071x7071 4:4:4 one of 859 KB. It is counted in full (`whole_image_bytes`), and a lossless JPEG at
    full size whatever `factor` says. Decoding smaller still pays: the output is the rest.
    """
    if header.lossless:
        factor = 1
    pixels = -(-header.width // factor) * -(-header.height // factor)
    channels, sample = (3, 1) if header.format == "jpeg" else (header.channels, header.sample_bytes)
    decoded = pixels * channels * sample
    decoding = decoded * (2 if header.format in ("png", "webp") else 1) + header.whole_image_bytes
    mask = pixels if channels == 4 else 0
    after = decoded + mask + pixels * max(channels if sample > 1 else 0, 3)
    return int(max(decoding, after) * 1.15) + (4 << 20)  # libjpeg and friends: a few MB of their own


def checked_header(data: bytes, max_pixels: int) -> ImageHeader:
    """The picture's header, refused before any decoding when it declares too many pixels."""
    header = read_header(data)
    if header.pixels > max_pixels:
        raise PayloadTooLarge(
            f"the image declares {header.width}x{header.height} pixels, over the limit of {max_pixels}; "
            "send a smaller picture", width=header.width, height=header.height)
    return header


def decode(data: bytes, header: ImageHeader, factor: int = 1) -> np.ndarray:
    """BGR uint8 picture, upright (EXIF orientation applied), transparency flattened.

    Large JPEGs are decoded at 1/2, 1/4 or 1/8 scale (`factor`, from `reduction`) when the model
    needs far fewer pixels: libjpeg does that almost for free, and it is most of the work for a
    phone photo on a Pi. The caller holds `working_bytes(header, factor)` of the decode budget.
    """
    buffer = np.frombuffer(data, np.uint8)
    if header.format == "jpeg":
        image = cv2.imdecode(buffer, _REDUCED[factor])
    elif header.format in ("png", "webp"):
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    else:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise BadInput(f"the {header.format} image could not be decoded; it may be damaged")
    if image.dtype != np.uint8:  # 16-bit PNG: one 8-bit copy, no wider temporary
        image = cv2.convertScaleAbs(image, alpha=1 / 257)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = _flatten_alpha(image)
    return image


STRIP_ROWS = 64  # rows flattened at a time: the float working copies stay a few hundred KB


def _flatten_alpha(bgra: np.ndarray) -> np.ndarray:
    """Put a transparent drawing on a background that contrasts with its strokes.

    Works in strips of rows into one BGR output, so a huge transparent picture needs no full-size
    float copies (a 7000x7000 one once took 2.8 GB this way)."""
    alpha = bgra[:, :, 3]
    opaque = (alpha > 127).view(np.uint8)
    count = int(cv2.countNonZero(opaque))
    if count == alpha.size:
        return np.ascontiguousarray(bgra[:, :, :3])
    strokes_dark = count > 0 and float(np.mean(cv2.mean(bgra, mask=opaque)[:3])) < 128
    background = 255.0 if strokes_dark else 0.0
    out = np.empty(bgra.shape[:2] + (3,), np.uint8)
    for top in range(0, bgra.shape[0], STRIP_ROWS):
        strip = bgra[top:top + STRIP_ROWS]
        a = strip[:, :, 3:4].astype(np.float32) / 255.0
        out[top:top + STRIP_ROWS] = (strip[:, :, :3] * a + background * (1 - a)).round()
    return out


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
    if value_range is None and pixels.dtype == np.uint8 and spec.dtype in ("uint8", "int8"):
        # raw pixels need no float copy (three passes over the picture took 0.58 ms at 224 px)
        raw = pixels if spec.dtype == "uint8" else (pixels ^ 0x80).view(np.int8)  # int8: x - 128, bit for bit
        return np.ascontiguousarray(raw).reshape(spec.shape)
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


def shrink(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Down to `size` (width, height) with area averaging; a smaller picture is left as it is."""
    if picture.shape[1] <= size[0] and picture.shape[0] <= size[1]:
        return picture
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA)


def resize_to(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """To `size` (width, height). Shrinking averages the pixels each output pixel covers, as
    OpenCV's INTER_AREA does; but INTER_AREA takes 1.25 ms for a 640x426 photo to 224x224 (a ratio
    that is not whole), so a box blur as wide as the ratio (past 2x), then bilinear, does it in 0.2 ms.
    Measured on Coral's five test pictures at 448 to 2000 px: the embedding's cosine to INTER_AREA's
    is 0.988 or more and the ImageNet model's best class the same (25 of 25). A whole ratio keeps INTER_AREA (its fast path),
    and a picture more than twice too big is first shrunk by a whole factor that way (the same on
    both sides), so the blur never copies a large picture. Bilinear is OpenCV's bit-exact one: its
    plain INTER_LINEAR rounds differently with NEON than with AVX, and a Pi must see the same
    pixels as the machine the model was measured on (tests/test_arm64.py)."""
    rx, ry = picture.shape[1] / size[0], picture.shape[0] / size[1]
    whole = int(min(rx, ry))
    if whole >= 2:  # a whole scale (fx): OpenCV's fast area path, whatever the picture's size
        picture = cv2.resize(picture, None, fx=1 / whole, fy=1 / whole, interpolation=cv2.INTER_AREA)
        rx, ry = picture.shape[1] / size[0], picture.shape[0] / size[1]
    if rx <= 1 and ry <= 1:
        return cv2.resize(picture, size, interpolation=cv2.INTER_LINEAR_EXACT)
    if rx.is_integer() and ry.is_integer():
        return cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
    # bilinear alone averages the two pixels an output pixel falls between: enough up to 2x
    kx, ky = (round(r) if r > 2 else 1 for r in (rx, ry))
    if kx > 1 or ky > 1:
        picture = cv2.blur(picture, (kx, ky))
    return cv2.resize(picture, size, interpolation=cv2.INTER_LINEAR_EXACT)


@contextmanager
def decoded(data: bytes, size: tuple[int, int], max_pixels: int, budget: DecodeBudget) -> Iterator[np.ndarray]:
    """The picture (BGR uint8) for a model taking `size`, while its decode's memory is held in
    `budget`: the header checked and its pixels limited first, a JPEG decoded smaller when it can."""
    header = checked_header(data, max_pixels)
    factor = reduction(header, size)
    with budget.reserve(working_bytes(header, factor), "the picture"):
        yield decode(data, header, factor)


def preprocess(data: bytes, spec: TensorSpec, prep: Preprocess, max_pixels: int,
               budget: DecodeBudget = UNLIMITED) -> np.ndarray:
    """The model's input tensor from picture bytes, holding the decode's memory in `budget`."""
    size = image_size(spec)
    with decoded(data, size, max_pixels, budget) as picture:
        if prep.crop_to_content and prep.color == "gray":
            longest = max(picture.shape[:2])
            if longest > WORKING_SIZE:  # what normalise_drawing works at: shrink before any copy
                scale = WORKING_SIZE / longest
                picture = shrink(picture, (max(1, round(picture.shape[1] * scale)),
                                           max(1, round(picture.shape[0] * scale))))
            return quantize(normalise_drawing(to_color(picture, "gray"), size), spec, prep.value_range)
        picture = to_color(resize_to(picture, size), prep.color)
        if prep.ink == "light_on_dark" and prep.color == "gray":
            picture = bright_strokes(picture)
        return quantize(picture, spec, prep.value_range)


@dataclass(frozen=True)
class Letterbox:
    """Where a letterboxed picture sits in the model's input, in input pixels: what undoes it."""

    left: int
    top: int
    width: int  # the picture's width once scaled, without the padding
    height: int
    size: tuple[int, int]  # the input's (width, height)

    def to_picture(self, x: float, y: float) -> tuple[float, float]:
        """A point given as fractions of the model's input, as fractions of the original picture."""
        return (x * self.size[0] - self.left) / self.width, (y * self.size[1] - self.top) / self.height


def letterbox(picture: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Scaled to fit `size` (width, height) with its aspect kept, centred, padded with black (as
    TensorFlow's resize_with_pad, which pose models such as MoveNet are shown with): a stretched
    body puts its joints in the wrong places."""
    h, w = picture.shape[:2]
    scale = min(size[0] / w, size[1] / h)
    width, height = max(1, min(size[0], round(w * scale))), max(1, min(size[1], round(h * scale)))
    scaled = resize_to(picture, (width, height))
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    boxed = cv2.copyMakeBorder(scaled, top, size[1] - height - top, left, size[0] - width - left,
                               cv2.BORDER_CONSTANT, value=0)
    return boxed, Letterbox(left, top, width, height, size)
