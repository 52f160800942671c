#!/usr/bin/env python3
"""Which ImageNet classifier "What is this?" should bundle: the candidates in ../shared/coral, measured here.

For each candidate (MobileNet v1 0.75 at 192 px, MobileNet v2 1.0 at 224 px; v1 0.25 at 128 px as a
floor): file size, whether an Edge TPU build sits beside it, CPU invoke time on this machine (the
real LiteRT interpreter, one thread and two, p50/p99 of 200 invokes after a warm-up), and the top-1
and top-3 answers on every ImageNet test picture in ../shared/coral, preprocessed as the hub does
(hub/adapters/image.py). The pictures' expected classes are the ImageNet classes a person would
name for them; the top-3 target of issue 14 is "right on every picture". Prints JSON (also
bench/results/zoo.json) and a table.

    python bench/zoo.py [--invokes 200]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.coral import PICTURES as EXPECTED  # noqa: E402
from bench.coral import interpreter, invoke_ms  # noqa: E402
from bench.report import publish  # noqa: E402
from hub.adapters.image import preprocess  # noqa: E402
from hub.manifest import Preprocess, TensorSpec  # noqa: E402
from tests.conftest import CORAL  # noqa: E402

CANDIDATES = ("mobilenet_v1_0.75_192_quant.tflite", "mobilenet_v2_1.0_224_quant.tflite",
              "mobilenet_v1_0.25_128_quant.tflite")
def answers(path: Path, labels: list[str]) -> dict:
    it = interpreter(path, 1)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    spec = TensorSpec("input", tuple(int(d) for d in inp["shape"]), np.dtype(inp["dtype"]).name,
                      float(inp["quantization"][0]), int(inp["quantization"][1]))
    found = {}
    for picture, expected in EXPECTED.items():
        tensor = preprocess((CORAL / picture).read_bytes(), spec, Preprocess(), 50_000_000)
        it.set_tensor(inp["index"], tensor)
        it.invoke()
        scores = it.get_tensor(out["index"])[0]
        top3 = [labels[i] for i in np.argsort(scores)[::-1][:3]]
        found[picture] = {"top3": top3, "top1_right": top3[0] in expected,
                          "top3_right": any(label in expected for label in top3)}
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invokes", type=int, default=200)
    args = parser.parse_args()
    if not (CORAL / CANDIDATES[0]).exists():
        print(f"skipped: the Coral models are not in {CORAL} (../shared is absent)", file=sys.stderr)
        return 0
    labels = (CORAL / "imagenet_labels.txt").read_text().splitlines()
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "candidates": []}
    for name in CANDIDATES:
        path = CORAL / name
        found = answers(path, labels)
        report["candidates"].append({
            "model": name, "size_mb": round(path.stat().st_size / 2**20, 2),
            "edgetpu_build": (CORAL / name.replace(".tflite", "_edgetpu.tflite")).exists(),
            "cpu_1_thread": invoke_ms(path, 1, args.invokes), "cpu_2_threads": invoke_ms(path, 2, args.invokes),
            "top1_right": sum(f["top1_right"] for f in found.values()),
            "top3_right": sum(f["top3_right"] for f in found.values()), "pictures": len(found), "answers": found})
    rows = [f"{'model':<38} {'MB':>5} {'TPU':>4} {'1 thread p50/p99 ms':>20} {'2 threads':>12} {'top-1':>6} {'top-3':>6}"]
    for c in report["candidates"]:
        rows.append(f"{c['model']:<38} {c['size_mb']:>5} {'yes' if c['edgetpu_build'] else 'no':>4} "
                    f"{c['cpu_1_thread']['p50']:>9}/{c['cpu_1_thread']['p99']:<9} "
                    f"{c['cpu_2_threads']['p50']:>6}/{c['cpu_2_threads']['p99']:<6} "
                    f"{c['top1_right']}/{c['pictures']:<4} {c['top3_right']}/{c['pictures']}")
    publish("zoo", report, "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
