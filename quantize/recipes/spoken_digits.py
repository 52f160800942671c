"""Spoken digits: the Free Spoken Digit Dataset (3,000 WAVs at 8 kHz, 6 speakers, CC BY-SA 4.0).

Features come from `hub.adapters.audio`, the same code the hub runs on the Pi. Two splits are
reported: the dataset's own (recordings 0-4 of every speaker and digit are the test set) and
a held-out speaker, whom the second model never hears in training: the honest figure for a
new child's voice.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hub.adapters.audio import (
    FeatureParams,
    decode_wav,
    features,
    fit_clip,
    log_mel,
    resample,
)

from ..conditions import AUDIO_SNRS_DB, mix_at_snr, pink_noise
from ..errors import QuantizeError
from .base import Dataset, HeldOut, Recipe

LABELS = tuple(str(i) for i in range(10))
PARAMS = FeatureParams()
HELD_OUT_SPEAKER = "george"
_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fsdd"


def _recordings(data_dir: Path | None) -> list[tuple[Path, int, str, int]]:
    root = Path(data_dir or DEFAULT_DATA)
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    if not folder.is_dir():
        raise QuantizeError(f"no spoken-digit data at {root}: give --data DIR (the Free Spoken Digit Dataset, "
                            "a folder of {digit}_{speaker}_{index}.wav files)")
    found = []
    for path in sorted(folder.glob("*.wav")):
        m = _NAME.match(path.name)
        if m:
            found.append((path, int(m.group(1)), m.group(2), int(m.group(3))))
    if len(found) < 100:
        raise QuantizeError(f"{folder} holds {len(found)} recordings named digit_speaker_index.wav; "
                            "the recipe needs the Free Spoken Digit Dataset (3,000)")
    return found


def _waveform(path: Path) -> np.ndarray:
    x, rate = decode_wav(path.read_bytes())
    return resample(x, rate, PARAMS.sample_rate)


def _featurise(waves: list[np.ndarray]) -> np.ndarray:
    return np.stack([log_mel(fit_clip(w, PARAMS), PARAMS) for w in waves])


def _augment(waves: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Each clip at another speed (pitch and tempo x0.8-1.25: children speak higher), shifted in
    time, with room noise at 10-30 dB. Measured on held-out speakers: 65% -> 81% (george),
    88% -> 91% (theo), together with the masking below."""
    out = []
    for w in waves:
        w = resample(w, PARAMS.sample_rate, int(PARAMS.sample_rate / rng.uniform(0.8, 1.25)))
        shift = int(rng.integers(-PARAMS.sample_rate // 10, PARAMS.sample_rate // 10))
        padded = np.concatenate([np.zeros(max(shift, 0), np.float32), w, np.zeros(max(-shift, 0), np.float32)])
        out.append(mix_at_snr(padded, pink_noise(len(padded), rng), float(rng.uniform(10, 30))))
    return out


def _mask(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SpecAugment-style: blank up to 6 mel bands and up to 8 frames, so no single cue decides."""
    x = x.copy()
    for item in x:
        band = int(rng.integers(0, PARAMS.n_mels - 6))
        item[:, band:band + int(rng.integers(0, 7))] = 0
        frame = int(rng.integers(0, PARAMS.frames - 8))
        item[frame:frame + int(rng.integers(0, 9)), :] = 0
    return x


def _split(records, test_mask, seed: int, conditions: bool, source: str, split: str) -> Dataset:
    rng = np.random.default_rng(seed)
    waves = [_waveform(r[0]) for r in records]
    labels = np.array([r[1] for r in records], np.int64)
    train_idx = np.nonzero(~test_mask)[0]
    test_idx = np.nonzero(test_mask)[0]
    rng.shuffle(train_idx)
    n_val = len(train_idx) // 10
    val_idx, fit_idx = train_idx[:n_val], train_idx[n_val:]
    fit_waves = [waves[i] for i in fit_idx]
    copies = [_mask(_featurise(_augment(fit_waves, rng)), rng) for _ in range(2)]
    x_train = np.concatenate([_featurise(fit_waves), *copies])
    y_train = np.concatenate([labels[fit_idx]] * 3)
    test_waves = [waves[i] for i in test_idx]
    extra = {}
    if conditions:
        for snr in AUDIO_SNRS_DB:
            extra[f"room noise {snr} dB"] = _featurise(
                [mix_at_snr(w, pink_noise(len(w), rng), snr) for w in test_waves])
        others = [waves[i] for i in fit_idx[:200]]
        babble = []
        for w in test_waves:
            picks = rng.choice(len(others), size=3, replace=False)
            noise = np.zeros(len(w), np.float32)
            for p in picks:
                o = np.resize(others[p], len(w))
                noise += o / (np.std(o) + 1e-9)
            babble.append(mix_at_snr(w, noise, 10))
        extra["children talking 10 dB"] = _featurise(babble)
    return Dataset(x_train, y_train, _featurise([waves[i] for i in val_idx]), labels[val_idx],
                   _featurise(test_waves), labels[test_idx], source, extra, split)


def load_fsdd(seed: int, data_dir: Path | None = None) -> Dataset:
    records = _recordings(data_dir)
    test_mask = np.array([r[3] <= 4 for r in records])
    return _split(records, test_mask, seed, True,
                  f"Free Spoken Digit Dataset ({len(records)} WAVs, CC BY-SA 4.0)",
                  "standard: recordings 0-4 of each speaker and digit held out")


def load_held_out_speaker(seed: int, data_dir: Path | None = None, speaker: str = HELD_OUT_SPEAKER) -> HeldOut:
    records = _recordings(data_dir)
    speakers = sorted({r[2] for r in records})
    if speaker not in speakers:
        raise QuantizeError(f"no speaker {speaker!r} in the data; speakers: {', '.join(speakers)}")
    test_mask = np.array([r[2] == speaker for r in records])
    data = _split(records, test_mask, seed, False, "Free Spoken Digit Dataset", f"speaker {speaker} held out")
    return HeldOut(f"speaker {speaker} (never heard in training)", data)


def build_spoken_model():
    import tf_keras as keras

    return keras.Sequential([
        keras.layers.Input(PARAMS.shape),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.4),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def check_features(x: np.ndarray) -> None:
    if x.shape[1:] != PARAMS.shape:
        raise QuantizeError(f"features are {x.shape[1:]}, the recipe expects {PARAMS.shape}")


SPOKEN_DIGITS = Recipe(
    name="spoken-digits",
    task="audio-classification",
    labels=LABELS,
    load=load_fsdd,
    build=build_spoken_model,
    epochs=25,
    preprocess={"kind": "audio", **PARAMS.to_json()},
    held_out=load_held_out_speaker,
    default_data=DEFAULT_DATA,
    licence="Free Spoken Digit Dataset, CC BY-SA 4.0 (Jakobovski/free-spoken-digit-dataset)",
)

__all__ = ["SPOKEN_DIGITS", "features"]
