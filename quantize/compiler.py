"""Run Coral's `edgetpu_compiler` (when installed) and turn its log into facts for the manifest.

The compiler is a closed x86-64 binary from Coral's apt repository; we only ever run it as a
subprocess and read what it prints: the summary block, the operator table, and its errors.
Its output is then checked for the `edgetpu-custom-op`, so a file the compiler wrote but did
not really compile is never shipped as an Edge TPU model.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .edgetpu import CUSTOM_OP
from .errors import QuantizeError
from .tflite_graph import read_graph

COMPILER = "edgetpu_compiler"
WHERE_TO_GET = (
    "edgetpu_compiler is not installed. It exists only for x86-64 Debian/Ubuntu, from Coral's apt "
    "repository (https://coral.ai/docs/edgetpu/compiler/: add packages.cloud.google.com/apt "
    "coral-edgetpu-stable, then apt-get install edgetpu-compiler), or in Coral's Colab notebook. "
    "The CPU int8 model is complete without it"
)
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}


@dataclass(frozen=True)
class OperatorRow:
    op: str
    count: int
    status: str

    @property
    def mapped(self) -> bool:
        return self.status.startswith("Mapped to Edge TPU")


@dataclass
class CompilerLog:
    version: str | None = None
    success: bool = False
    compile_ms: int | None = None
    output_model: str | None = None
    on_chip_bytes: int | None = None
    on_chip_remaining_bytes: int | None = None
    off_chip_bytes: int | None = None
    subgraphs: int | None = None
    total_ops: int | None = None
    ops_on_edgetpu: int | None = None
    ops_on_cpu: int | None = None
    operators: list[OperatorRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def fully_mapped(self) -> bool:
        return self.success and (self.ops_on_cpu or 0) == 0

    def to_json(self) -> dict:
        return asdict(self)


def _bytes(text: str) -> int:
    m = re.fullmatch(r"([\d.]+)\s*(B|KiB|MiB|GiB)", text.strip())
    if not m:
        raise ValueError(text)
    return round(float(m.group(1)) * _UNITS[m.group(2)])


# The summary block: (line, CompilerLog attribute, how to read the value).
_SUMMARY = [(re.compile(pattern), attr, convert) for pattern, attr, convert in (
    (r"Edge TPU Compiler version (\S+)", "version", str),
    (r"Model compiled successfully in (\d+) ms", "compile_ms", int),
    (r"Output model: (.+)$", "output_model", str.strip),
    (r"On-chip memory used for caching model parameters: (.+)$", "on_chip_bytes", _bytes),
    (r"On-chip memory remaining for caching model parameters: (.+)$", "on_chip_remaining_bytes", _bytes),
    (r"Off-chip memory used for streaming uncached model parameters: (.+)$", "off_chip_bytes", _bytes),
    (r"Number of Edge TPU subgraphs: (\d+)", "subgraphs", int),
    (r"Total number of operations: (\d+)", "total_ops", int),
    (r"Number of operations that will run on Edge TPU: (\d+)", "ops_on_edgetpu", int),
    (r"Number of operations that will run on CPU: (\d+)", "ops_on_cpu", int),
)]


def parse_log(text: str) -> CompilerLog:
    """Parse what `edgetpu_compiler -s` prints (versions 2.x to 16 share this format)."""
    log = CompilerLog()
    in_table = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        field = next(((attr, convert, m) for pattern, attr, convert in _SUMMARY if (m := pattern.match(line))), None)
        if field:
            attr, convert, m = field
            setattr(log, attr, convert(m.group(1)))
        elif re.match(r"Operator\s+Count\s+Status", line):
            in_table = True
        elif in_table and (m := re.match(r"([A-Z][A-Z0-9_]*)\s+(\d+)\s+(\S.*)$", line)):
            log.operators.append(OperatorRow(m.group(1), int(m.group(2)), m.group(3).strip()))
        elif line.startswith(("ERROR:", "Invalid model", "Model could not be", "Compilation failed")) \
                or "Internal compiler error" in line:
            log.errors.append(line)
    log.success = log.compile_ms is not None and not log.errors  # "Model compiled successfully in N ms"
    if log.success and log.total_ops is not None and log.ops_on_edgetpu is None:
        # the compiler prints the two counts only when some ops stay on the CPU
        log.ops_on_edgetpu, log.ops_on_cpu = log.total_ops, 0
    return log


@dataclass(frozen=True)
class CompileResult:
    log: CompilerLog
    output: Path
    content: bytes


def find_compiler() -> str | None:
    return shutil.which(os.environ.get("EDGETPU_COMPILER", COMPILER))


def compile_model(model: Path, out_dir: Path, min_runtime: int | None = None, num_segments: int | None = None,
                  timeout_s: float = 600) -> CompileResult:
    """Compile `model` into out_dir; QuantizeError with the compiler's own words if it fails."""
    compiler = find_compiler()
    if compiler is None:
        raise QuantizeError(WHERE_TO_GET)
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [compiler, "-s", "-o", str(out_dir)]
    if min_runtime is not None:
        cmd += ["-m", str(min_runtime)]
    if num_segments is not None:
        cmd += ["-n", str(num_segments)]
    cmd.append(str(model))
    with tempfile.TemporaryDirectory() as cwd:  # the compiler may drop files in its working folder
        try:
            done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise QuantizeError(f"{COMPILER} did not finish in {timeout_s:.0f} s") from None
    log = parse_log(done.stdout + "\n" + done.stderr)
    if done.returncode != 0 or not log.success:
        said = "; ".join(log.errors) or (done.stderr.strip() or done.stdout.strip())[-500:]
        raise QuantizeError(f"{COMPILER} refused {model.name} (exit {done.returncode}): {said}")
    output = out_dir / f"{model.stem}_edgetpu.tflite"
    if not output.exists():
        raise QuantizeError(f"{COMPILER} said it succeeded but wrote no {output.name}")
    content = output.read_bytes()
    if CUSTOM_OP not in read_graph(content).custom_ops:
        raise QuantizeError(f"{output.name} holds no {CUSTOM_OP}: nothing was mapped to the Edge TPU; "
                            "serve the CPU int8 model instead")
    return CompileResult(log, output, content)
