"""Read a .tflite flatbuffer's graph (ops, op versions, tensors) without TensorFlow or an interpreter.

The Edge TPU check must work on any machine and on files an interpreter would refuse (an
`_edgetpu` model without its delegate, an op version the runtime does not know), so this reads
the flatbuffer itself: a few tables of the TFLite schema, bounds-checked, never the weights.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from hub.tflite_file import IDENTIFIER, NotTFLite, Reader

from .errors import QuantizeError

TENSOR_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
                7: "int16", 8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64",
                13: "resource", 14: "variant", 15: "uint32", 16: "uint16", 17: "int4"}


def _builtin_names() -> dict[int, str]:
    try:
        from ai_edge_litert.schema_py_generated import BuiltinOperator
    except ImportError:
        return {}
    return {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


_NAMES = _builtin_names()


def builtin_name(code: int) -> str:
    return _NAMES.get(code, f"BUILTIN_{code}")


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...] | None  # -1 marks a dynamic dimension
    dtype: str
    quantized: bool
    constant: bool = False  # holds data in the file (weights, biases), not an activation

    @property
    def dynamic(self) -> bool:
        return bool(self.shape_signature) and any(d < 0 for d in self.shape_signature)


@dataclass(frozen=True)
class Operator:
    index: int
    name: str  # builtin name, or the custom op's name
    version: int
    custom: bool
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class Graph:
    schema_version: int
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    subgraphs: int
    description: str

    def tensor(self, i: int) -> Tensor | None:
        return self.tensors[i] if 0 <= i < len(self.tensors) else None

    @property
    def custom_ops(self) -> set[str]:
        return {op.name for op in self.operators if op.custom}


def read_graph(source: bytes | Path) -> Graph:
    """The main subgraph's ops and tensors; QuantizeError if the file is not a TFLite model."""
    buf = source.read_bytes() if isinstance(source, Path) else source
    if len(buf) < 8 or buf[4:8] != IDENTIFIER:
        raise QuantizeError("not a TFLite model (no TFL3 identifier): give a .tflite file")
    try:
        return _read(Reader(buf))
    except NotTFLite as exc:
        raise QuantizeError(str(exc)) from None
    except (struct.error, IndexError, UnicodeDecodeError):
        raise QuantizeError("not a TFLite model: the flatbuffer is damaged or truncated") from None


def _read(r: Reader) -> Graph:
    root = r._deref(0)
    codes = []
    for oc in r.tables(root, 1):
        deprecated = r.scalar(oc, 0, "b", 0)
        builtin = max(deprecated, r.scalar(oc, 3, "i", 0))
        custom = r.string(oc, 1)
        codes.append((custom or builtin_name(builtin), r.scalar(oc, 2, "i", 1), bool(custom)))
    subgraphs = r.tables(root, 2)
    if not subgraphs:
        raise QuantizeError("TFLite model has no subgraph")
    main = subgraphs[0]
    buffers = r.tables(root, 4)

    def has_data(index: int) -> bool:
        if not 0 < index < len(buffers):
            return False
        return r.vector(buffers[index], 0)[1] > 0 or r.scalar(buffers[index], 1, "Q", 0) > 1

    tensors = []
    for t in r.tables(main, 0):
        quant = r.table(t, 4)
        quantized = bool(quant) and r.floats_len(quant, 2) > 0
        signature = r.ints(t, 7)
        tensors.append(Tensor(r.string(t, 3), tuple(r.ints(t, 0)), tuple(signature) or None,
                              TENSOR_TYPES.get(r.scalar(t, 1, "b", 0), "unknown"), quantized,
                              has_data(r.scalar(t, 2, "I", 0))))
    operators = []
    for i, op in enumerate(r.tables(main, 3)):
        index = r.scalar(op, 0, "I", 0)
        if index >= len(codes):
            raise QuantizeError(f"TFLite model: operator {i} names opcode {index}, which does not exist")
        name, version, custom = codes[index]
        operators.append(Operator(i, name, version, custom, tuple(r.ints(op, 1)), tuple(r.ints(op, 2))))
    return Graph(r.scalar(root, 0, "I", 0), tuple(tensors), tuple(operators), tuple(r.ints(main, 1)),
                 tuple(r.ints(main, 2)), len(subgraphs), r.string(root, 3))
