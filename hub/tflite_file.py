"""A .tflite file's flatbuffer, read without an interpreter: bounds-checked, never trusting an offset.

Two sides use it. The hub asks `damage` whether a file's bytes hang together before it blames
the file for a crash of the runtime (a runtime that cannot run on this CPU crashes on a sound
file too). quantize/tflite_graph.py reads the graph (ops, versions, tensors) for the Edge TPU
check. Only a few tables of the TFLite schema are known here, by their field slots.
"""
from __future__ import annotations

import struct

from .errors import ModelError

IDENTIFIER = b"TFL3"


class NotTFLite(ModelError):
    """The bytes are not a whole TFLite flatbuffer (another format, cut short, or damaged)."""


class Reader:
    """Just enough of the flatbuffers wire format: tables, vectors, strings, scalars."""

    def __init__(self, buf: bytes):
        self.buf = buf

    def _u32(self, pos: int) -> int:
        if pos < 0 or pos + 4 > len(self.buf):
            raise NotTFLite("not a TFLite model: the flatbuffer points outside the file (truncated?)")
        return struct.unpack_from("<I", self.buf, pos)[0]

    def _field(self, table: int, slot: int) -> int:
        """Absolute position of a table field, or 0 when absent."""
        if table < 0 or table + 4 > len(self.buf):
            raise NotTFLite("not a TFLite model: a table lies outside the file (truncated?)")
        vtable = table - struct.unpack_from("<i", self.buf, table)[0]
        if vtable < 0 or vtable + 4 > len(self.buf):
            raise NotTFLite("not a TFLite model: bad vtable")
        vt_size = struct.unpack_from("<H", self.buf, vtable)[0]
        entry = 4 + 2 * slot
        if entry + 2 > vt_size:
            return 0
        offset = struct.unpack_from("<H", self.buf, vtable + entry)[0]
        return table + offset if offset else 0

    def scalar(self, table: int, slot: int, fmt: str, default: int = 0) -> int:
        pos = self._field(table, slot)
        if not pos:
            return default
        if pos + struct.calcsize(fmt) > len(self.buf):
            raise NotTFLite("not a TFLite model: field past the end of the file")
        return struct.unpack_from("<" + fmt, self.buf, pos)[0]

    def _deref(self, pos: int) -> int:
        return pos + self._u32(pos)

    def table(self, table: int, slot: int) -> int:
        pos = self._field(table, slot)
        return self._deref(pos) if pos else 0

    def vector(self, table: int, slot: int) -> tuple[int, int]:
        """(position of the first element, length), or (0, 0) when absent."""
        pos = self._field(table, slot)
        if not pos:
            return 0, 0
        start = self._deref(pos)
        length = self._u32(start)
        if start + 4 + length > len(self.buf):
            raise NotTFLite("not a TFLite model: vector past the end of the file (truncated?)")
        return start + 4, length

    def tables(self, table: int, slot: int) -> list[int]:
        start, length = self.vector(table, slot)
        return [self._deref(start + 4 * i) for i in range(length)]

    def ints(self, table: int, slot: int) -> tuple[int, ...]:
        start, length = self.vector(table, slot)
        if start + 4 * length > len(self.buf):
            raise NotTFLite("not a TFLite model: vector past the end of the file")
        return struct.unpack_from(f"<{length}i", self.buf, start) if length else ()

    def floats_len(self, table: int, slot: int) -> int:
        return self.vector(table, slot)[1]

    def string(self, table: int, slot: int) -> str:
        start, length = self.vector(table, slot)
        if not start:
            return ""
        if start + length > len(self.buf):
            raise NotTFLite("not a TFLite model: string past the end of the file")
        return self.buf[start:start + length].decode("utf-8", "replace")


def _check_graph(r: Reader, subgraph: int) -> None:
    for t in r.tables(subgraph, 0):  # tensors: shape, name, quantization, shape signature
        r.ints(t, 0)
        r.string(t, 3)
        quant = r.table(t, 4)
        if quant:
            for slot in range(4):  # min, max, scale, zero_point
                r.vector(quant, slot)
        r.ints(t, 7)
    for op in r.tables(subgraph, 3):  # operators: inputs, outputs, builtin options, custom options
        r.ints(op, 1)
        r.ints(op, 2)
        options = r.table(op, 4)
        if options:
            r._field(options, 0)  # its vtable lies in the file
        r.vector(op, 5)
    r.ints(subgraph, 1)
    r.ints(subgraph, 2)


def damage(buf: bytes) -> str | None:
    """What is wrong with a .tflite file's structure, or None when every table, vector and buffer it
    declares lies inside the file: a file cut short or overwritten fails this, a sound one passes."""
    if len(buf) < 8 or buf[4:8] != IDENTIFIER:
        return "it is not a TFLite model (no TFL3 identifier)"
    r = Reader(buf)
    try:
        root = r._deref(0)
        for oc in r.tables(root, 1):  # operator codes
            r.string(oc, 1)
        subgraphs = r.tables(root, 2)
        if not subgraphs:
            return "it has no graph"
        for subgraph in subgraphs:
            _check_graph(r, subgraph)
        for b in r.tables(root, 4):  # buffers: inline data, or an offset and size past the flatbuffer
            r.vector(b, 0)
            offset, size = r.scalar(b, 1, "Q", 0), r.scalar(b, 2, "Q", 0)
            if offset > 1 and offset + size > len(buf):
                raise NotTFLite("not a TFLite model: a weights buffer lies past the end of the file (truncated?)")
        for m in r.tables(root, 6):  # metadata: a name and a buffer index
            r.string(m, 0)
        for sig in r.tables(root, 7):  # signatures: tensor maps of names and indexes, a key
            for slot in (0, 1):
                for tensor_map in r.tables(sig, slot):
                    r.string(tensor_map, 0)
            r.string(sig, 2)
    except NotTFLite as exc:
        return str(exc).removeprefix("not a TFLite model: ")
    except (struct.error, IndexError):
        return "the flatbuffer is damaged"
    return None
