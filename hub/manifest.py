"""The model manifest: the one contract between quantize/ and hub/.

A model folder holds either a `manifest.json` (written by classroom-quantize) or a bare drop-in
from Coral's zoo (`X.tflite`, maybe `X_edgetpu.tflite`, maybe a labels file). For a drop-in the
hub derives the same spec from the file itself, so the rest of the hub sees one shape.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TASKS = {"image-classification", "audio-classification", "tensor"}
DTYPES = {"uint8", "int8", "int16", "int32", "int64", "float16", "float32"}
ROLES = ("cpu", "edgetpu", "float")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0  # 0 means not quantized
    zero_point: int = 0

    @classmethod
    def from_details(cls, d: dict) -> "TensorSpec":
        scale, zero = d.get("quantization", (0.0, 0))
        return cls(d["name"], tuple(int(x) for x in d["shape"]), str(d["dtype"]), float(scale), int(zero))

    def to_json(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype,
                "scale": self.scale, "zero_point": self.zero_point}


@dataclass(frozen=True)
class Preprocess:
    """How a picture becomes the input tensor. `value_range` None means raw pixels (Coral's way)."""

    kind: str = "image"  # "image" | "audio" | "none"
    color: str = "rgb"  # "rgb" | "gray"
    value_range: tuple[float, float] | None = None  # real value of pixel 0 and of pixel 255
    ink: str | None = None  # "light_on_dark": the model wants bright strokes; either polarity accepted
    crop_to_content: bool = False  # crop to the strokes and centre them (drawn digits)
    extra: dict = field(default_factory=dict)  # audio feature parameters and the like

    def to_json(self) -> dict:
        out = {"kind": self.kind, "color": self.color, "ink": self.ink,
               "crop_to_content": self.crop_to_content,
               "value_range": list(self.value_range) if self.value_range else None}
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Variant:
    role: str  # "cpu" (int8 for the CPU), "edgetpu" (compiled), "float" (reference)
    path: Path
    sha256: str | None = None
    size: int | None = None
    accuracy: float | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str
    labels: tuple[str, ...]
    preprocess: Preprocess
    variants: dict[str, Variant]
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    source: str = "manifest"  # or "derived"
    metrics: dict = field(default_factory=dict)

    @property
    def serving_variants(self) -> dict[str, Variant]:
        return {r: v for r, v in self.variants.items() if r in ("cpu", "edgetpu")}

    def accuracy(self) -> float | None:
        for role in ("cpu", "edgetpu"):
            if role in self.variants and self.variants[role].accuracy is not None:
                return self.variants[role].accuracy
        return None

    def size_bytes(self) -> int | None:
        v = self.variants.get("cpu") or self.variants.get("edgetpu")
        return v.size if v else None


def parse_labels(text: str) -> tuple[str, ...]:
    """Coral's `N  label` lines (indices may skip) or one label per line."""
    lines = [line.rstrip("\r") for line in text.splitlines()]
    lines = [line for line in lines if line.strip()]
    numbered = [re.match(r"^\s*(\d+)[\s:]+(.*\S)\s*$", line) for line in lines]
    if lines and all(numbered):
        table = {int(m.group(1)): m.group(2) for m in numbered}  # type: ignore[union-attr]
        return tuple(table.get(i, str(i)) for i in range(max(table) + 1))
    return tuple(line.strip() for line in lines)


def _require(data: dict, key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise ModelError(f"{where}: missing key {key!r}")
    if not isinstance(data[key], kind):
        raise ModelError(f"{where}: {key!r} must be a {kind.__name__}")
    return data[key]


def _parse_tensor(data: dict, where: str) -> TensorSpec:
    shape = _require(data, "shape", list, where)
    dtype = _require(data, "dtype", str, where)
    if dtype not in DTYPES:
        raise ModelError(f"{where}: dtype {dtype!r} is not one of {sorted(DTYPES)}")
    if not all(isinstance(x, int) and x > 0 for x in shape):
        raise ModelError(f"{where}: shape must be positive whole numbers (static, batch 1)")
    return TensorSpec(str(data.get("name", "input")), tuple(shape), dtype,
                      float(data.get("scale", 0.0)), int(data.get("zero_point", 0)))


def _parse_preprocess(data: dict) -> Preprocess:
    known = {"kind", "color", "value_range", "ink", "crop_to_content"}
    value_range = data.get("value_range")
    if value_range is not None and (not isinstance(value_range, list) or len(value_range) != 2):
        raise ModelError("manifest: input.preprocess.value_range must be [low, high] or null")
    kind = data.get("kind", "image")
    if kind not in {"image", "audio", "none"}:
        raise ModelError(f"manifest: input.preprocess.kind {kind!r} must be image, audio or none")
    color = data.get("color", "rgb")
    if color not in {"rgb", "gray"}:
        raise ModelError(f"manifest: input.preprocess.color {color!r} must be rgb or gray")
    return Preprocess(kind, color, tuple(value_range) if value_range else None,
                      data.get("ink"), bool(data.get("crop_to_content", False)),
                      {k: v for k, v in data.items() if k not in known})


def parse_manifest(folder: Path) -> ModelSpec:
    """Read and check `folder/manifest.json`; the files it names are verified later."""
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read {MANIFEST}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{MANIFEST} must hold a JSON object")
    schema = data.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise ModelError(f"{MANIFEST} has schema {schema}; this hub reads schema {SCHEMA_VERSION}")
    task = _require(data, "task", str, MANIFEST)
    if task not in TASKS:
        raise ModelError(f"{MANIFEST}: task {task!r} is not one of {sorted(TASKS)}")
    labels = data.get("labels", [])
    if isinstance(labels, str):
        labels = parse_labels((folder / labels).read_text())
    if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
        raise ModelError(f"{MANIFEST}: labels must be a list of strings or a labels file name")
    input_data = _require(data, "input", dict, MANIFEST)
    input_spec = _parse_tensor(input_data, f"{MANIFEST} input")
    variants = {}
    for role, v in _require(data, "variants", dict, MANIFEST).items():
        if role not in ROLES:
            raise ModelError(f"{MANIFEST}: variant {role!r} is not one of {ROLES}")
        where = f"{MANIFEST} variants.{role}"
        file_name = _require(v, "file", str, where)
        if Path(file_name).name != file_name:
            raise ModelError(f"{where}: file must be a plain file name inside the model folder")
        variants[role] = Variant(role, folder / file_name, v.get("sha256"), v.get("size"), v.get("accuracy"))
    if not ({"cpu", "edgetpu"} & variants.keys()):
        raise ModelError(f"{MANIFEST}: needs a 'cpu' or an 'edgetpu' variant to serve")
    return ModelSpec(
        name=folder.name,
        task=task,
        labels=tuple(labels),
        preprocess=_parse_preprocess(input_data.get("preprocess", {})),
        variants=variants,
        inputs=(input_spec,),
        source="manifest",
        metrics=data.get("metrics", {}),
    )


def derive_spec(folder: Path) -> ModelSpec:
    """A bare drop-in: one `.tflite`, maybe its `_edgetpu.tflite` sibling, maybe labels."""
    files = sorted(p for p in folder.iterdir() if p.suffix == ".tflite" and p.is_file())
    edgetpu = [p for p in files if p.stem.endswith("_edgetpu")]
    plain = [p for p in files if not p.stem.endswith("_edgetpu")]
    if not files:
        raise ModelError("no manifest.json and no .tflite file in the folder")
    if len(plain) > 1 or len(edgetpu) > 1:
        raise ModelError(
            "several models in one folder (" + ", ".join(p.name for p in files)
            + "): keep one model, and its _edgetpu sibling, per folder"
        )
    variants = {}
    if plain:
        variants["cpu"] = Variant("cpu", plain[0], size=plain[0].stat().st_size)
    if edgetpu:
        variants["edgetpu"] = Variant("edgetpu", edgetpu[0], size=edgetpu[0].stat().st_size)
    label_files = sorted(p for p in folder.glob("*.txt") if "label" in p.name.lower()) or sorted(folder.glob("*.txt"))
    labels = parse_labels(label_files[0].read_text(errors="replace")) if label_files else ()
    return ModelSpec(name=folder.name, task="image-classification", labels=labels,
                     preprocess=Preprocess(), variants=variants, source="derived")


def read_spec(folder: Path) -> ModelSpec:
    return parse_manifest(folder) if (folder / MANIFEST).exists() else derive_spec(folder)
