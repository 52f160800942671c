"""Read an image's format and declared size from its header, before anything is decoded.

A decompression bomb is a small file that declares an enormous picture; refusing it here
costs nothing, decoding it could take the Pi's memory. Truncated files are caught here too,
because OpenCV happily returns half a JPEG.
"""
from __future__ import annotations

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


def _jpeg(data: bytes) -> ImageHeader:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise BadInput("the JPEG image is corrupt (bad marker)")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker in _SOF:
            if pos + 9 > len(data):
                break
            precision = data[pos + 4]
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            components = data[pos + 9] if pos + 9 < len(data) else 3
            if data.rfind(b"\xff\xd9") < pos:
                raise BadInput("the JPEG image is truncated (no end marker); send the whole file")
            # OpenCV decodes to 8-bit BGR whatever the file holds; 12-bit JPEGs pass through 16 bits
            return ImageHeader("jpeg", width, height, max(3, components), 2 if precision > 8 else 1)
        pos += 2 + length
    raise BadInput("the JPEG image is truncated (no frame header)")


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
