"""From a spoken answer to the model's input: WAV decoding, resampling, clip fitting, log-mel.

This one numpy-only implementation is what `classroom-quantize` trains on and what the hub
computes on the Pi, so the model hears at serve time exactly what it heard in training.
Everything happens in memory; nothing here ever writes audio anywhere.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..errors import BadInput

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
MAX_SECONDS = 30.0  # a spoken answer is a few seconds; refuse anything far longer


@dataclass(frozen=True)
class FeatureParams:
    """Log-mel parameters; stored in the manifest's input.preprocess, read back by the hub."""

    sample_rate: int = 8000
    clip_seconds: float = 1.0
    n_fft: int = 256
    hop: int = 128
    n_mels: int = 40
    fmin: float = 50.0
    fmax: float = 4000.0
    top_db: float = 80.0
    trim_db: float = 40.0

    @property
    def clip_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_seconds))

    @property
    def frames(self) -> int:
        return 1 + (self.clip_samples - self.n_fft) // self.hop

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.frames, self.n_mels, 1)

    def to_json(self) -> dict:
        return {"sample_rate": self.sample_rate, "clip_seconds": self.clip_seconds, "n_fft": self.n_fft,
                "hop": self.hop, "n_mels": self.n_mels, "fmin": self.fmin, "fmax": self.fmax,
                "top_db": self.top_db, "trim_db": self.trim_db}

    @classmethod
    def from_json(cls, data: dict) -> "FeatureParams":
        known = cls.__dataclass_fields__
        try:
            return cls(**{k: type(getattr(cls, k))(v) for k, v in data.items() if k in known})
        except (TypeError, ValueError) as exc:
            raise BadInput(f"bad audio feature parameters in the manifest: {exc}") from None


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the rate, from a RIFF WAV (PCM 8/16/24/32-bit or float)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise BadInput("not a WAV file (no RIFF/WAVE header); send a WAV, or raw 16-bit PCM with its rate")
    pos, fmt, samples = 12, None, None
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8:pos + 8 + size]
        if chunk == b"fmt ":
            if len(body) < 16:
                raise BadInput("the WAV's format chunk is damaged")
            fmt = struct.unpack_from("<HHIIHH", body)
            if fmt[0] == _EXTENSIBLE and len(body) >= 26:  # the real tag opens the sub-format GUID
                fmt = (struct.unpack_from("<H", body, 24)[0],) + fmt[1:]
        elif chunk == b"data":
            samples = body
            break
        pos += 8 + size + (size & 1)
    if fmt is None or samples is None:
        raise BadInput("the WAV has no format or no data chunk; it may be truncated")
    tag, channels, rate, _, align, bits = fmt
    if channels < 1 or not 1000 <= rate <= 192000 or align != channels * ((bits + 7) // 8):
        raise BadInput(f"the WAV's format is damaged ({channels} channels, {rate} Hz, {bits}-bit)")
    if len(samples) // align > MAX_SECONDS * rate:
        raise BadInput(f"the recording is longer than {MAX_SECONDS:.0f} s; send a short answer")
    usable = len(samples) - len(samples) % align
    raw = samples[:usable]
    if tag == _FLOAT and bits == 32:
        x = np.frombuffer(raw, "<f4").astype(np.float32)
    elif tag == _PCM and bits == 16:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif tag == _PCM and bits == 8:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif tag == _PCM and bits == 24:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        x = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8).astype(np.float32) / 8388608.0
    elif tag == _PCM and bits == 32:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    else:
        raise BadInput(f"unsupported WAV encoding (format {tag}, {bits}-bit); use 16-bit PCM")
    if x.size == 0:
        raise BadInput("the recording is empty")
    x = x.reshape(-1, channels).mean(axis=1)
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32), int(rate)


def decode_pcm16(data: bytes, rate: int) -> tuple[np.ndarray, int]:
    """Raw little-endian 16-bit mono PCM, as a browser's AudioWorklet can send it."""
    if not 1000 <= rate <= 192000:
        raise BadInput("sample_rate must be from 1000 to 192000 Hz")
    if len(data) < 2:
        raise BadInput("the recording is empty")
    if len(data) // 2 > MAX_SECONDS * rate:
        raise BadInput(f"the recording is longer than {MAX_SECONDS:.0f} s; send a short answer")
    return np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float32) / 32768.0, rate


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling in the frequency domain (clips are short, so one FFT is cheap)."""
    if rate == target:
        return x.astype(np.float32)
    n_out = max(1, int(round(len(x) * target / rate)))
    spectrum = np.fft.rfft(x)
    keep = n_out // 2 + 1
    if keep <= len(spectrum):
        spectrum = spectrum[:keep]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(keep - len(spectrum), spectrum.dtype)])
    return (np.fft.irfft(spectrum, n_out) * (n_out / len(x))).astype(np.float32)


def fit_clip(x: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Trim silence (frames trim_db below the loudest), then centre in a clip of fixed length."""
    frame = params.hop
    if len(x) >= frame:
        n = len(x) // frame
        energy = (x[: n * frame].reshape(n, frame) ** 2).mean(axis=1)
        loud = np.nonzero(10 * np.log10(energy + 1e-12) >= 10 * np.log10(energy.max() + 1e-12) - params.trim_db)[0]
        x = x[loud[0] * frame:(loud[-1] + 1) * frame]
    want = params.clip_samples
    if len(x) >= want:
        # keep the loudest window of the clip's length
        power = np.cumsum(np.concatenate([[0.0], x.astype(np.float64) ** 2]))
        start = int(np.argmax(power[want:] - power[:-want]))
        return x[start:start + want].astype(np.float32)
    out = np.zeros(want, np.float32)
    offset = (want - len(x)) // 2
    out[offset:offset + len(x)] = x
    return out


def _mel_filters(params: FeatureParams) -> np.ndarray:
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10 ** (np.asarray(m) / 2595.0) - 1.0)

    fmax = min(params.fmax, params.sample_rate / 2)
    edges = mel_to_hz(np.linspace(hz_to_mel(params.fmin), hz_to_mel(fmax), params.n_mels + 2))
    freqs = np.linspace(0, params.sample_rate / 2, params.n_fft // 2 + 1)
    filters = np.zeros((params.n_mels, len(freqs)), np.float32)
    for i in range(params.n_mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        rising = (freqs - lo) / max(mid - lo, 1e-9)
        falling = (hi - freqs) / max(hi - mid, 1e-9)
        filters[i] = np.maximum(0.0, np.minimum(rising, falling))
    return filters


_FILTERS: dict[FeatureParams, np.ndarray] = {}


def log_mel(clip: np.ndarray, params: FeatureParams) -> np.ndarray:
    """(frames, n_mels, 1) float32 in [0, 1]: dB below the clip's loudest bin, over top_db."""
    if params not in _FILTERS:
        _FILTERS[params] = _mel_filters(params)
    window = np.hanning(params.n_fft).astype(np.float32)
    idx = np.arange(params.n_fft)[None, :] + params.hop * np.arange(params.frames)[:, None]
    spectrum = np.abs(np.fft.rfft(clip[idx] * window, axis=1)) ** 2
    mel = spectrum @ _FILTERS[params].T
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max() - params.top_db)
    return ((db - db.max()) / params.top_db + 1.0).astype(np.float32)[..., None]


def features(x: np.ndarray, rate: int, params: FeatureParams) -> np.ndarray:
    """Samples at any rate to the model's features: resample, fit the clip, log-mel."""
    x = resample(x, rate, params.sample_rate)
    if float(np.abs(x).max(initial=0.0)) < 1e-4:
        raise BadInput("the recording is silent: nothing was heard")
    return log_mel(fit_clip(x, params), params)
