"""`classroom-quantize convert MODEL`: a school developer's own Keras model, made ready for the hub.

Same variants, measurement, gate and Edge TPU check as the recipes. What differs is the data:
calibration samples from a folder of pictures or recordings (or an .npy of ready inputs),
and optionally labelled folders to measure (`--eval`) and to fine-tune QAT, pruning and
clustering (`--train`). Pictures are read the way the hub reads them: resized to the model's
input and mapped to `--input-range`; recordings go through the hub's own log-mel features.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hub.adapters.audio import FeatureParams, decode_wav, features, resample
from hub.errors import BadInput
from hub.loader import output_activation
from hub.manifest import NAME_PATTERN, TensorSpec, parse_labels

from . import progress
from .conditions import AUDIO_SNRS_DB, image_conditions, mix_at_snr, pink_noise
from .errors import GateRefused, QuantizeError
from .evaluate import Runner
from .pipeline import (
    Outcome,
    calibration_set,
    choose_and_gate,
    edgetpu_section,
    environment,
    make_variants,
    manifest_for,
    measure,
    print_summary,
    seed_everything,
)
from .recipes.base import Dataset
from .writer import file_entry

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
AUDIO_SUFFIXES = {".wav"}
RECURRENT = {"GRU", "LSTM", "SimpleRNN", "RNN", "Bidirectional", "ConvLSTM2D", "GRUCell", "LSTMCell"}
KERAS_ACTIVATIONS = {"softmax": "softmax", "sigmoid": "sigmoid", "linear": "logits"}  # -> output.activation


@dataclass(frozen=True)
class ConvertOptions:
    model: Path
    calib: Path
    labels: Path
    out: Path
    eval: Path | None = None
    train: Path | None = None
    input_range: tuple[float, float] = (0.0, 1.0)
    task: str | None = None
    seed: int = 0
    max_drop: float = 1.0
    fine_tune_epochs: int | None = None
    min_runtime: int | None = None
    num_segments: int | None = None


class SavedModelFunction:
    """A plain (non-Keras) SavedModel's serving signature, callable like a Keras model."""

    def __init__(self, path: Path):
        import tensorflow as tf

        self.loaded = tf.saved_model.load(str(path))
        if "serving_default" not in getattr(self.loaded, "signatures", {}):
            raise QuantizeError(f"{path} has no serving_default signature to convert")
        self.signature = self.loaded.signatures["serving_default"]
        args = self.signature.structured_input_signature[1]
        if len(args) != 1:
            raise QuantizeError(f"{path} takes {len(args)} inputs; the hub serves one-input classifiers")
        (self.input_name, spec), = args.items()
        self.input_shape = tuple(spec.shape)

    def __call__(self, x, training: bool = False):
        outputs = self.signature(**{self.input_name: x})
        return next(iter(outputs.values()))


def load_model(path: Path):
    """(model, is_keras). Refuses what cannot or should not be quantized, saying why."""
    if not path.exists():
        raise QuantizeError(f"no model at {path}")
    if path.suffix == ".tflite":
        raise QuantizeError(f"{path.name} is already a TFLite model (converted, maybe quantized); give the Keras "
                            "model (.keras, .h5 or SavedModel) it came from, or drop the .tflite into models/ as is")
    import tf_keras as keras

    if path.is_dir():
        if not (path / "saved_model.pb").exists():
            raise QuantizeError(f"{path} is a folder but not a SavedModel (no saved_model.pb)")
        try:
            model = keras.models.load_model(str(path), compile=False)
        except Exception:  # noqa: BLE001 - not one Keras can read
            model = None
        if isinstance(model, keras.Model):
            return model, True
        # A SavedModel Keras did not write (tf_keras loads it as a bare object, or fails): convert its signature
        return SavedModelFunction(path), False
    if path.suffix not in (".keras", ".h5", ".hdf5"):
        raise QuantizeError(f"{path.name}: give a .keras or .h5 file, or a SavedModel folder")
    try:
        model = keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types; the message is what helps
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "Unknown layer" in text or "Could not locate class" in text:
            raise QuantizeError(f"{path.name} uses a layer this converter does not know ({text}); "
                                "replace custom layers with standard Keras ones") from None
        raise QuantizeError(f"cannot read {path.name} as a Keras model: {text}") from None
    return model, True


def check_layers(model) -> None:
    names = {type(layer).__name__ for layer in _all_layers(model)}
    if any("Quantize" in n or "Prune" in n or "Cluster" in n for n in names):
        raise QuantizeError("this model is already wrapped for quantization, pruning or clustering "
                            f"({', '.join(sorted(n for n in names if 'Quantize' in n or 'Prune' in n))}); "
                            "give the plain float model: this tool applies QAT, pruning and clustering itself")
    recurrent = sorted(names & RECURRENT)
    if recurrent:
        raise QuantizeError(f"unsupported layer: {', '.join(recurrent)}. Recurrent layers do not convert "
                            "safely to full int8 here (TensorFlow 2.21's converter crashes on int8 GRU) and "
                            "stay on the CPU on the Edge TPU; use a convolutional model (Conv1D/Conv2D)")


def _all_layers(model):
    for layer in getattr(model, "layers", []):
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def input_shape_of(model) -> tuple[int, ...]:
    shape = tuple(model.input_shape)  # Keras models and SavedModelFunction both say it
    if isinstance(shape[0], tuple):
        raise QuantizeError("the model has several inputs; the hub serves one-input classifiers")
    dims = shape[1:]
    if any(d is None or d < 1 for d in dims):
        raise QuantizeError(f"the model's input shape {list(shape)} is not fixed; the hub and the Edge TPU need "
                            "static shapes: rebuild it with a fixed Input(shape=...)")
    return tuple(int(d) for d in dims)


def activation_of(model, int8: bytes) -> str:
    """What the model's output is (the manifest's output.activation): a Keras model's last layer
    says; where it cannot (a non-Keras SavedModel, another activation), the converted int8 file's
    output quantization, by the rule the hub applies to an undeclared output."""
    layer = model
    while getattr(layer, "layers", None):  # the last layer of a nested model
        layer = layer.layers[-1]
    if type(layer).__name__ == "Softmax":
        return "softmax"
    name = getattr(getattr(layer, "activation", None), "__name__", None)
    if name in KERAS_ACTIVATIONS:
        return KERAS_ACTIVATIONS[name]
    out = Runner(int8).output
    return output_activation((TensorSpec.from_details(out),))


def _files(folder: Path, suffixes: set[str]) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def detect_task(calib: Path) -> str:
    if calib.is_file() and calib.suffix == ".npy":
        return "image-classification"
    if not calib.is_dir():
        raise QuantizeError(f"no calibration data at {calib}: give a folder of images or WAVs, or an .npy file")
    images, audio = _files(calib, IMAGE_SUFFIXES), _files(calib, AUDIO_SUFFIXES)
    if not images and not audio:
        raise QuantizeError(f"{calib} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}) and no .wav files")
    return "audio-classification" if len(audio) > len(images) else "image-classification"


def image_input(path: Path, shape: tuple[int, ...], value_range: tuple[float, float]) -> np.ndarray:
    import cv2

    if len(shape) != 3 or shape[2] not in (1, 3):
        raise QuantizeError(f"the model takes {list(shape)}, not an image [H, W, 1 or 3]; give an .npy instead")
    picture = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    if picture is None:
        raise QuantizeError(f"{path} is not a readable image")
    if shape[2] == 1:
        picture = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)[..., None]
    else:
        picture = cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)
    picture = cv2.resize(picture, (shape[1], shape[0]), interpolation=cv2.INTER_AREA).reshape(shape)
    lo, hi = value_range
    return (lo + picture.astype(np.float32) * ((hi - lo) / 255.0)).astype(np.float32)


def audio_wave(path: Path, params: FeatureParams) -> np.ndarray:
    try:
        x, rate = decode_wav(path.read_bytes())
    except BadInput as exc:
        raise QuantizeError(f"{path}: {exc.message}") from None
    return resample(x, rate, params.sample_rate)


def load_inputs(source: Path, task: str, shape: tuple[int, ...], value_range, params: FeatureParams,
                what: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """(model inputs, the recordings' waveforms: empty for pictures and .npy)."""
    if source.is_file() and source.suffix == ".npy":
        x = np.load(source, allow_pickle=False).astype(np.float32)
        if x.ndim == len(shape) + 2 and x.shape[1] == 1:
            x = x[:, 0]
        if tuple(x.shape[1:]) != shape:
            raise QuantizeError(f"{source.name} holds samples of shape {list(x.shape[1:])}; the model takes "
                                f"{list(shape)} (wrong shapes in the {what} set)")
        if len(x) == 0:
            raise QuantizeError(f"{source.name} is empty")
        return x, []
    if not source.is_dir():
        raise QuantizeError(f"no {what} data at {source}")
    if task == "audio-classification":
        if shape != params.shape:
            raise QuantizeError(f"the model takes {list(shape)} but the hub's audio features are "
                                f"{list(params.shape)} (log-mel, {params.n_mels} bands, {params.clip_seconds} s at "
                                f"{params.sample_rate} Hz): train on hub.adapters.audio.features, or give an .npy")
        paths = _files(source, AUDIO_SUFFIXES)
        waves = [audio_wave(p, params) for p in progress.bar(paths, f"read {what} recordings")]
        return np.stack([features(w, params.sample_rate, params) for w in waves]), waves
    paths = _files(source, IMAGE_SUFFIXES)
    if not paths:
        raise QuantizeError(f"{source} holds no images")
    return np.stack([image_input(p, shape, value_range) for p in progress.bar(paths, f"read {what} images")]), []


def labelled(folder: Path, labels: tuple[str, ...], task: str, shape, value_range, params, what: str):
    """A folder with one subfolder per label: (x, y, raw waveforms for audio conditions)."""
    if not folder.is_dir():
        raise QuantizeError(f"no {what} folder at {folder}")
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir())
    unknown = [p.name for p in subfolders if p.name not in labels]
    if not subfolders:
        raise QuantizeError(f"{folder} needs one subfolder per label (e.g. {folder}/{labels[0]}/...)")
    if unknown:
        raise QuantizeError(f"{folder}: subfolders {', '.join(unknown)} are not in the labels file")
    xs, ys, waves = [], [], []
    for sub in subfolders:
        x, sub_waves = load_inputs(sub, task, shape, value_range, params, what)  # each file read once
        xs.append(x)
        ys.append(np.full(len(x), labels.index(sub.name), np.int64))
        waves += sub_waves
    return np.concatenate(xs), np.concatenate(ys), waves


def audio_conditions(waves: list[np.ndarray], params: FeatureParams, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"room noise {snr} dB": np.stack([features(mix_at_snr(w, pink_noise(len(w), rng), snr),
                                                       params.sample_rate, params) for w in waves])
            for snr in AUDIO_SNRS_DB}


def convert_model(options: ConvertOptions) -> Outcome:
    started = time.time()
    name = options.out.name
    if not NAME_PATTERN.match(name):
        raise QuantizeError(f"{name!r} cannot be a model name: use letters, digits, '-', '_' or '.'")
    if not options.labels.is_file():
        raise QuantizeError(f"no labels file at {options.labels}")
    labels = parse_labels(options.labels.read_text(errors="replace"))
    if len(labels) < 2:
        raise QuantizeError(f"{options.labels} lists {len(labels)} label(s); a classifier needs at least 2")
    task = options.task or detect_task(options.calib)
    seed_everything(options.seed)
    model, is_keras = load_model(options.model)
    if is_keras:
        check_layers(model)
    shape = input_shape_of(model)
    params = FeatureParams()
    if is_keras and model.output_shape[-1] != len(labels):
        raise QuantizeError(f"the model has {model.output_shape[-1]} outputs but {options.labels.name} "
                            f"lists {len(labels)} labels")
    calib, _ = load_inputs(options.calib, task, shape, options.input_range, params, "calibration")
    progress.step(f"{options.model.name}: input {list(shape)}, {len(labels)} labels, {len(calib)} calibration "
                  f"samples, task {task}")
    data = None
    if options.train:
        if not is_keras:
            progress.step("QAT, pruning and clustering need a Keras model; skipping them for this SavedModel")
        else:
            xt, yt, _ = labelled(options.train, labels, task, shape, options.input_range, params, "training")
            data = Dataset(xt, yt, xt[:0], yt[:0], xt[:0], yt[:0], str(options.train))
    x_eval = y_eval = None
    conditions: dict[str, np.ndarray] = {}
    if options.eval:
        x_eval, y_eval, waves = labelled(options.eval, labels, task, shape, options.input_range, params,
                                         "evaluation")
        conditions = (audio_conditions(waves, params, options.seed) if task == "audio-classification"
                      else image_conditions(x_eval, options.input_range, options.seed))
    fine_tune = options.fine_tune_epochs or 3
    progress.step("converting every variant")
    results = make_variants(model, shape, calibration_set(calib, options.seed), data, fine_tune, 32)
    progress.step("evaluating every variant in LiteRT")
    if x_eval is not None:
        measure(results, x_eval, y_eval, conditions)
        reference, shipped, drop = choose_and_gate(results, options.max_drop)
    else:
        measure(results, calib, None, {})
        by = {r.name: r for r in results}
        reference, shipped = by["float32"], by["int8"]
        drop = (1 - (shipped.agreement or 0.0)) * 100
        if drop > options.max_drop:
            raise GateRefused(f"without --eval the gate uses agreement with the float model: int8 disagrees on "
                              f"{drop:.2f}% of the calibration samples, over {options.max_drop:g}. Nothing was "
                              "written. Give --eval DIR to measure accuracy, or more calibration data.")
    outcome = Outcome(name, results, shipped, reference, drop)
    with tempfile.TemporaryDirectory() as work:
        outcome.edgetpu, edgetpu_bytes = edgetpu_section(shipped, name, Path(work), options.min_runtime,
                                                         options.num_segments)
    files = {f"{name}_int8.tflite": shipped.content, f"{name}_float32.tflite": reference.content}
    variants = {"cpu": file_entry(f"{name}_int8.tflite", shipped.content, accuracy=_round(shipped.accuracy),
                                  variant=shipped.name),
                "float": file_entry(f"{name}_float32.tflite", reference.content, accuracy=_round(reference.accuracy))}
    if edgetpu_bytes:
        files[f"{name}_int8_edgetpu.tflite"] = edgetpu_bytes
        variants["edgetpu"] = file_entry(f"{name}_int8_edgetpu.tflite", edgetpu_bytes)
    if task == "audio-classification":
        preprocess = {"kind": "audio", **params.to_json()}
    else:
        preprocess = {"kind": "image", "color": "gray" if shape[-1] == 1 else "rgb",
                      "value_range": list(options.input_range)}
    provenance = {"recipe": "convert", "model": options.model.name, "data": str(options.calib),
                  "split": f"evaluated on {options.eval}" if options.eval else "not evaluated (no --eval)",
                  "seed": options.seed, "fine_tune_epochs": fine_tune, **environment(),
                  "built_in_s": round(time.time() - started, 1)}
    manifest = manifest_for(name, task, labels, shape, preprocess, outcome, variants, provenance,
                            activation_of(model, shipped.content))
    from .build import _write

    outcome.folder = _write(options.out.parent, name, files, manifest, outcome)
    print_summary(outcome)
    progress.step(f"wrote {outcome.folder} ({shipped.name}) in {time.time() - started:.0f} s")
    return outcome


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)
