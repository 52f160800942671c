#!/usr/bin/env python3
"""Bundle Coral's published models into models/: copy, checksum, measure, write each manifest.

The hub ships three of Google Coral's int8 models with no download (docs/MODELS.md says why these):
  models/imagenet/  MobileNet v1 0.75 at 192 px, ImageNet's 1000 classes, with its Edge TPU build
  models/movenet/   MoveNet Lightning single-pose, 17 keypoints, with its Edge TPU build
  models/embedder/  MobileNet v1 1.0 at 224 px without its last layer (1024 values), with its Edge TPU
                    build: what "Teach the hub" learns from
Source: ../shared/coral (google-coral/test_data at commit 104342d, Apache 2.0). The files are
copied as published, never changed; what this script adds is the manifest: task, labels,
preprocessing, each file's sha256 and size, the licence and source, and figures measured here
with the hub's own code (CPU invoke time on this machine; the ImageNet model's answers on
Coral's test pictures; MoveNet's keypoints on its portrait). The published Edge TPU times are
Coral's own (coral.ai/models), copied into the manifest as theirs.

    python scripts/bundle_coral.py [--coral ../shared/coral] [--out models] [--only NAME]  (or: make models-coral)
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.coral import PICTURES, invoke_ms  # noqa: E402

SOURCE = "google-coral/test_data, commit 104342d (2021-07-26), https://github.com/google-coral/test_data"
LICENCE = "Apache-2.0 (Google LLC); see LICENSE-coral.txt in this folder"
# Below this top score "What is this?" says "I'm not sure". Measured with this script's model on
# Coral's test pictures (every right answer scores 0.39 or more) and on pictures ImageNet has no
# class for (random noise, a blank page, a drawn circle: 0.21 at most).
UNSURE_BELOW = 0.3

MODELS = {
    "imagenet": {
        "file": "mobilenet_v1_0.75_192_quant.tflite",
        "title": "Everyday things",
        "about": "1000 kinds of animals, plants, food and objects (ImageNet)",
        "task": "image-classification",
        "subject": "photos",
        "labels": "imagenet_labels.txt",
        "published": {"ms": 2.2, "where": "Edge TPU FAQ (coral.ai/docs/edgetpu/faq): MobileNet v1 "
                      "(1.0, 224 px) on the USB Accelerator, USB 3.0; this 0.75/192 build does about 40% of its multiply-adds"},
    },
    "movenet": {
        "file": "movenet_single_pose_lightning_ptq.tflite",
        "title": "Body pose",
        "about": "17 points of one person's body: eyes, ears, nose, shoulders, elbows, wrists, hips, knees, ankles",
        "task": "pose-estimation",
        "subject": "photos",
        "labels": None,
        "published": {"ms": 7.1, "where": "coral.ai/models/pose-estimation: MoveNet.SinglePose.Lightning"},
    },
    "embedder": {
        "file": "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
        "title": "Picture features",
        "about": "Turns a photo into 1024 numbers: what \"Teach the hub\" learns new things from",
        "task": "image-embedding",
        "subject": "photos",
        "labels": None,
        "published": {"ms": 2.2, "where": "Edge TPU FAQ (coral.ai/docs/edgetpu/faq): MobileNet v1 (1.0, 224 px) "
                      "on the USB Accelerator, USB 3.0; the extractor is that model without its last layer"},
    },
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def loaded(folder: Path):
    """The folder as the hub loads it (manifest checked, files verified, task's spec finished),
    and a function that runs the task on a picture with the CPU file, as the hub does."""
    from ai_edge_litert.interpreter import Interpreter

    from hub import tasks
    from hub.adapters.budget import UNLIMITED
    from hub.config import LimitsConfig
    from hub.loader import load_model
    from hub.tasks import Picture, Prepared

    spec = load_model(folder, 60).spec
    task = tasks.get(spec.task)
    it = Interpreter(model_path=str(spec.variants["cpu"].path), num_threads=1)
    it.allocate_tensors()

    def run(picture: Path, options: dict):
        prepared = Prepared.of(task.prepare(Picture(picture.read_bytes()), spec, LimitsConfig(), UNLIMITED))
        for detail, tensor in zip(it.get_input_details(), prepared.inputs):
            it.set_tensor(detail["index"], tensor)
        it.invoke()
        outputs = [it.get_tensor(d["index"]) for d in it.get_output_details()]
        return task.decode(outputs, spec, {**options, **prepared.notes})

    return run


def measure_imagenet(folder: Path, coral: Path) -> dict:
    run = loaded(folder)
    answers, top1, top3 = {}, 0, 0
    for picture, expected in PICTURES.items():
        found = run(coral / picture, {"top_k": 3}).predictions
        top1 += found[0].label in expected
        top3 += any(c.label in expected for c in found)
        answers[picture] = [f"{c.name} ({c.score:.2f})" for c in found]
    return {"test_pictures": len(PICTURES), "top1_right": top1, "top3_right": top3, "answers": answers,
            "unsure_below_chosen_from": "right answers score 0.39 or more; noise, a blank page and a drawn "
                                        "circle 0.21 at most"}


def measure_movenet(folder: Path, coral: Path) -> dict:
    pose = loaded(folder)(coral / "grace_hopper.bmp", {})
    seen = {k.name: round(k.score, 2) for k in pose.keypoints if k.score >= 0.3}
    return {"grace_hopper.bmp": {"keypoints_seen": seen,
                                 "note": "a portrait: the face and shoulders are in it, the rest of the body is not"}}


def measure_embedder(folder: Path, coral: Path) -> dict:
    """Each test picture's mirror image is nearer to it than any other test picture is (cosine)."""
    import cv2

    run = loaded(folder)
    pictures = sorted({*PICTURES, "grace_hopper.bmp"})
    vectors, mirrored = [], []
    for picture in pictures:
        vectors.append(run(coral / picture, {}).values)
        flipped = cv2.imencode(".png", cv2.flip(cv2.imread(str(coral / picture)), 1))[1].tobytes()
        tmp = folder / "mirror.png"
        tmp.write_bytes(flipped)
        mirrored.append(run(tmp, {}).values)
        tmp.unlink()
    unit = np.array([v / np.linalg.norm(v) for v in vectors])
    nearest = [int(np.argmax(unit @ (m / np.linalg.norm(m)))) for m in mirrored]
    return {"size": int(unit.shape[1]), "test_pictures": len(pictures),
            "mirror_nearest_to_its_picture": sum(i == j for i, j in enumerate(nearest))}


def bundle(name: str, about: dict, coral: Path, out: Path) -> dict:
    folder = out / name
    staging = out / f"{name}.tmp-bundle"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    files = {"cpu": about["file"], "edgetpu": about["file"].replace(".tflite", "_edgetpu.tflite")}
    variants = {}
    for role, file_name in files.items():
        if not (coral / file_name).exists():
            continue
        shutil.copyfile(coral / file_name, staging / file_name)
        variants[role] = {"file": file_name, "size": (staging / file_name).stat().st_size,
                          "sha256": sha256(staging / file_name)}
    shutil.copyfile(coral / "LICENSE", staging / "LICENSE-coral.txt")
    if about["labels"]:
        shutil.copyfile(coral / about["labels"], staging / "labels.txt")
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(staging / about["file"]))
    inp = it.get_input_details()[0]
    scale, zero = inp["quantization"]
    manifest = {
        "schema": 1, "name": name, "title": about["title"], "about": about["about"],
        "task": about["task"], "subject": about["subject"],
        **({"labels": "labels.txt"} if about["labels"] else {}),
        "input": {"shape": [int(d) for d in inp["shape"]], "dtype": np.dtype(inp["dtype"]).name,
                  "scale": float(scale), "zero_point": int(zero),
                  "preprocess": {"kind": "image", "color": "rgb", "value_range": None}},
        "output": {"activation": "softmax", "unsure_below": UNSURE_BELOW} if about["task"] == "image-classification"
        else {},
        "variants": variants,
        "licence": LICENCE,
        "source": {"from": SOURCE, "files": sorted(v["file"] for v in variants.values()),
                   "copied_unchanged": True},
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    measure = {"image-classification": measure_imagenet, "pose-estimation": measure_movenet,
               "image-embedding": measure_embedder}[about["task"]]
    measured = measure(staging, coral)
    manifest["metrics"] = {
        "cpu_invoke_ms": invoke_ms(staging / about["file"]),
        "edgetpu_published_ms": about["published"],
        **measured,
        "measured_on": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                       f"{datetime.date.today().isoformat()}",
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--coral", type=Path, default=ROOT.parent / "shared" / "coral")
    parser.add_argument("--out", type=Path, default=ROOT / "models")
    parser.add_argument("--only", choices=sorted(MODELS), action="append",
                        help="bundle only this model (again for several); all by default")
    args = parser.parse_args()
    if not (args.coral / MODELS["imagenet"]["file"]).exists():
        print(f"Coral's models are not in {args.coral}: give --coral the folder that holds them", file=sys.stderr)
        return 2
    for name, about in MODELS.items():
        if args.only and name not in args.only:
            continue
        manifest = bundle(name, about, args.coral, args.out)
        metrics = manifest["metrics"]
        if "top3_right" in metrics:
            extra = f"top-3 right on {metrics['top3_right']} of {metrics['test_pictures']} test pictures"
        elif "mirror_nearest_to_its_picture" in metrics:
            extra = (f"{metrics['size']} values; a mirrored picture is nearest to its own for "
                     f"{metrics['mirror_nearest_to_its_picture']} of {metrics['test_pictures']}")
        else:
            extra = f"keypoints seen on the portrait: {len(metrics['grace_hopper.bmp']['keypoints_seen'])}"
        print(f"{args.out / name}: {', '.join(manifest['variants'])}; CPU invoke p50 "
              f"{metrics['cpu_invoke_ms']['p50']} ms; {extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
