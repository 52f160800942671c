"""Recordings bounded in memory (issue 13, item 1, "the same for audio"): absurd WAV headers refused
before anything is allocated, the decode's peak estimated from the header and reserved in the
hub's decode budget (413 over `[limits] max_decode_bytes`), long recordings decoded only around
their loudest clip, and audio bombs four at a time under the unit's memory cap."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from hub.adapters import audio
from hub.errors import BadInput
from tests.conftest import ROOT, SHARED
from tests.hostile import unit_memory_max
from tests.test_audio_features import tone, wav_bytes

PARAMS = audio.FeatureParams()  # the bundled spoken-digits model's features
FSDD = SHARED / "data" / "fsdd" / "recordings"


def wav(frames: int = 4000, rate: int = 8000, bits: int = 16, channels: int = 1, tag: int = 1,
        align: int | None = None, declared: int | None = None, samples: bytes | None = None,
        before: bytes = b"") -> bytes:
    """A WAV whose header says exactly what the test wants, true or not."""
    align = channels * bits // 8 if align is None else align
    if samples is None:
        samples = np.random.default_rng(frames).integers(0, 256, max(frames * max(align, 1), 0), np.uint8).tobytes()
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    size = len(samples) if declared is None else declared
    return (b"RIFF" + struct.pack("<I", 36 + len(before) + len(samples)) + b"WAVE" + before
            + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size) + samples)


def spoken(digit: str = "7") -> bytes:
    if not FSDD.is_dir():
        pytest.skip(f"the Free Spoken Digit Dataset is not in {FSDD} (../shared is absent)")
    return sorted(FSDD.glob(f"{digit}_*_3.wav"))[0].read_bytes()


# --- absurd headers: refused from the header, before anything big is allocated ------------------

ABSURD = [
    ("0 bits per sample", dict(bits=0, align=0), "unsupported WAV encoding"),
    ("64 bits per sample", dict(bits=64), "unsupported WAV encoding"),
    ("12 bits per sample", dict(bits=12, align=2), "unsupported WAV encoding"),
    ("16-bit float", dict(tag=3, bits=16), "unsupported WAV encoding"),
    ("0 channels", dict(channels=0, align=2), "0 channels"),
    ("1000 channels", dict(channels=1000, frames=20), "1000 channels"),
    ("a rate of 0", dict(rate=0), "0 Hz"),
    ("a rate of 10^9", dict(rate=10 ** 9), "1000000000 Hz"),
    ("a data chunk larger than the file", dict(declared=10 ** 9), "truncated"),
    ("an odd block align", dict(align=3), "block align 3"),
    ("a block align of 0", dict(align=0), "block align 0"),
]


@pytest.mark.parametrize("fields,fragment", [a[1:] for a in ABSURD], ids=[a[0] for a in ABSURD])
def test_absurd_headers_are_refused_before_anything_big_is_allocated(fields, fragment):
    data = wav(**{"frames": 400_000, **fields})  # about a megabyte of samples behind the header
    tracemalloc.start()
    try:
        with pytest.raises(BadInput, match=fragment):
            audio.read_wav(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"{peak} bytes allocated to refuse a header"


def test_damaged_chunk_lists_are_refused():
    with pytest.raises(BadInput, match="runs past the end"):
        audio.read_wav(wav(before=b"LIST" + struct.pack("<I", 10 ** 9)))
    with pytest.raises(BadInput, match="more than 64 chunks"):
        audio.read_wav(wav(before=b"junk\x00\x00\x00\x00" * 100))
    with pytest.raises(BadInput, match="format chunk is damaged"):
        audio.read_wav(b"RIFF\x00\x00\x00\x00WAVEfmt \x04\x00\x00\x00abcd")


def test_a_streamed_wav_of_unknown_length_is_read_to_its_end():
    data = wav_bytes(tone(), 8000)
    for size in (0xFFFFFFFF, 0x7FFFFFFF):
        streamed = data[:40] + struct.pack("<I", size) + data[44:]
        x, rate = audio.decode_wav(streamed)
        assert rate == 8000 and np.array_equal(x, audio.decode_wav(data)[0])


def test_reading_a_header_copies_no_samples():
    data = wav(frames=2_000_000, rate=96000)  # 4 MB of 16-bit samples, 21 s
    tracemalloc.start()
    try:
        pcm = audio.read_wav(data)
        estimate = audio.decode_bytes(pcm, PARAMS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert pcm.frames == 2_000_000 and estimate > 0
    assert peak < 64 * 1024


# --- the decode: the same features, in chunks, and only what the clip needs ------------------------

@pytest.mark.parametrize("sampwidth,channels", [(1, 1), (2, 1), (3, 2), (4, 8)])
def test_chunked_decoding_gives_exactly_what_whole_array_decoding_gave(sampwidth, channels):
    """Converting 32768 frames at a time is the same arithmetic, frame by frame, as the old
    one-array conversion: the features the model was trained on do not move."""
    x = np.sin(np.arange(100_000) / 9.0).astype(np.float32) * 0.5
    data = wav_bytes(x, 16000, sampwidth, channels)
    pcm = audio.read_wav(data)
    raw = bytes(pcm.raw)
    width = sampwidth
    if width == 1:
        whole = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        whole = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        whole = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8).astype(np.float32) / 8388608.0
    else:
        whole = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    whole = whole.reshape(-1, channels).mean(axis=1)
    assert np.array_equal(audio.decode(pcm), whole)


def test_a_tablets_short_recording_is_featurised_exactly_as_before():
    """Up to the clip plus the margins (2 s here) nothing is cut: the same features as decoding the
    whole recording and calling `features`, which training uses."""
    x, rate = audio.decode_wav(spoken("4"))
    answer = audio.resample(x, rate, 48000)
    at_48k = np.zeros(72_000, np.float32)  # 1.5 s, as the student app records
    at_48k[12_000:12_000 + len(answer)] = answer[:60_000]
    data = wav_bytes(at_48k, 48000)
    pcm = audio.read_wav(data)
    assert audio.loudest_span(pcm, PARAMS) == (0, pcm.frames)
    assert np.array_equal(audio.clip_features(pcm, PARAMS), audio.features(*audio.decode_wav(data), PARAMS))


@pytest.fixture(scope="module")
def default_limits(in_process, module_models):
    return in_process(module_models)


@pytest.mark.parametrize("rate", [8000, 48000])
def test_a_long_recording_is_decoded_only_around_its_answer(default_limits, rate):
    """Twenty seconds of a quiet room with the answer at 13 s: only 2 s are decoded, they hold the
    answer, and the hub hears it."""
    x, source = audio.decode_wav(spoken("7"))
    answer = audio.resample(x, source, rate)
    room = np.random.default_rng(0).normal(0, 0.002, 20 * rate).astype(np.float32)
    at = 13 * rate
    room[at:at + len(answer)] += answer
    data = wav_bytes(room, rate)
    pcm = audio.read_wav(data)
    start, stop = audio.loudest_span(pcm, PARAMS)
    assert stop - start == 2 * rate
    assert start <= at and at + len(answer) <= stop
    reply = default_limits.http.post("/api/models/spoken-digits/classify", data=data,
                                     headers={"Content-Type": "audio/wav"})
    assert reply.status_code == 200, reply.text
    assert reply.get_json()["predictions"][0]["label"] == "7"


PEAK_SCRIPT = r"""
import sys, json
sys.path.insert(0, sys.argv[1])
from hub.adapters import audio
data = open(sys.argv[2], "rb").read()
params = audio.FeatureParams()
pcm = audio.read_wav(data)
estimate = audio.decode_bytes(pcm, params)
hwm = lambda: int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) * 1024
open("/proc/self/clear_refs", "w").write("5")  # reset the high-water mark to what is resident now
before = hwm()
audio.clip_features(pcm, params)
print(json.dumps({"estimate": estimate, "used": hwm() - before}))
"""


def _prime_below(n: int) -> int:
    while audio._largest_prime_factor(n) != n:
        n -= 1
    return n


RECORDINGS = [  # (rate, frames, bits, channels): what a tablet sends, and what no tablet does
    (48000, 72000, 16, 1),
    (48000, _prime_below(96000), 16, 1),  # a prime length: the FFT takes six times the memory
    (44100, 44100 * 3, 24, 8),
    (192000, _prime_below(5_760_000), 8, 1),  # 5.5 MB: 957 MB decoded before the fix
    (1000, _prime_below(2000), 16, 1),  # upsampled to the model's 8 kHz
]


@pytest.mark.parametrize("rate,frames,bits,channels", RECORDINGS)
def test_the_reserved_bytes_cover_what_decoding_really_takes(tmp_path, rate, frames, bits, channels):
    """Measured in a fresh process (its resident high-water mark), so the budget is honest, and
    small: a 192 kHz half-minute takes tens of MB, not the hundreds the whole-recording FFT took."""
    path = tmp_path / "recording.wav"
    path.write_bytes(wav(frames, rate, bits, channels))
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(ROOT), str(path)],
                         capture_output=True, text=True, check=True)
    figures = json.loads(out.stdout)
    assert 0 < figures["used"] <= figures["estimate"], figures
    assert figures["estimate"] < 32 * 1024 * 1024, figures


# --- the hub: reserved in the budget, 413 over max_decode_bytes -----------------------------------

@pytest.fixture(scope="module")
def small_budget(in_process, module_models):
    return in_process(module_models, limits={"max_decode_bytes": 2 * 1024 * 1024,
                                             "decode_budget_bytes": 2 * 1024 * 1024})


def test_a_recording_needing_more_than_max_decode_bytes_is_413(small_budget):
    data = wav(96_000, 48000)  # 2 s at 48 kHz: about 8 MB to resample, over the 2 MB allowed
    expected = audio.decode_bytes(audio.read_wav(data), PARAMS)
    assert expected > 2 * 1024 * 1024
    reply = small_budget.http.post("/api/models/spoken-digits/classify", data=data,
                                   headers={"Content-Type": "audio/wav"})
    assert reply.status_code == 413, reply.text
    body = reply.get_json()
    assert body["code"] == "payload_too_large" and "max_decode_bytes" in body["error"]
    assert body["decode_bytes"] == expected and body["max_decode_bytes"] == 2 * 1024 * 1024
    assert small_budget.hub.decodes.held == 0


def test_a_spoken_digit_still_classifies_within_a_small_budget(small_budget):
    data = spoken("7")
    assert audio.decode_bytes(audio.read_wav(data), PARAMS) < 2 * 1024 * 1024
    reply = small_budget.http.post("/api/models/spoken-digits/classify", data=data,
                                   headers={"Content-Type": "audio/wav"})
    assert reply.status_code == 200, reply.text
    assert reply.get_json()["predictions"][0]["label"] == "7"
    assert small_budget.hub.decodes.held == 0


def test_raw_pcm_goes_through_the_same_budget(small_budget):
    pcm = (np.random.default_rng(2).normal(0, 0.3, 96_000) * 32767).astype("<i2").tobytes()
    reply = small_budget.http.post("/api/models/spoken-digits/classify", data=pcm,
                                   headers={"Content-Type": "audio/L16;rate=48000"})
    assert reply.status_code == 413 and reply.get_json()["code"] == "payload_too_large"


# --- the real server under the unit's memory cap ---------------------------------------------------

@pytest.fixture
def capped_hub(capped_hubs, bundled_models):
    return capped_hubs(bundled_models)


def test_audio_bombs_four_at_a_time_never_kill_the_worker(capped_hub):
    """A 5.5 MB WAV (half a minute at 192 kHz, a prime number of samples) made the old decoder
    peak at 957 MB: four at once went far past the 700 MB cap. Now each takes tens of MB."""
    hub, cap = capped_hub
    worker = hub.worker_pid
    bomb = wav(_prime_below(5_760_000), 192000, 8, 1)

    def send(_):
        return hub.post("/api/models/spoken-digits/classify", data=bomb, headers={"Content-Type": "audio/wav"},
                        timeout=60)

    for _ in range(3):
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(send, range(4)))
        for answer in answers:
            assert answer.status_code in (200, 503), answer.text  # answered, or told to wait: never killed
    assert sum(a.status_code == 200 for a in answers) >= 1
    assert hub.proc.poll() is None and hub.worker_pid == worker, hub.log()
    assert cap.oom_kills == 0
    assert cap.peak_bytes < unit_memory_max()
    heard = hub.post("/api/models/spoken-digits/classify", data=spoken("7"), headers={"Content-Type": "audio/wav"})
    assert heard.status_code == 200 and heard.json()["predictions"][0]["label"] == "7"
    assert "Traceback" not in hub.log()
