"""Try model files in a throwaway child process before the serving process opens them.

tflite_runtime segfaults on truncated files, and even LiteRT can die on a hostile one; a crash
here costs one child, never the hub. The child prints one JSON line per file.

    python -m hub.probe FILE [FILE ...]
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import machine
from .errors import ModelError
from .tflite_file import damage


@dataclass(frozen=True)
class ProbeResult:
    path: Path
    inputs: list[dict]
    outputs: list[dict]
    compiled: bool  # compiled for an accelerator (holds its custom op): allocates only with its delegate
    sha256: str  # of the bytes the child checked; the parent serves only bytes with this hash
    runtime: str = ""  # Runtime.identity of the runtime the child chose


def _details(entries: list[dict]) -> list[dict]:
    return [
        {"name": d["name"], "shape": [int(x) for x in d["shape"]], "dtype": d["dtype"].__name__,
         "quantization": [float(d["quantization"][0]), int(d["quantization"][1])]}
        for d in entries
    ]


def _probe_file(path: str) -> dict:
    import hashlib

    import numpy as np

    from .accelerators import compiled_for
    from .runtime.litert import select_runtime

    runtime = select_runtime()  # main() named it first; if it cannot be imported, every file says so
    with open(path, "rb") as fh:
        content = fh.read()
    compiled = compiled_for(content) is not None
    interpreter = runtime.Interpreter(model_content=content, num_threads=1)
    if not compiled:  # a compiled file cannot allocate without its device: parsing it is the check
        interpreter.allocate_tensors()
        for d in interpreter.get_input_details():
            interpreter.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        interpreter.invoke()
    return {"file": path, "ok": True, "compiled": compiled, "sha256": hashlib.sha256(content).hexdigest(),
            "runtime": runtime.identity,
            "inputs": _details(interpreter.get_input_details()),
            "outputs": _details(interpreter.get_output_details())}


def main(paths: list[str]) -> int:
    try:  # said first, so that a runtime that crashes on every file is named by the parent
        from .runtime.litert import select_runtime

        print(json.dumps({"runtime": select_runtime().identity}), flush=True)
    except Exception:  # noqa: BLE001 - the first file reports it
        pass
    for path in paths:
        print(json.dumps({"start": path}), flush=True)
        try:
            result = _probe_file(path)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, the parent decides
            result = {"file": path, "ok": False, "error": f"{type(exc).__name__}: {exc}".strip()}
        print(json.dumps(result), flush=True)
    return 0


CHILD = (sys.executable, "-m", "hub.probe")


def crash_message(culprit: Path | None, how: str, runtime: str, vouched: bool) -> str:
    """Who to blame when the child died: the file, if its bytes do not hang together; else the
    runtime, which crashes on a sound file when it cannot run on this CPU (seen under emulation)."""
    if culprit is None:
        return f"the TFLite runtime crashed ({how}) before it opened a model file"
    try:
        why = damage(culprit.read_bytes())
    except OSError as exc:
        why = f"it cannot be read again: {exc.strerror}"
    if why:
        return f"{culprit.name} crashed the runtime ({how}): the file is damaged ({why}); copy the model folder again"
    sound = "a whole TFLite file" + (" with the sha256 its manifest gives" if vouched else "")
    return (f"the TFLite runtime crashed on this machine ({how}) opening {culprit.name}, which is {sound}: "
            f"this runtime cannot run on this CPU ({runtime or machine.describe()}). "
            "Try a newer runtime (pip install --upgrade ai-edge-litert in the hub's environment), "
            "and see docs/INSTALL.md for the systems the hub is tested on")


def probe_files(paths: list[Path], timeout_s: float, child: tuple[str, ...] = CHILD,
                vouched: frozenset[Path] = frozenset()) -> dict[Path, ProbeResult]:
    """Probe `paths` in one child; raise ModelError naming the file that failed or what crashed.

    `vouched` are files whose bytes matched their manifest's sha256. The child runs in the
    package's folder, so it is given absolute paths (a relative models folder, `classroom-hub
    serve --models mymodels`, means the caller's folder)."""
    given = {str(p.absolute()): p for p in paths}
    try:
        done = subprocess.run(
            [*child, *given],
            capture_output=True, text=True, timeout=timeout_s,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
    except subprocess.TimeoutExpired:
        raise ModelError(f"checking the model file took over {timeout_s:.0f} s; it may be too large") from None
    results: dict[Path, ProbeResult] = {}
    current, runtime = None, ""
    for line in done.stdout.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if "runtime" in record and "file" not in record:
            runtime = record["runtime"]
            continue
        if "start" in record:
            current = record["start"]
            continue
        if not record["ok"]:
            raise ModelError(f"{Path(record['file']).name} cannot be loaded: {record['error']}")
        path = given.get(record["file"], Path(record["file"]))
        results[path] = ProbeResult(path, record["inputs"], record["outputs"], record["compiled"], record["sha256"],
                                    record.get("runtime", ""))
        current = None
    if done.returncode != 0 or len(results) != len(paths):
        culprit = given.get(current, Path(current)) if current else None
        how = (f"signal {signal.Signals(-done.returncode).name}" if done.returncode < 0
               else f"exit code {done.returncode}")
        raise ModelError(
            crash_message(culprit, how, runtime, culprit in vouched)
            + (f"; {done.stderr.strip().splitlines()[-1]}" if done.stderr.strip() else "")
        )
    return results


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
