"""hub.adapters.audio: the WAV reader and log-mel features that training and the hub share."""
from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest

from hub.adapters.audio import (
    FeatureParams,
    decode_pcm16,
    decode_wav,
    features,
    fit_clip,
    resample,
)
from hub.errors import BadInput
from tests.conftest import SHARED

PARAMS = FeatureParams()


def tone(seconds=0.5, rate=8000, freq=440.0, amplitude=0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_bytes(x: np.ndarray, rate: int, sampwidth: int = 2, channels: int = 1) -> bytes:
    """A real RIFF file written by the standard library's wave module."""
    data = np.repeat(x[:, None], channels, axis=1).reshape(-1)
    if sampwidth == 1:
        raw = (np.clip(data, -1, 1) * 127 + 128).astype(np.uint8).tobytes()
    elif sampwidth == 2:
        raw = (np.clip(data, -1, 1) * 32767).astype("<i2").tobytes()
    elif sampwidth == 3:
        ints = (np.clip(data, -1, 1) * 8388607).astype("<i4")
        raw = b"".join(struct.pack("<i", int(v))[:3] for v in ints)
    else:
        raw = (np.clip(data, -1, 1) * 2147483647).astype("<i4").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(sampwidth)
        w.setframerate(rate)
        w.writeframes(raw)
    return buffer.getvalue()


def float_wav(x: np.ndarray, rate: int) -> bytes:
    body = x.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    return (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(body)) + b"WAVE" + b"fmt "
            + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(body)) + body)


@pytest.mark.parametrize("sampwidth", [1, 2, 3, 4])
@pytest.mark.parametrize("channels", [1, 2])
def test_pcm_wavs_of_every_width_decode_to_the_same_signal(sampwidth, channels):
    x = tone()
    decoded, rate = decode_wav(wav_bytes(x, 8000, sampwidth, channels))
    assert rate == 8000 and decoded.shape == x.shape
    assert np.abs(decoded - x).max() < (0.02 if sampwidth == 1 else 1e-3)


def test_float_wav_and_raw_pcm16():
    x = tone()
    decoded, _ = decode_wav(float_wav(x, 16000))
    assert np.allclose(decoded, x, atol=1e-6)
    pcm, rate = decode_pcm16((x * 32767).astype("<i2").tobytes(), 16000)
    assert rate == 16000 and np.abs(pcm - x).max() < 1e-3


@pytest.mark.parametrize("data,fragment", [
    (b"", "not a WAV"),
    (b"RIFF\x00\x00\x00\x00WAVEjunk", "no format or no data"),
    (b"\x89PNG\r\n\x1a\n" + bytes(40), "not a WAV"),
])
def test_bad_wavs_are_bad_input(data, fragment):
    with pytest.raises(BadInput, match=fragment):
        decode_wav(data)


def test_truncated_wav_is_refused_part_samples_dropped_and_empty_refused():
    data = wav_bytes(tone(), 8000)
    assert data[36:40] == b"data"
    with pytest.raises(BadInput, match="truncated"):
        decode_wav(data[:-1])  # the header says more than arrived: the upload was cut
    odd = data[:40] + struct.pack("<I", len(data) - 45) + data[44:-1]  # half a sample short, as declared
    decoded, _ = decode_wav(odd)
    assert len(decoded) == len(tone()) - 1
    with pytest.raises(BadInput, match="empty"):
        decode_wav(data[:40] + struct.pack("<I", 0))


def test_too_long_and_bad_rates_are_refused():
    with pytest.raises(BadInput, match="longer than"):
        decode_wav(wav_bytes(np.zeros(8000 * 31, np.float32), 8000))
    with pytest.raises(BadInput, match="sample_rate"):
        decode_pcm16(b"\x00\x00" * 10, 10)


def test_features_do_not_depend_on_the_rate_the_tablet_recorded_at():
    x = tone(0.6, 8000, 300) * np.hanning(4800).astype(np.float32)
    at_8k = features(x, 8000, PARAMS)
    at_48k = features(resample(x, 8000, 48000), 48000, PARAMS)
    assert at_8k.shape == PARAMS.shape
    assert 0.0 <= at_8k.min() and at_8k.max() == pytest.approx(1.0)
    assert np.abs(at_8k - at_48k).mean() < 0.01


def test_silence_around_an_answer_is_trimmed_and_the_answer_centred():
    x = tone(0.3)
    padded = np.concatenate([np.zeros(12000, np.float32), x, np.zeros(4000, np.float32)])
    clip = fit_clip(padded, PARAMS)
    assert len(clip) == PARAMS.clip_samples
    loud = np.nonzero(np.abs(clip) > 0.01)[0]
    middle = (loud[0] + loud[-1]) / 2
    assert abs(middle - PARAMS.clip_samples / 2) < PARAMS.hop * 2
    assert np.abs(features(padded, 8000, PARAMS) - features(x, 8000, PARAMS)).mean() < 0.02


def test_silent_recording_is_bad_input():
    with pytest.raises(BadInput, match="silent"):
        features(np.zeros(8000, np.float32), 8000, PARAMS)


def test_fsdd_recordings_decode():
    folder = SHARED / "data" / "fsdd" / "recordings"
    if not folder.is_dir():
        pytest.skip(f"the Free Spoken Digit Dataset is not in {folder} (../shared is absent)")
    for path in sorted(folder.glob("*_0.wav"))[:12]:
        x, rate = decode_wav(path.read_bytes())
        assert rate == 8000 and 0.05 < len(x) / rate < 3
        assert features(x, rate, PARAMS).shape == PARAMS.shape


def test_training_and_the_hub_compute_identical_features():
    """The recipe's featuriser and the hub's serving path must not drift apart."""
    folder = SHARED / "data" / "fsdd" / "recordings"
    if not folder.is_dir():
        pytest.skip(f"the Free Spoken Digit Dataset is not in {folder} (../shared is absent)")
    from quantize.recipes import spoken_digits

    for path in sorted(folder.glob("3_*_7.wav")):
        trained_on = spoken_digits._featurise([spoken_digits._waveform(path)])[0]
        x, rate = decode_wav(path.read_bytes())
        assert np.array_equal(trained_on, features(x, rate, spoken_digits.PARAMS))
