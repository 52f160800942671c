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

import numpy as np

from .errors import ModelError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DTYPES = {"uint8", "int8", "int16", "int32", "int64", "float16", "float32"}
CPU_ROLES = ("cpu", "float")  # the CPU int8 file that serves, and the float32 reference (not served)
SUBJECTS = ("photos", "drawings")  # what a picture model looks at: "What is this?" offers photo models only
UNSURE_BELOW = 0.3  # a classifier whose manifest does not say: below this top score, "I'm not sure"


def accelerator_roles() -> dict:
    """Variant roles that belong to an accelerator kind ("edgetpu" -> its Kind): registered there."""
    from .accelerators import roles

    return roles()


def roles() -> tuple[str, ...]:
    return (*CPU_ROLES[:1], *accelerator_roles(), *CPU_ROLES[1:])


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
        dtype = d["dtype"] if isinstance(d["dtype"], str) else np.dtype(d["dtype"]).name  # np.int8 -> "int8"
        return cls(d["name"], tuple(int(x) for x in d["shape"]), dtype, float(scale), int(zero))

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
    activation: str | None = None  # what the output already is (output.activation); None: derived at load
    title: str = ""  # what people read for the model ("Everyday things"); the folder's name when empty
    about: str = ""  # one line: what it knows
    subject: str = "photos"  # "photos" or "drawings" (a model cropping to strokes, such as digits)
    unsure_below: float = UNSURE_BELOW  # output.unsure_below: a top score under it is "not sure"
    licence: str = ""
    origin: Any = None  # where the files came from (the manifest's "source": text or an object)
    head: dict | None = None  # a taught model's trained layer (the manifest's "head": file, features, backbone_task)
    trained: Any = None  # what the task loaded from the folder at load (a taught model's `Head`)

    def describe(self) -> dict:
        """What the API and the pages say of the model beyond its files."""
        return {"title": self.title or self.name, "about": self.about, "subject": self.subject,
                "unsure_below": self.unsure_below, "licence": self.licence or None, "origin": self.origin}

    @property
    def serving_variants(self) -> dict[str, Variant]:
        """The files the hub runs: every role except the float reference ("cpu", "edgetpu", ...)."""
        return {r: v for r, v in self.variants.items() if r != "float"}

    def accuracy(self) -> float | None:
        for variant in self.serving_variants.values():
            if variant.accuracy is not None:
                return variant.accuracy
        return None

    def size_bytes(self) -> int | None:
        v = self.variants.get("cpu") or next(iter(self.serving_variants.values()), None)
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
    from . import tasks

    task = _require(data, "task", str, MANIFEST)
    if task not in tasks.TASKS:
        raise ModelError(f"{MANIFEST}: task {task!r} is not one of {sorted(tasks.TASKS)}")
    labels = data.get("labels", [])
    if isinstance(labels, str):
        labels = parse_labels(_read_labels(folder, labels))
    if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
        raise ModelError(f"{MANIFEST}: labels must be a list of strings or a labels file name")
    input_data = _require(data, "input", dict, MANIFEST)
    input_spec = _parse_tensor(input_data, f"{MANIFEST} input")
    output = data.get("output", {})
    if not isinstance(output, dict):
        raise ModelError(f"{MANIFEST}: output must be an object such as {{\"activation\": \"softmax\"}}")
    activation = output.get("activation")
    if activation is not None and not isinstance(activation, str):
        raise ModelError(f"{MANIFEST}: output.activation must be a string such as \"softmax\" or \"logits\"")
    unsure_below = output.get("unsure_below", UNSURE_BELOW)
    if isinstance(unsure_below, bool) or not isinstance(unsure_below, (int, float)) or not 0 <= unsure_below <= 1:
        raise ModelError(f"{MANIFEST}: output.unsure_below must be a score from 0 to 1, such as 0.3")
    preprocess = _parse_preprocess(input_data.get("preprocess", {}))
    subject = data.get("subject", "drawings" if preprocess.crop_to_content or preprocess.ink else "photos")
    if subject not in SUBJECTS:
        raise ModelError(f"{MANIFEST}: subject {subject!r} must be one of {', '.join(SUBJECTS)}")
    text = {key: data.get(key, "") for key in ("title", "about", "licence")}
    for key, value in text.items():
        if not isinstance(value, str) or len(value) > 200:
            raise ModelError(f"{MANIFEST}: {key} must be text of at most 200 characters")
    variants, known = {}, roles()
    for role, v in _require(data, "variants", dict, MANIFEST).items():
        if role not in known:
            raise ModelError(f"{MANIFEST}: variant {role!r} is not one of {known}")
        where = f"{MANIFEST} variants.{role}"
        if not isinstance(v, dict):
            raise ModelError(f"{where} must be an object with a 'file'")
        file_name = _plain_name(_require(v, "file", str, where), where)
        variants[role] = Variant(role, folder / file_name, v.get("sha256"), v.get("size"), v.get("accuracy"))
    head = data.get("head")
    if head is not None and not isinstance(head, dict):
        raise ModelError(f"{MANIFEST}: head must be an object with a 'file' (a taught model's trained layer)")
    if not any(role != "float" for role in variants):
        raise ModelError(f"{MANIFEST}: needs a variant to serve (one of {[r for r in known if r != 'float']})")
    return ModelSpec(
        name=folder.name,
        task=task,
        labels=tuple(labels),
        preprocess=preprocess,
        variants=variants,
        inputs=(input_spec,),
        source="manifest",
        metrics=data.get("metrics", {}),
        activation=activation,
        subject=subject,
        unsure_below=float(unsure_below),
        origin=data.get("source"),
        head=head,
        **text,
    )


def _plain_name(file_name: str, where: str) -> str:
    if not file_name or Path(file_name).name != file_name or file_name in (".", ".."):
        raise ModelError(f"{where}: {file_name!r} must be a plain file name inside the model folder")
    return file_name


def _read_labels(folder: Path, file_name: str) -> str:
    """A labels file named by the manifest: checked like the variant files."""
    path = folder / _plain_name(file_name, f"{MANIFEST} labels")
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        raise ModelError(f"{MANIFEST} names the labels file {file_name}, which is missing: copy the model "
                         "folder again") from None
    except OSError as exc:
        raise ModelError(f"cannot read the labels file {file_name}: {exc}") from None


def derive_spec(folder: Path) -> ModelSpec:
    """A bare drop-in: one `.tflite`, maybe compiled siblings (`X_edgetpu.tflite`), maybe labels."""
    files = sorted(p for p in folder.iterdir() if p.suffix == ".tflite" and p.is_file())
    if not files:
        raise ModelError("no manifest.json and no .tflite file in the folder")
    suffixes = {kind.file_suffix: role for role, kind in accelerator_roles().items() if kind.file_suffix}
    by_role: dict[str, list[Path]] = {}
    for path in files:
        role = next((r for suffix, r in suffixes.items() if path.stem.endswith(suffix)), "cpu")
        by_role.setdefault(role, []).append(path)
    if any(len(paths) > 1 for paths in by_role.values()):
        raise ModelError(
            "several models in one folder (" + ", ".join(p.name for p in files)
            + "): keep one model, and its compiled siblings (such as X_edgetpu.tflite), per folder"
        )
    variants = {role: Variant(role, paths[0], size=paths[0].stat().st_size) for role, paths in by_role.items()}
    label_files = sorted(p for p in folder.glob("*.txt") if "label" in p.name.lower()) or sorted(folder.glob("*.txt"))
    labels = parse_labels(label_files[0].read_text(errors="replace")) if label_files else ()
    return ModelSpec(name=folder.name, task="image-classification", labels=labels,
                     preprocess=Preprocess(), variants=variants, source="derived")


def read_spec(folder: Path) -> ModelSpec:
    return parse_manifest(folder) if (folder / MANIFEST).exists() else derive_spec(folder)
