"""Turn a model folder into a verified, in-memory model: read, hash-check, probe, reconcile.

The serving process never opens a model by path: TFLite maps such files into memory, and a
file overwritten in place while mapped can crash the hub. Instead the bytes are read once,
checked against the manifest, tried in a throwaway child, and served from memory only if the
child saw the same sha256 (hub/probe_cache.py remembers bytes a child already passed, so a
restart does not try them again). Any problem is a ModelError with a reason a teacher can act on.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

from . import tasks
from .accelerators import compiled_for
from .errors import ModelError
from .manifest import ModelSpec, TensorSpec, Variant, read_spec
from .probe import ProbeResult, probe_files
from .probe_cache import ProbeCache


@dataclass(frozen=True)
class LoadedModel:
    spec: ModelSpec
    content: dict[str, bytes]  # role ("cpu", or an accelerator's, such as "edgetpu") -> the verified file bytes


def read_variant(variant: Variant) -> tuple[bytes, str]:
    """The file's bytes and their sha256, if they have the size and hash the manifest promises."""
    try:
        content = variant.path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{variant.path.name} is missing (listed as the {variant.role} variant)") from None
    if variant.size is not None and len(content) != variant.size:
        raise ModelError(
            f"{variant.path.name} is {len(content)} bytes, the manifest says {variant.size}: "
            "the copy is incomplete or the file was replaced; copy the model folder again"
        )
    sha256 = hashlib.sha256(content).hexdigest()
    if variant.sha256 and sha256 != variant.sha256.lower():
        raise ModelError(
            f"{variant.path.name} does not match its sha256 in the manifest: "
            "the file is damaged or was replaced; copy the model folder again"
        )
    return content, sha256


def _check_io(spec: ModelSpec, probe: ProbeResult) -> None:
    if not spec.inputs or len(probe.inputs) != 1:
        return
    want, found = spec.inputs[0], TensorSpec.from_details(probe.inputs[0])
    if (tuple(want.shape), want.dtype) != (found.shape, found.dtype):
        raise ModelError(
            f"manifest says input {list(want.shape)} {want.dtype} but {probe.path.name} "
            f"takes {list(found.shape)} {found.dtype}: rebuild the manifest"
        )


def output_activation(outputs: tuple[TensorSpec, ...]) -> str:
    """What an undeclared classifier output is, from the file: TFLite quantizes a softmax output
    with scale 1/256 and zero point 0 (uint8) or -128 (int8); any other quantized output is
    logits. A float output that the manifest does not describe is taken for probabilities."""
    if len(outputs) != 1:
        return "softmax"
    out = outputs[0]
    if not out.scale or out.dtype.startswith("float"):
        return "softmax"
    softmax_zero = {"uint8": 0, "int8": -128}.get(out.dtype)
    return "softmax" if abs(out.scale - 1 / 256) < 1e-9 and out.zero_point == softmax_zero else "logits"


def _derive_details(spec: ModelSpec, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]) -> ModelSpec:
    """Fill in what a manifest or a bare drop-in does not say: output activation, labels count,
    grey or colour, task."""
    spec = dataclasses.replace(spec, inputs=inputs, outputs=outputs,
                               activation=spec.activation or output_activation(outputs))
    if spec.source != "derived":
        return spec
    if len(inputs) == 1 and len(inputs[0].shape) in (3, 4):
        gray = len(inputs[0].shape) == 3 or inputs[0].shape[-1] == 1
        return dataclasses.replace(spec, preprocess=dataclasses.replace(spec.preprocess, color="gray" if gray else "rgb"))
    return dataclasses.replace(spec, task="tensor", preprocess=dataclasses.replace(spec.preprocess, kind="none"))


def probe_variants(serving: dict[str, Variant], hashes: dict[str, str], timeout_s: float,
                   cache: ProbeCache | None) -> dict[Path, ProbeResult]:
    """Each serving file's probe: remembered for bytes already tried, else from a new child."""
    probes: dict[Path, ProbeResult] = {}
    for role, variant in serving.items():
        remembered = cache.get(variant.path, hashes[role]) if cache else None
        if remembered is not None:
            probes[variant.path] = remembered
    todo = [v.path for v in serving.values() if v.path not in probes]
    if todo:
        tried = probe_files(todo, timeout_s, vouched=frozenset(v.path for v in serving.values() if v.sha256))
        probes.update(tried)
        if cache:  # only what the child saw is what we serve
            cache.put([tried[v.path] for role, v in serving.items()
                       if v.path in tried and tried[v.path].sha256 == hashes[role]])
    return probes


def load_model(folder: Path, probe_timeout_s: float, cache: ProbeCache | None = None) -> LoadedModel:
    spec = read_spec(folder)
    serving = spec.serving_variants
    read = {role: read_variant(v) for role, v in serving.items()}
    content = {role: data for role, (data, _) in read.items()}
    hashes = {role: sha256 for role, (_, sha256) in read.items()}
    probes = probe_variants(serving, hashes, probe_timeout_s, cache)
    for role, variant in serving.items():
        probe = probes[variant.path]
        if probe.sha256 != hashes[role]:
            raise ModelError(f"{variant.path.name} changed while it was being checked; it will be retried")
        compiled = compiled_for(content[role])
        if role != "cpu" and compiled != role:
            raise ModelError(f"{variant.path.name} is listed as the {role} variant but was not compiled for it")
        if role == "cpu" and compiled:
            raise ModelError(f"{variant.path.name} is compiled for an accelerator ({compiled}); "
                             f"name it as its {compiled} variant (such as *_{compiled}.tflite)")
        if role == "cpu":
            _check_io(spec, probe)
    main = probes[(serving.get("cpu") or next(iter(serving.values()))).path]
    inputs = tuple(TensorSpec.from_details(d) for d in main.inputs)
    outputs = tuple(TensorSpec.from_details(d) for d in main.outputs)
    variants = {**spec.variants, **{r: dataclasses.replace(v, size=len(content[r])) for r, v in serving.items()}}
    spec = _derive_details(dataclasses.replace(spec, variants=variants), inputs, outputs)
    return LoadedModel(tasks.get(spec.task).finish_spec(spec), content)
