"""Will this model run on the Edge TPU? Our own op-by-op check, with no compiler needed.

The Edge TPU takes only fully int8 (or uint8) graphs with static shapes, batch 1 and a fixed
set of ops; the compiler maps the graph from the start up to the first op it cannot take and
leaves everything after it on the CPU. Its last version (16, July 2021) also refuses outright
any op version newer than the TensorFlow Lite it was built with, which new converters emit.
`check` reads the flatbuffer itself and says all of that before anyone installs the compiler.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .tflite_graph import Graph, read_graph

CUSTOM_OP = "edgetpu-custom-op"
QUANTIZED = {"int8", "uint8"}
ALLOWED_AUX = {"int32"}  # biases, shapes and indices beside int8 data

# Ops the Edge TPU executes (Coral, "TensorFlow models on the Edge TPU", supported operations),
# with the limitation the compiler applies; "" when there is none worth saying.
EDGETPU_OPS: dict[str, str] = {
    "ADD": "", "AVERAGE_POOL_2D": "no fused activation", "CONCATENATION": "no fused activation",
    "CONV_2D": "", "DEPTHWISE_CONV_2D": "", "EXPAND_DIMS": "",
    "FULLY_CONNECTED": "default weights format only; output one-dimensional", "L2_NORMALIZATION": "",
    "LOGISTIC": "", "UNIDIRECTIONAL_SEQUENCE_LSTM": "", "MAXIMUM": "", "MAX_POOL_2D": "no fused activation",
    "MEAN": "reduces along x and/or y only", "MINIMUM": "", "MUL": "", "PACK": "",
    "PAD": "pads along x and/or y only", "PRELU": "", "QUANTIZE": "", "REDUCE_MAX": "", "REDUCE_MIN": "",
    "RELU": "", "RELU6": "", "RELU_N1_TO_1": "", "RESHAPE": "",
    "RESIZE_BILINEAR": "3-D tensors; may stay on the CPU to keep precision",
    "RESIZE_NEAREST_NEIGHBOR": "3-D tensors", "RSQRT": "", "SLICE": "", "SOFTMAX": "1-D input, at most 16,000 values",
    "SPACE_TO_DEPTH": "", "SPLIT": "", "SQUEEZE": "", "SQUARED_DIFFERENCE": "", "STRIDED_SLICE": "", "SUB": "",
    "SUM": "", "TANH": "", "TRANSPOSE": "", "TRANSPOSE_CONV": "", "HARD_SWISH": "",
}

# The highest version of each op that compiler 16 can parse. Compiler 16 predates the op
# versions that TensorFlow Lite 2.6 and later introduced (tensorflow/lite/tools/versioning/
# runtime_version.cc gives the version each op gained in which release). Public reports show
# it refusing CONV_2D v6, TRANSPOSE_CONV v4, QUANTIZE v3 and EXP v2 with "Didn't find op for
# builtin opcode ... version ...".
COMPILER16_MAX_VERSION: dict[str, int] = {
    "ADD": 3, "AVERAGE_POOL_2D": 3, "CONCATENATION": 3, "CONV_2D": 5, "DEPTHWISE_CONV_2D": 6,
    "EXPAND_DIMS": 1, "FULLY_CONNECTED": 9, "L2_NORMALIZATION": 2, "LOGISTIC": 3, "MAXIMUM": 4,
    "MAX_POOL_2D": 3, "MEAN": 3, "MINIMUM": 4, "MUL": 4, "PACK": 3, "PAD": 3, "QUANTIZE": 2,
    "DEQUANTIZE": 4, "REDUCE_MAX": 3, "REDUCE_MIN": 3, "RELU6": 3, "RESHAPE": 1, "RESIZE_BILINEAR": 4,
    "RESIZE_NEAREST_NEIGHBOR": 4, "SLICE": 5, "SOFTMAX": 3, "SPACE_TO_DEPTH": 2, "SPLIT": 4,
    "SQUEEZE": 2, "SQUARED_DIFFERENCE": 2, "STRIDED_SLICE": 5, "SUB": 5, "SUM": 2, "TANH": 3,
    "TRANSPOSE": 5, "TRANSPOSE_CONV": 3, "UNIDIRECTIONAL_SEQUENCE_LSTM": 3, "EXP": 1,
}

VERSION_FIX = ("convert with a TensorFlow whose converter emits an older version of this op "
               "(2.5 era), or replace the layer with one the Edge TPU takes; LiteRT on the CPU "
               "runs this file as it is")


@dataclass(frozen=True)
class OpFinding:
    index: int
    op: str
    version: int
    placement: str  # "edgetpu" | "cpu" | "compiled" (already inside the custom op)
    reason: str = ""
    fix: str = ""


@dataclass
class EdgeTpuReport:
    file: str
    verdict: str  # "compiled" | "ready" | "partial" | "cpu-only" | "rejected"
    summary: str
    ops: list[OpFinding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # whole-model problems, each with its fix

    @property
    def mapped(self) -> int:
        return sum(1 for op in self.ops if op.placement == "edgetpu")

    @property
    def on_cpu(self) -> int:
        return sum(1 for op in self.ops if op.placement == "cpu")

    def to_json(self) -> dict:
        out = asdict(self)
        out.update(mapped=self.mapped, on_cpu=self.on_cpu)
        return out


def _dtype_problem(graph: Graph, tensor_ids: tuple[int, ...], op_name: str) -> str:
    allowed = ALLOWED_AUX | ({"int16"} if op_name == "UNIDIRECTIONAL_SEQUENCE_LSTM" else set())  # its cell state
    for i in tensor_ids:
        t = graph.tensor(i)
        if t is None:
            continue
        if t.dtype in QUANTIZED and t.quantized:
            continue
        if t.dtype in allowed:
            continue
        return f"tensor {t.name!r} is {t.dtype}, not quantized int8"
    return ""


def _shape_problem(graph: Graph, tensor_ids: tuple[int, ...]) -> str:
    for i in tensor_ids:
        t = graph.tensor(i)
        if t is None or t.constant:  # weights may have 4 dimensions; activations may not
            continue
        if t.dynamic:
            return f"tensor {t.name!r} has a dynamic shape {list(t.shape_signature or ())}"
        if len(t.shape) > 3 and any(d > 1 for d in t.shape[:-3]):
            return f"tensor {t.name!r} {list(t.shape)}: only the 3 innermost dimensions may exceed 1"
    return ""


def _op_finding(graph: Graph, op) -> OpFinding:
    if op.name not in EDGETPU_OPS:
        return OpFinding(op.index, op.name, op.version, "cpu", "the Edge TPU has no such operation",
                         "replace the layer with a supported one, or accept that this op and all after it run on the CPU")
    problem = _dtype_problem(graph, op.inputs + op.outputs, op.name)
    if problem:
        return OpFinding(op.index, op.name, op.version, "cpu", f"unsupported data type: {problem}",
                         "convert with full int8 quantization (a representative dataset and TFLITE_BUILTINS_INT8)")
    problem = _shape_problem(graph, op.inputs + op.outputs)
    if problem:
        return OpFinding(op.index, op.name, op.version, "cpu", problem,
                         "export with a fixed input shape and batch 1")
    return OpFinding(op.index, op.name, op.version, "edgetpu", EDGETPU_OPS[op.name])


def check(source: bytes | Path, name: str | None = None) -> EdgeTpuReport:
    """Op by op: where each op would run, and what compiler 16 would refuse."""
    graph = read_graph(source)
    file_name = name or (source.name if isinstance(source, Path) else "model.tflite")
    if CUSTOM_OP in graph.custom_ops:
        ops = [OpFinding(op.index, op.name, op.version, "compiled" if op.name == CUSTOM_OP else "cpu",
                         "" if op.name == CUSTOM_OP else "left outside the Edge TPU segment by the compiler")
               for op in graph.operators]
        rest = sum(1 for op in ops if op.placement == "cpu")
        return EdgeTpuReport(file_name, "compiled",
                             f"already compiled for the Edge TPU ({rest} op(s) outside the custom op run on the CPU); "
                             "it needs libedgetpu to run, keep its CPU int8 sibling beside it", ops)
    problems = []
    for i in graph.inputs:
        t = graph.tensor(i)
        if t and t.shape and t.shape[0] != 1:
            problems.append(f"input {t.name!r} has batch {t.shape[0]}: the Edge TPU runs batch 1; export with batch 1")
        if t and t.dynamic:
            problems.append(f"input {t.name!r} has a dynamic shape: export with a fixed input shape")
    if graph.subgraphs > 1:
        problems.append(f"{graph.subgraphs} subgraphs (control flow): the compiler maps only the main one")
    if not any(t.quantized for t in graph.tensors):
        problems.append("the model is not quantized: the Edge TPU needs full int8; "
                        "convert with a representative dataset (classroom-quantize does)")
    ops, first_cpu = [], None
    rejected = []
    for op in graph.operators:
        finding = _op_finding(graph, op)
        limit = COMPILER16_MAX_VERSION.get(op.name)
        if limit is not None and op.version > limit:
            rejected.append(f"{op.name} version {op.version} (compiler 16 reads up to {limit})")
            finding = OpFinding(op.index, op.name, op.version, "cpu",
                                f"compiler 16 refuses version {op.version} (it reads up to {limit}): "
                                f"\"Didn't find op for builtin opcode '{op.name}' version '{op.version}'\"",
                                VERSION_FIX)
        elif first_cpu is not None and finding.placement == "edgetpu":
            finding = OpFinding(op.index, op.name, op.version, "cpu",
                                f"after {first_cpu}, which runs on the CPU: the compiler maps one segment only",
                                f"move or replace {first_cpu}, or compile with -a (several segments)")
        if finding.placement == "cpu" and first_cpu is None and any(o.placement == "edgetpu" for o in ops):
            # CPU ops before the first mapped one (an input QUANTIZE from float) do not split it
            first_cpu = f"op {op.index} {op.name}"
        ops.append(finding)
    if rejected:
        problems.append("compiler 16 will refuse the whole model: " + "; ".join(sorted(set(rejected)))
                        + ". Fix: " + VERSION_FIX)
        verdict = "rejected"
    elif not any(o.placement == "edgetpu" for o in ops):
        verdict = "cpu-only"
    elif any(o.placement == "cpu" for o in ops) or problems:
        verdict = "partial"
    else:
        verdict = "ready"
    mapped = sum(1 for o in ops if o.placement == "edgetpu")
    summary = {
        "ready": f"all {len(ops)} ops can run on the Edge TPU; compile it with edgetpu_compiler",
        "partial": f"{mapped} of {len(ops)} ops can run on the Edge TPU; the rest run on the CPU (slower)",
        "cpu-only": "no op can run on the Edge TPU; serve it on the CPU",
        "rejected": "edgetpu_compiler 16 will refuse this file; the CPU runs it as it is",
    }[verdict]
    return EdgeTpuReport(file_name, verdict, summary, ops, problems)


def format_report(report: EdgeTpuReport) -> str:
    lines = [f"{report.file}: {report.verdict.upper()}: {report.summary}", ""]
    lines.append(f"{'#':>3}  {'op':<28} {'v':>2}  {'runs on':<8}  why")
    for op in report.ops:
        why = op.reason + (f"  -> fix: {op.fix}" if op.fix else "")
        lines.append(f"{op.index:>3}  {op.op:<28} {op.version:>2}  {op.placement:<8}  {why}")
    for problem in report.problems:
        lines.append(f"problem: {problem}")
    return "\n".join(lines)
