"""Train or take a model, make every variant, measure them all, gate, check the Edge TPU, write.

`build_recipe` (our recipes) and `convert_model` (a user's Keras model) share everything
after the float model exists: `make_variants`, `measure`, `choose_and_gate` and `ship`.
"""
from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hub.manifest import SCHEMA_VERSION

from . import progress
from .compiler import WHERE_TO_GET, compile_model, find_compiler
from .edgetpu import check as edgetpu_check
from .errors import GateRefused, QuantizeError
from .evaluate import Runner, gzip_size
from .recipes.base import Dataset
from .variants import VARIANTS, clustered, convert, pruned, quantization_aware

CALIBRATION_SAMPLES = 300


@dataclass
class VariantResult:
    name: str
    description: str
    int8: bool
    content: bytes
    size: int = 0
    gzip_size: int = 0
    accuracy: float | None = None
    val_accuracy: float | None = None
    agreement: float | None = None  # top-1 agreement with the float32 model
    median_invoke_ms: float | None = None
    conditions: dict[str, float] = field(default_factory=dict)
    io_dtype: str = ""
    skipped: str = ""  # why the variant was not made

    def to_json(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "content"}
        for k in ("accuracy", "val_accuracy", "agreement"):
            if out[k] is not None:
                out[k] = round(out[k], 4)
        if out["median_invoke_ms"] is not None:
            out["median_invoke_ms"] = round(out["median_invoke_ms"], 4)
        out["conditions"] = {k: round(v, 4) for k, v in self.conditions.items()}
        return out


@dataclass
class Outcome:
    name: str
    results: list[VariantResult]
    shipped: VariantResult
    float_result: VariantResult
    drop_points: float
    held_out: dict | None = None
    edgetpu: dict = field(default_factory=dict)
    folder: Path | None = None


def seed_everything(seed: int) -> None:
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def calibration_set(x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return x[rng.choice(len(x), size=min(CALIBRATION_SAMPLES, len(x)), replace=False)]


def train(model, data: Dataset, epochs: int, batch_size: int, desc: str = "train"):
    import tf_keras as keras

    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True,
              validation_data=(data.x_val, data.y_val), callbacks=[progress.epoch_callback(desc, epochs)])
    return model


def make_variants(model, shape: tuple[int, ...], calibration: np.ndarray, data: Dataset | None,
                  fine_tune_epochs: int, batch_size: int, only: set[str] | None = None) -> list[VariantResult]:
    """Every variant of VARIANTS; those that need training are skipped (with why) without labels."""
    results = []
    for spec in progress.bar(VARIANTS, "variants"):
        if only is not None and spec.name not in only and spec.name not in ("float32", "int8"):
            results.append(VariantResult(spec.name, spec.description, spec.int8, b"", skipped="not asked for"))
            continue
        source = model
        if spec.trained:
            if data is None:
                results.append(VariantResult(spec.name, spec.description, spec.int8, b"",
                                             skipped="needs labelled training data (--train DIR)"))
                continue
            tuner = {"qat": quantization_aware, "pruned": pruned, "clustered": clustered}[spec.trained]
            source = tuner(model, data.x_train, data.y_train, fine_tune_epochs, batch_size)
        kind = spec.name if spec.name in ("float32", "dynamic", "float16", "int8-uint8io") else "int8"
        content = convert(source, shape, kind, calibration if spec.int8 else None)
        results.append(VariantResult(spec.name, spec.description, spec.int8, content, len(content),
                                     gzip_size(content)))
    return results


def measure(results: list[VariantResult], x_test: np.ndarray, y_test: np.ndarray | None,
            conditions: dict[str, np.ndarray], x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None) -> None:
    """Accuracy (held out, per classroom condition, validation), agreement with float32, latency."""
    reference = None
    for r in progress.bar([r for r in results if r.content], "evaluate in LiteRT"):
        runner = Runner(r.content)
        r.io_dtype = str(np.dtype(runner.input["dtype"]))
        predictions = runner.predict(x_test)
        if r.name == "float32":
            reference = predictions
        if y_test is not None:
            r.accuracy = float(np.mean(predictions == y_test))
            r.conditions = {name: float(np.mean(runner.predict(x) == y_test)) for name, x in conditions.items()}
        if x_val is not None and y_val is not None and len(x_val):
            r.val_accuracy = float(np.mean(runner.predict(x_val) == y_val))
        if reference is not None:
            r.agreement = float(np.mean(predictions == reference))
        r.median_invoke_ms = runner.median_invoke_ms(x_test[0])


def choose_and_gate(results: list[VariantResult], max_drop: float) -> tuple[VariantResult, VariantResult, float]:
    """Ship the better of PTQ and QAT int8 (by validation accuracy); refuse if it lost too much."""
    by_name = {r.name: r for r in results}
    reference = by_name["float32"]
    candidates = [by_name[n] for n in ("int8", "qat-int8") if n in by_name and by_name[n].content]
    if reference.accuracy is None:
        return reference, candidates[0], 0.0
    shipped = max(candidates, key=lambda r: (r.val_accuracy if r.val_accuracy is not None else r.accuracy or 0.0,
                                             r.name == "int8"))
    drop = (reference.accuracy - (shipped.accuracy or 0.0)) * 100
    if drop > max_drop:
        raise GateRefused(
            f"the int8 model ({shipped.description}) scores {shipped.accuracy:.2%} against float32 "
            f"{reference.accuracy:.2%}: a drop of {drop:.2f} points, over the limit of {max_drop:g}. "
            "Nothing was written. Try more or more varied calibration data, more QAT epochs, "
            "or a larger --max-drop if the loss is acceptable for this class.")
    return reference, shipped, drop


def edgetpu_section(shipped: VariantResult, name: str, work: Path, min_runtime: int | None,
                    num_segments: int | None) -> tuple[dict, bytes | None]:
    """Our op check always; the compiler when installed. Returns (manifest section, edgetpu bytes)."""
    report = edgetpu_check(shipped.content, f"{name}_int8.tflite")
    section: dict = {"check": {"verdict": report.verdict, "summary": report.summary, "mapped": report.mapped,
                               "on_cpu": report.on_cpu, "problems": report.problems}}
    if find_compiler() is None:
        section["compiler"] = {"status": "not installed", "note": WHERE_TO_GET}
        return section, None
    model_path = work / f"{name}_int8.tflite"
    model_path.write_bytes(shipped.content)
    try:
        result = compile_model(model_path, work / "edgetpu", min_runtime, num_segments)
    except QuantizeError as exc:
        section["compiler"] = {"status": "failed", "error": exc.message}
        return section, None
    section["compiler"] = {"status": "compiled", **result.log.to_json()}
    return section, result.content


def environment() -> dict:
    import tensorflow as tf

    try:
        import tensorflow_model_optimization as tfmot

        tfmot_version = tfmot.__version__
    except ImportError:  # pragma: no cover - part of the quantize extra
        tfmot_version = None
    from hub.runtime.litert import select_runtime

    runtime = select_runtime()
    return {"tensorflow": tf.__version__, "converter": f"TFLiteConverter (MLIR) from TensorFlow {tf.__version__}",
            "tensorflow_model_optimization": tfmot_version, "evaluated_with": f"{runtime.name} {runtime.version}",
            "python": platform.python_version(), "machine": f"{platform.machine()}, {_cores()} cores",
            "command": " ".join(["classroom-quantize", *sys.argv[1:]])}


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def print_summary(outcome: Outcome) -> None:
    header = ("variant", "accuracy", "agree", "size", "gzip", "invoke ms", "note")
    rows = [header]
    for r in outcome.results:
        if not r.content:
            rows.append((r.name, "-", "-", "-", "-", "-", f"skipped: {r.skipped}"))
            continue
        note = "SHIPPED" if r is outcome.shipped else ("reference" if r is outcome.float_result else "")
        rows.append((r.name, f"{r.accuracy:.2%}" if r.accuracy is not None else "-",
                     f"{r.agreement:.2%}" if r.agreement is not None else "-",
                     f"{r.size / 1024:.1f} KB", f"{r.gzip_size / 1024:.1f} KB",
                     f"{r.median_invoke_ms:.3f}" if r.median_invoke_ms is not None else "-", note))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print()
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    print()


def manifest_for(name: str, task: str, labels: tuple[str, ...], shape: tuple[int, ...], preprocess: dict,
                 outcome: Outcome, files: dict[str, dict], provenance: dict, activation: str = "softmax") -> dict:
    """`activation`: what the output already is (the hub's output.activation). Our recipes end in a
    softmax Dense layer; `convert` says what the user's model ends in."""
    shipped, reference = outcome.shipped, outcome.float_result
    metrics = {
        "shipped": shipped.name,
        "accuracy_drop_points": round(outcome.drop_points, 3),
        "size_ratio_int8_to_float": round(shipped.size / reference.size, 4),
        "variants": {r.name: r.to_json() for r in outcome.results if r.content},
    }
    if outcome.held_out:
        metrics["held_out_group"] = outcome.held_out
    return {
        "schema": SCHEMA_VERSION,
        "name": name,
        "task": task,
        "labels": list(labels),
        "input": {"shape": [1, *shape], "dtype": shipped.io_dtype or "int8", "preprocess": preprocess},
        "output": {"activation": activation},
        "variants": files,
        "metrics": metrics,
        "edgetpu": outcome.edgetpu,
        "provenance": provenance,
    }
