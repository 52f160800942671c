"""classroom-quantize edgetpu-check and compile: our own flatbuffer reading, real files, real compiler logs.

The compiler cannot run here (x86-64 apt package, not reachable), so its log parser is tested on
output users published, and the subprocess wrapper on a stand-in that replays such a log.
"""
from __future__ import annotations

import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from hub.tflite_file import Reader
from quantize.compiler import WHERE_TO_GET, compile_model, parse_log
from quantize.edgetpu import COMPILER16_MAX_VERSION, check
from quantize.errors import QuantizeError
from quantize.tflite_graph import read_graph
from tests.conftest import BUNDLED, ROOT

LOGS = Path(__file__).parent / "data" / "edgetpu_logs"
DIGITS_INT8 = BUNDLED / "digits" / "digits_int8.tflite"
DIGITS_FLOAT = BUNDLED / "digits" / "digits_float32.tflite"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quantize.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_bundled_int8_model_is_ready_for_the_edge_tpu():
    report = check(DIGITS_INT8)
    assert report.verdict == "ready", report.ops
    assert report.on_cpu == 0 and report.mapped == len(read_graph(DIGITS_INT8).operators)
    done = cli("edgetpu-check", str(DIGITS_INT8))
    assert done.returncode == 0 and "READY" in done.stdout and "CONV_2D" in done.stdout


def test_float_model_stays_on_the_cpu_with_the_fix():
    report = check(DIGITS_FLOAT)
    assert report.verdict == "cpu-only"
    assert any("not quantized" in p for p in report.problems)
    assert all("full int8" in op.fix for op in report.ops)
    assert cli("edgetpu-check", str(DIGITS_FLOAT)).returncode == 1


@pytest.mark.parametrize("plain,compiled", [
    ("mobilenet_v1_0.25_128_quant.tflite", "mobilenet_v1_0.25_128_quant_edgetpu.tflite"),
    ("keras_lstm_mnist_ptq.tflite", "keras_lstm_mnist_ptq_edgetpu.tflite"),
])
def test_coral_models_agree_with_what_the_real_compiler_did(coral, plain, compiled):
    """Coral compiled these plain files into a single custom op: our check must call them ready."""
    assert check(coral / plain).verdict == "ready"
    done = check(coral / compiled)
    assert done.verdict == "compiled"
    assert [op.op for op in done.ops] == ["edgetpu-custom-op"]


def _bump_version(content: bytes, op_name: str, version: int) -> bytes:
    """The real int8 file with one opcode's version field raised: what a newer converter writes."""
    buf = bytearray(content)
    r = Reader(bytes(buf))
    root = r._deref(0)
    graph = read_graph(bytes(buf))
    names = [op.name for op in graph.operators]
    for oc in r.tables(root, 1):
        pos = r._field(oc, 2)
        code = max(r.scalar(oc, 0, "b", 0), r.scalar(oc, 3, "i", 0))
        from quantize.tflite_graph import builtin_name

        if builtin_name(code) == op_name and pos:
            struct.pack_into("<i", buf, pos, version)
            assert op_name in names
            return bytes(buf)
    raise AssertionError(f"{op_name} has no explicit version field to raise")


def test_op_versions_newer_than_compiler_16_are_flagged_with_the_fix():
    limit = COMPILER16_MAX_VERSION["CONV_2D"]
    report = check(_bump_version(DIGITS_INT8.read_bytes(), "CONV_2D", limit + 1))
    assert report.verdict == "rejected"
    assert f"Didn't find op for builtin opcode 'CONV_2D' version '{limit + 1}'" in report.ops[0].reason
    assert any("compiler 16 will refuse" in p and "Fix:" in p for p in report.problems)


def test_unsupported_op_sends_the_rest_of_the_graph_to_the_cpu(coral):
    """The LSTM model's int16 cell state is fine; a float tensor in the middle is not."""
    report = check(DIGITS_FLOAT)
    assert report.mapped == 0
    lstm = check(coral / "keras_lstm_mnist_ptq.tflite")
    assert any(op.op == "UNIDIRECTIONAL_SEQUENCE_LSTM" and op.placement == "edgetpu" for op in lstm.ops)


@pytest.mark.parametrize("cut", [3, 8, 100, 2000])
def test_truncated_and_foreign_files_are_refused_not_crashed(cut):
    with pytest.raises(QuantizeError, match="TFLite"):
        check(DIGITS_INT8.read_bytes()[:cut])
    with pytest.raises(QuantizeError, match="TFL3"):
        check(b"\x89PNG\r\n\x1a\n" + bytes(64))


def test_cli_json_and_missing_file():
    import json

    done = cli("edgetpu-check", str(DIGITS_INT8), "--json")
    data = json.loads(done.stdout)
    assert data["verdict"] == "ready" and data["on_cpu"] == 0 and len(data["ops"]) == data["mapped"]
    missing = cli("edgetpu-check", "/nonexistent.tflite")
    assert missing.returncode == 2 and "not a file" in missing.stderr


# --- the compiler's log -------------------------------------------------------------------------

def test_parse_success_log_v16():
    log = parse_log((LOGS / "success_v16.log").read_text())
    assert log.version == "16.0.384591198" and log.success and log.compile_ms == 3133
    assert log.on_chip_bytes == round(5.90 * 1024 ** 2) and log.off_chip_bytes == round(41.75 * 1024)
    assert log.subgraphs == 1 and log.total_ops == 246
    assert log.ops_on_edgetpu == 246 and log.ops_on_cpu == 0 and log.fully_mapped
    assert [r.op for r in log.operators][:3] == ["ADD", "RESHAPE", "MAX_POOL_2D"]
    assert all(r.mapped for r in log.operators)


def test_parse_partial_mapping_logs():
    log = parse_log((LOGS / "partial_v2.log").read_text())
    assert log.success and not log.fully_mapped
    assert (log.ops_on_edgetpu, log.ops_on_cpu, log.total_ops) == (83, 10, 93)
    assert log.on_chip_remaining_bytes == round(7.75 * 1024)
    rows = parse_log((LOGS / "partial_statuses.log").read_text()).operators
    assert [(r.op, r.count, r.mapped) for r in rows][:2] == [("DEQUANTIZE", 2, False), ("DEPTHWISE_CONV_2D", 80, True)]
    assert rows[2].status.startswith("Operation is otherwise supported")


@pytest.mark.parametrize("name,fragment", [
    ("failure_op_version_v16.log", "Didn't find op for builtin opcode 'TRANSPOSE_CONV' version '4'"),
    ("failure_internal_v15.log", "Internal compiler error"),
])
def test_parse_failure_logs(name, fragment):
    log = parse_log((LOGS / name).read_text())
    assert not log.success
    assert any(fragment in e for e in log.errors)


def test_compile_without_the_compiler_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # the real situation here: no edgetpu_compiler anywhere
    with pytest.raises(QuantizeError, match="coral-edgetpu-stable"):
        compile_model(DIGITS_INT8, tmp_path / "out")
    done = subprocess.run([sys.executable, "-m", "quantize.cli", "compile", str(DIGITS_INT8), "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PATH": str(tmp_path)})
    assert done.returncode == 2 and "edgetpu_compiler is not installed" in done.stderr
    assert "READY" in done.stdout  # our own check still ran
    assert WHERE_TO_GET.split(".")[0] in done.stderr


def _stand_in(tmp_path: Path, log: str, output: Path | None, code: int = 0) -> Path:
    """A replay of a published compiler run, to test our subprocess handling around it."""
    script = tmp_path / "bin" / "edgetpu_compiler"
    script.parent.mkdir()
    copy = f'cp "{output}" "$out/$(basename "$model" .tflite)_edgetpu.tflite"' if output else ":"
    script.write_text(f"""#!/bin/sh
echo "$@" > "{tmp_path}/argv"
while [ $# -gt 1 ]; do case "$1" in -o) out="$2"; shift 2;; *) shift;; esac; done
model="$1"
{copy}
cat "{LOGS / log}"
exit {code}
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script.parent


def test_compile_wrapper_passes_options_and_verifies_the_custom_op(tmp_path, monkeypatch, coral):
    bin_dir = _stand_in(tmp_path, "success_v16.log", coral / "mobilenet_v1_0.25_128_quant_edgetpu.tflite")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    result = compile_model(DIGITS_INT8, tmp_path / "out", min_runtime=13, num_segments=2)
    assert "-m 13" in (tmp_path / "argv").read_text() and "-n 2" in (tmp_path / "argv").read_text()
    assert result.output.name == "digits_int8_edgetpu.tflite" and result.log.version == "16.0.384591198"
    assert "edgetpu-custom-op" in read_graph(result.content).custom_ops


def test_compile_wrapper_refuses_output_without_the_custom_op(tmp_path, monkeypatch):
    bin_dir = _stand_in(tmp_path, "success_v16.log", DIGITS_INT8)  # "compiled" but nothing mapped
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    with pytest.raises(QuantizeError, match="holds no edgetpu-custom-op"):
        compile_model(DIGITS_INT8, tmp_path / "out")


def test_compile_wrapper_reports_the_compilers_own_error(tmp_path, monkeypatch):
    bin_dir = _stand_in(tmp_path, "failure_op_version_v16.log", None, code=1)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    with pytest.raises(QuantizeError, match="TRANSPOSE_CONV' version '4'"):
        compile_model(DIGITS_INT8, tmp_path / "out")


def test_compile_into_a_manifest_adds_the_edgetpu_variant_the_hub_reads(tmp_path, monkeypatch, coral):
    """`compile --manifest`: the compiled file joins the model folder, with the compiler's figures."""
    import json
    import shutil

    from hub.manifest import read_spec

    folder = tmp_path / "digits"
    shutil.copytree(BUNDLED / "digits", folder)
    bin_dir = _stand_in(tmp_path, "success_v16.log", coral / "mobilenet_v1_0.25_128_quant_edgetpu.tflite")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "quantize.cli", "compile", str(folder / "digits_int8.tflite"),
                           "--manifest", str(folder / "manifest.json")], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["variants"]["edgetpu"]["file"] == "digits_int8_edgetpu.tflite"
    assert manifest["edgetpu"]["compiler"]["version"] == "16.0.384591198"
    assert read_spec(folder).variants["edgetpu"].sha256 == manifest["variants"]["edgetpu"]["sha256"]
