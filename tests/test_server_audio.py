"""Spoken answers over REST: the committed spoken-digits model, real WAVs, the real server (one for
the module); bad recordings in process."""
from __future__ import annotations

import numpy as np
import pytest

from hub.adapters.audio import decode_wav, resample
from tests.conftest import SHARED
from tests.drawing import png, render
from tests.test_audio_features import tone, wav_bytes

FSDD = SHARED / "data" / "fsdd" / "recordings"


def fsdd_test_files(count: int) -> list:
    if not FSDD.is_dir():
        pytest.skip(f"the Free Spoken Digit Dataset is not in {FSDD} (../shared is absent)")
    files = sorted(p for p in FSDD.glob("*.wav") if int(p.stem.split("_")[2]) <= 4)  # the standard test split
    return files[:: max(1, len(files) // count)][:count]


def test_spoken_digits_model_is_listed_as_audio(zoo_hub):
    model = zoo_hub.model("spoken-digits")
    assert model["status"] == "ready" and model["task"] == "audio-classification"


def test_held_out_recordings_are_recognised_as_wav_and_multipart(zoo_hub):
    right = total = 0
    for i, path in enumerate(fsdd_test_files(40)):
        data = path.read_bytes()
        if i % 2:
            reply = zoo_hub.post("/api/models/spoken-digits/classify?top_k=2", data=data,
                             headers={"Content-Type": "audio/wav"})
        else:
            reply = zoo_hub.post("/api/models/spoken-digits/classify?top_k=2", files={"audio": ("a.wav", data)})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert len(body["predictions"]) == 2 and body["backend"] == "cpu"
        right += body["predictions"][0]["label"] == path.name[0]
        total += 1
    assert right / total >= 0.9


def test_raw_pcm_at_the_tablets_own_rate_is_resampled(zoo_hub):
    path = fsdd_test_files(10)[3]
    x, rate = decode_wav(path.read_bytes())
    pcm = (resample(x, rate, 48000) * 32767).astype("<i2").tobytes()
    reply = zoo_hub.post("/api/models/spoken-digits/classify", data=pcm,
                     headers={"Content-Type": "audio/L16;rate=48000"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["predictions"][0]["label"] == path.name[0]
    reply = zoo_hub.post("/api/models/spoken-digits/classify?sample_rate=48000", data=pcm,
                     headers={"Content-Type": "audio/L16"})
    assert reply.status_code == 200


@pytest.mark.parametrize("body,ctype,code,fragment", [
    (b"RIFF\x00\x00\x00\x00WAVEnope", "audio/wav", 400, "no format or no data"),
    (b"hello", "audio/wav", 400, "not a WAV"),
    (b"\x00\x00" * 4000, "audio/L16", 400, "sample rate"),
    (None, "audio/wav", 400, "silent"),
    (None, "image/png", 400, "send audio"),
    (b"\x00" * 10, "audio/ogg", 415, "audio/wav"),
])
def test_bad_recordings_are_json_errors_and_the_hub_goes_on(zoo_app, body, ctype, code, fragment):
    if body is None and ctype == "audio/wav":
        body = wav_bytes(np.zeros(4000, np.float32), 8000)
    elif body is None:
        body = png(render(3))
    reply = zoo_app.http.post("/api/models/spoken-digits/classify", data=body, headers={"Content-Type": ctype})
    assert reply.status_code == code
    assert fragment in reply.get_json()["error"]
    assert zoo_app.http.post("/api/models/spoken-digits/classify", data=wav_bytes(tone(), 8000),
                         headers={"Content-Type": "audio/wav"}).status_code == 200


def test_audio_sent_to_an_image_model_is_refused(zoo_app):
    reply = zoo_app.http.post("/api/models/digits/classify", data=wav_bytes(tone(), 8000),
                          headers={"Content-Type": "audio/wav"})
    assert reply.status_code == 400 and "send an image" in reply.get_json()["error"]
