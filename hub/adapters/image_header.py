"""Read an image's format and declared size from its header, before anything is decoded.

A decompression bomb is a small file that declares an enormous picture; refusing it here
costs nothing, decoding it could take the Pi's memory. Truncated files are caught here too,
because OpenCV happily returns half a JPEG.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from ..errors import BadInput, UnsupportedMediaType

FORMATS = ("png", "jpeg", "bmp", "webp")


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int
    channels: int = 3  # as decoded: gray 1, colour 3, with transparency 4
    sample_bytes: int = 1  # 2 for a 16-bit PNG
    # JPEG only: libjpeg decodes a lossless one at full size whatever scale is asked, and holds a
    # buffer of the whole picture while decoding a progressive one, one with a scan per component or
    # a lossless one with several scans (its DCT coefficients or samples), at full size too
    lossless: bool = False
    whole_image_bytes: int = 0

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        """What the decoder's output takes at full size."""
        return self.pixels * self.channels * self.sample_bytes


# PNG colour types: gray, RGB, palette, gray + alpha, RGBA; OpenCV decodes a palette to BGR (or BGRA
# with a tRNS chunk, counted as 4 to be safe) and gray + alpha to BGRA.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 4, 6: 4}


def _png(data: bytes) -> ImageHeader:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise BadInput("the PNG image is truncated (no IHDR header)")
    width, height = struct.unpack(">II", data[16:24])
    if len(data) < 26:
        raise BadInput("the PNG image is truncated (short IHDR header)")
    depth, colour = data[24], data[25]
    if depth not in (1, 2, 4, 8, 16) or colour not in _PNG_CHANNELS:
        raise BadInput(f"the PNG image is corrupt (bit depth {depth}, colour type {colour})")
    if b"IEND" not in data[-64:]:
        raise BadInput("the PNG image is truncated (no IEND chunk); send the whole file")
    return ImageHeader("png", width, height, _PNG_CHANNELS[colour], 2 if depth == 16 else 1)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}
_LOSSLESS = {0xC3, 0xC7, 0xCB, 0xCF}
# The next marker: an 0xFF not followed by a stuffed 0, another 0xFF (fill) or RSTn, which belong to
# a scan's entropy-coded data; searched for in C, so walking a file costs one step a real marker.
_MARKER = re.compile(rb"\xff[^\x00\xff\xd0-\xd7]")
_JUNK = re.compile(rb"[^\xff\xd0-\xd7]")  # between segments before the frame: only fill bytes (and RSTn)
# Every camera and phone writes a progressive JPEG in at most a dozen scans or so (libjpeg's default
# is 10 for colour, Photoshop's 3 to 5), a baseline one in 1 to 4; but each scan is a pass over all
# the picture's blocks, whatever the scale it is decoded at, so a crafted file repeating one scan
# thousands of times costs seconds of CPU per request (60,000 in 2 MB: 35 s). 100 is several times
# what any encoder writes and bounds the decode to a few times a normal one's work.
MAX_SCANS = 100
MAX_MARKERS = 10_000  # a real JPEG has tens; this bounds the walk over a file made of empty markers


def _whole_image_bytes(width: int, height: int, sampling: list[tuple[int, int]], unit: int, size: int) -> int:
    """libjpeg's whole-picture buffer: per component, its data units (8x8 blocks of 2-byte DCT
    coefficients, or lossless samples) at its own sampling, rounded up to whole MCUs as libjpeg does."""
    hmax, vmax = max(h for h, _ in sampling), max(v for _, v in sampling)
    total = 0
    for h, v in sampling:
        across = -(-(-(-width * h // (hmax * unit))) // h) * h
        down = -(-(-(-height * v // (vmax * unit))) // v) * v
        total += across * down * unit * unit * size
    return total


def _jpeg(data: bytes) -> ImageHeader:
    """The frame header (SOF), and a walk over the rest of the markers up to EOI: the scans counted
    (too many refused), and whether the first one carries every component (else libjpeg buffers the
    whole picture, as for a progressive JPEG). An ordinary photo's walk ends at its one scan."""
    pos, markers, frame, scans, first_scan = 2, 0, None, 0, 0
    while pos + 2 <= len(data):
        found = _MARKER.search(data, pos)
        if found is None:
            break
        if frame is None and _JUNK.search(data, pos, found.start()):
            raise BadInput("the JPEG image is corrupt (bad marker)")
        marker, pos = data[found.start() + 1], found.end()
        markers += 1
        if markers > MAX_MARKERS:
            raise BadInput(f"the JPEG image is corrupt (more than {MAX_MARKERS} markers)")
        if marker == 0xD9:  # EOI: what follows (a phone's motion-photo video, say) is not decoded
            break
        if marker in (0xD8, 0x01):  # no length
            continue
        if pos + 2 > len(data):
            break
        (length,) = struct.unpack(">H", data[pos:pos + 2])
        if marker in _SOF and frame is None:
            if pos + 7 > len(data):
                break
            precision = data[pos + 2]
            height, width = struct.unpack(">HH", data[pos + 3:pos + 7])
            components = data[pos + 7] if pos + 7 < len(data) else 3
            if data.rfind(b"\xff\xd9") < pos:
                raise BadInput("the JPEG image is truncated (no end marker); send the whole file")
            sampling = [(max(1, min(4, b >> 4)), max(1, min(4, b & 15)))
                        for b in data[pos + 9:pos + 8 + 3 * components:3]] or [(1, 1)]
            frame = marker, precision, width, height, components, sampling
        elif marker == 0xDA:
            scans += 1
            if scans == 1:
                first_scan = data[pos + 2] if pos + 2 < len(data) else 0
                if frame is not None and frame[0] not in _PROGRESSIVE and first_scan >= frame[4]:
                    break  # sequential, every component in one scan: libjpeg decodes it in one pass and
                    # refuses a scan after it, so the walk (0.4 ms of an 875 KB photo) stops here
            if scans > MAX_SCANS:
                raise BadInput(f"the JPEG image is made of more than {MAX_SCANS} scans, which no camera writes; "
                               "save it again as an ordinary JPEG (or PNG) and send that")
        pos += max(length, 2)
    if frame is None:
        raise BadInput("the JPEG image is truncated (no frame header)")
    marker, precision, width, height, components, sampling = frame
    lossless = marker in _LOSSLESS
    whole = 0
    if marker in _PROGRESSIVE or (scans and first_scan < components):
        unit, size = (1, 1 if precision <= 8 else 2) if lossless else (8, 2)
        whole = _whole_image_bytes(width, height, sampling, unit, size)
    # OpenCV decodes to 8-bit BGR whatever the file holds; 12-bit JPEGs pass through 16 bits
    return ImageHeader("jpeg", width, height, max(3, components), 2 if precision > 8 else 1, lossless, whole)


def _bmp(data: bytes) -> ImageHeader:
    if len(data) < 26:
        raise BadInput("the BMP image is truncated")
    (file_size,) = struct.unpack("<I", data[2:6])
    width, height = struct.unpack("<ii", data[18:26])
    if file_size and len(data) < file_size:
        raise BadInput("the BMP image is truncated; send the whole file")
    return ImageHeader("bmp", abs(width), abs(height), 3)


def _webp(data: bytes) -> ImageHeader:
    (riff_size,) = struct.unpack("<I", data[4:8])
    if len(data) < riff_size + 8 or len(data) < 30:
        raise BadInput("the WebP image is truncated; send the whole file")
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
    elif chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        width, height = 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    elif chunk == b"VP8 ":
        width, height = (x & 0x3FFF for x in struct.unpack("<HH", data[26:30]))
    else:
        raise BadInput("the WebP image is corrupt (unknown chunk)")
    return ImageHeader("webp", width, height, 4)


def read_header(data: bytes) -> ImageHeader:
    """Format and size of `data`; BadInput when broken, UnsupportedMediaType when not an image."""
    if not data:
        raise BadInput("the image is empty")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        header = _png(data)
    elif data.startswith(b"\xff\xd8\xff"):
        header = _jpeg(data)
    elif data.startswith(b"BM"):
        header = _bmp(data)
    elif data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        header = _webp(data)
    else:
        raise UnsupportedMediaType("not a PNG, JPEG, BMP or WebP image", accepted=list(FORMATS))
    if header.width <= 0 or header.height <= 0:
        raise BadInput(f"the {header.format} image declares an empty size")
    return header
