"""A whole answer said in one go ("four two") split into digits by the hub (issue 16, item 5):
`split` on REST classify and Socket.IO `classify`, with the bundled spoken-digits model and real
recordings of the Free Spoken Digit Dataset, joined with pauses the way a pupil says them.

Every expected label is what the hub itself says for that recording sent alone (at the same rate),
never a digit written here; the mixes are resampled with scipy, not with the hub's own resampler.
"""
from __future__ import annotations

import random
import time
import wave
from math import gcd
from pathlib import Path

import numpy as np
import pytest
import socketio

from hub.adapters import audio
from tests.conftest import BUNDLED, SHARED, copy_model
from tests.drawing import png, render
from tests.test_audio_features import wav_bytes

FSDD = SHARED / "data" / "fsdd" / "recordings"
MODEL = "spoken-digits"
RATES = (8000, 16000, 48000)
CORE_DB = 20.0  # a word's loud part: its 10 ms frames within this of its loudest


def need_fsdd() -> list[Path]:
    files = sorted(FSDD.glob("*.wav")) if FSDD.is_dir() else []
    if not files:
        pytest.skip(f"the Free Spoken Digit Dataset is not in {FSDD} (../shared is absent)")
    return files


def recording(path: Path) -> np.ndarray:
    """An FSDD recording (16-bit mono at 8 kHz) as floats, read with the standard library."""
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


def at_rate(x: np.ndarray, rate: int) -> np.ndarray:
    from scipy.signal import resample_poly

    if rate == 8000:
        return x
    g = gcd(rate, 8000)
    return resample_poly(x, rate // g, 8000 // g).astype(np.float32)


def frame_db(x: np.ndarray) -> np.ndarray:
    """The power of each 10 ms of a recording at 8 kHz, in dBFS."""
    n = len(x) // 80
    return 10 * np.log10((x[:n * 80].reshape(n, 80).astype(np.float64) ** 2).mean(axis=1) + 1e-12)


def peak_db(x: np.ndarray) -> float:
    return float(frame_db(x).max())


def hiss(n: int, level_db: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 10 ** (level_db / 20), n).astype(np.float32)


class Mix:
    """Recordings joined by pauses (at 8 kHz, then resampled), and where each word was put."""

    def __init__(self, paths: list[Path], gaps_s: list[float], rate: int = 8000, hiss_under_db: float | None = None,
                 lead_s: float = 0.0, tail_s: float = 0.0, seed: int = 0) -> None:
        self.paths, self.rate = paths, rate
        words = [recording(p) for p in paths]
        parts, self.spans, self.cores = [np.zeros(int(lead_s * 8000), np.float32)], [], []
        at = len(parts[0])
        for i, word in enumerate(words):
            if i:
                parts.append(np.zeros(int(gaps_s[i - 1] * 8000), np.float32))
                at += len(parts[-1])
            parts.append(word)
            self.spans.append((at * 1000 // 8000, (at + len(word)) * 1000 // 8000))
            loud = np.flatnonzero(frame_db(word) >= peak_db(word) - CORE_DB)  # the word's loud part, in 10 ms
            self.cores.append(((at + 80 * loud[0]) // 8, (at + 80 * (loud[-1] + 1)) // 8))
            at += len(word)
        x = np.concatenate(parts + [np.zeros(int(tail_s * 8000), np.float32)])
        self.hiss_db = None
        if hiss_under_db is not None:  # a quiet hiss under everything: this far under the quietest word
            self.hiss_db = min(peak_db(w) for w in words) - hiss_under_db
            x = x + hiss(len(x), self.hiss_db, seed)
        self.samples = at_rate(x, rate)

    def alone(self, i: int) -> np.ndarray:
        """Word i on its own, at the mix's rate (with the same hiss when the mix has one)."""
        x = recording(self.paths[i])
        if self.hiss_db is not None:
            x = x + hiss(len(x), self.hiss_db, 1000 + i)
        return at_rate(x, self.rate)

    def wav(self) -> bytes:
        return wav_bytes(self.samples, self.rate)


def pick(files: list[Path], rng: random.Random, n: int) -> list[Path]:
    """n recordings of different digits and different speakers."""
    chosen: list[Path] = []
    while len(chosen) < n:
        path = rng.choice(files)
        digit, speaker = path.name.split("_")[:2]
        if all(digit != c.name.split("_")[0] and speaker != c.name.split("_")[1] for c in chosen):
            chosen.append(path)
    return chosen


def random_mix(files: list[Path], seed: int, n: int, rate: int = 8000, pauses_s=(0.15, 0.4), **kw) -> Mix:
    rng = random.Random(seed)
    paths = pick(files, rng, n)
    return Mix(paths, [rng.uniform(*pauses_s) for _ in range(n - 1)], rate, seed=seed, **kw)


# --- the hub, in process (logic) and as a real server (the REST and Socket.IO paths) -----------------

@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    for name in (MODEL, "digits"):
        copy_model(BUNDLED / name, root)
    return root


@pytest.fixture(scope="module")
def app(models, in_process):
    return in_process(models)


@pytest.fixture(scope="module")
def server(models, module_hubs):
    return module_hubs(models)


def split(app, body: bytes, query: str = "split=1", content_type: str = "audio/wav", model: str = MODEL):
    return app.http.post(f"/api/models/{model}/classify?{query}", data=body, headers={"Content-Type": content_type})


def segments(app, x: np.ndarray, rate: int, query: str = "split=1") -> list[dict]:
    reply = split(app, wav_bytes(x, rate), query)
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    assert set(body) == {"model", "segments"} and body["model"] == MODEL
    return body["segments"]


def label_alone(app, x: np.ndarray, rate: int) -> str:
    reply = app.http.post(f"/api/models/{MODEL}/classify", data=wav_bytes(x, rate),
                          headers={"Content-Type": "audio/wav"})
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()["predictions"][0]["label"]


def check_found(app, mix: Mix, found: list[dict]) -> None:
    """As many segments as words, in order, each around its own word, labelled as that word alone."""
    assert len(found) == len(mix.paths), (mix.paths, found)
    for i, segment in enumerate(found):
        assert segment["start_ms"] < segment["end_ms"]
        if i:
            assert segment["start_ms"] >= found[i - 1]["end_ms"]  # in order, never overlapping
        # its own word's middle is inside it, and no other word's middle is
        middles = [(a + b) / 2 for a, b in mix.spans]
        assert [j for j, m in enumerate(middles) if segment["start_ms"] <= m <= segment["end_ms"]] == [i], \
            (mix.spans, found)
        core_start, core_end = mix.cores[i]  # the word's loud part is inside it (to 10 ms)
        assert segment["start_ms"] <= core_start + 10 and segment["end_ms"] >= core_end - 10, (mix.cores, found)
        assert segment["predictions"][0]["label"] == label_alone(app, mix.alone(i), mix.rate), (mix.paths[i], i)


# --- what is found --------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("n", [2, 3])
def test_two_and_three_digits_are_found_in_order_at_every_rate(app, rate, n):
    files = need_fsdd()
    for seed in range(3):
        mix = random_mix(files, seed * 10 + n, n, rate)
        check_found(app, mix, segments(app, mix.samples, rate))


@pytest.mark.parametrize("rate", [8000, 16000])
def test_a_quiet_hiss_under_the_words_still_splits(app, rate):
    files = need_fsdd()
    for seed in range(3):
        mix = random_mix(files, 100 + seed, 3, rate, hiss_under_db=25.0, lead_s=0.3)
        check_found(app, mix, segments(app, mix.samples, rate))


@pytest.mark.parametrize("hiss_under_db", [None, 25.0])
def test_words_said_with_hardly_a_pause_are_still_found(app, hiss_under_db):
    """A pupil saying "fourtwo" leaves less than the 0.1 s pause the words need: the dip between
    them is still deep. Recorded as the pupil's app does: from the end of its 3-2-1 to 0.7 s after
    the pupil stops."""
    files = need_fsdd()
    for seed in range(3):
        mix = random_mix(files, 200 + seed, 2, 16000, pauses_s=(0.0, 0.08), hiss_under_db=hiss_under_db,
                         lead_s=0.3, tail_s=0.7)
        check_found(app, mix, segments(app, mix.samples, 16000))


def test_silence_and_a_steady_hiss_are_no_segments(app):
    assert segments(app, np.zeros(16000 * 2, np.float32), 16000) == []
    assert segments(app, hiss(8000 * 3, -50.0, 1), 8000) == []
    # without split, silence is the same clear 400 as before
    reply = app.http.post(f"/api/models/{MODEL}/classify", data=wav_bytes(np.zeros(16000, np.float32), 16000),
                          headers={"Content-Type": "audio/wav"})
    assert reply.status_code == 400 and "silent" in reply.get_json()["error"]


@pytest.mark.parametrize("rate", RATES)
def test_a_single_digit_is_one_segment(app, rate):
    files = need_fsdd()
    rng = random.Random(rate)
    for path in rng.sample(files, 6):
        mix = Mix([path], [], rate, lead_s=rng.uniform(0, 1.0))  # trimmed as FSDD is, or after a silence
        check_found(app, mix, segments(app, mix.samples, rate))


def test_four_or_more_digits_are_bounded_to_four_invokes(app):
    files = need_fsdd()
    for n in (4, 6):
        mix = random_mix(files, 300 + n, n)

        def invokes() -> int:
            return sum(v for k, v in app.hub.metrics.requests.items() if k[0] == MODEL and k[3] == "ok")

        before = invokes()
        found = segments(app, mix.samples, 8000)
        assert len(found) == 4 and invokes() - before == 4
        assert all(a["end_ms"] <= b["start_ms"] for a, b in zip(found, found[1:]))
        if n == 4:
            check_found(app, mix, found)


def test_top_k_is_honoured_and_without_split_nothing_changes(app):
    mix = random_mix(need_fsdd(), 7, 2)
    found = segments(app, mix.samples, 8000, "split=1&top_k=5")
    assert [len(s["predictions"]) for s in found] == [5, 5]
    for s in found:
        assert set(s["predictions"][0]) == {"index", "label", "name", "score"}
        scores = [p["score"] for p in s["predictions"]]
        assert scores == sorted(scores, reverse=True)
    for query in ("", "split=0", "split=false", "split="):
        reply = split(app, mix.wav(), query)
        assert reply.status_code == 200 and "segments" not in reply.get_json()
        assert len(reply.get_json()["predictions"]) == 3


# --- bad input: the same clear 4xx as today --------------------------------------------------------------

def test_bad_input_gets_its_4xx(app):
    word = wav_bytes(recording(need_fsdd()[0]), 8000)
    cases = [
        (split(app, word, "split=maybe"), 400, "bad_input", "split must be true or false"),
        (split(app, word, "split=1&top_k=0"), 400, "bad_input", "top_k"),
        (split(app, b"RIFF\x00\x00\x00\x00WAVEjunk"), 400, "bad_input", "no format or no data"),
        (split(app, b""), 400, "bad_input", "not a WAV"),
        (split(app, wav_bytes(np.zeros(8000 * 31, np.float32), 8000)), 400, "bad_input", "longer than 30 s"),
        (split(app, b"\x00\x01" * 800, content_type="audio/L16"), 400, "bad_input", "sample rate"),
        (split(app, png(render(7)), content_type="image/png"), 400, "bad_input", "not a picture"),
        (split(app, png(render(7)), content_type="image/png", model="digits"), 400, "bad_input",
         "split is for a spoken answer"),
        (split(app, word, content_type="text/plain"), 415, "unsupported_media_type", "Content-Type"),
        (split(app, word, model="nope"), 404, "model_not_found", "nope"),
    ]
    for reply, status, code, words in cases:
        body = reply.get_json()
        assert (reply.status_code, body["code"]) == (status, code), body
        assert words in body["error"], body


def test_bad_input_over_socketio_gets_an_error_reply(app):
    tablet = app.tablet()
    word = wav_bytes(recording(need_fsdd()[0]), 8000)

    def ask(data):
        return tablet.emit("classify", data, namespace="/class", callback=True)

    assert ask({"model": MODEL, "audio": word, "split": "maybe"})["code"] == "bad_input"
    assert ask({"model": MODEL, "split": True})["code"] == "bad_input"
    assert ask({"model": "digits", "image": png(render(3)), "split": True})["code"] == "bad_input"
    assert ask({"model": MODEL, "audio": b"\x00\x01" * 100, "sample_rate": "fast",
                "split": True})["code"] == "bad_input"
    assert ask({"model": "nope", "audio": word, "split": True})["code"] == "model_not_found"
    assert tablet.is_connected("/class")  # a bad request never drops the tablet
    assert len(ask({"model": MODEL, "audio": word, "split": True})["segments"]) == 1


# --- the real server: REST and Socket.IO over the network give the same segments ---------------------------

def test_rest_and_socketio_on_the_real_server(server):
    mix = random_mix(need_fsdd(), 42, 3, 16000, lead_s=0.5)
    pcm = (np.clip(mix.samples, -1, 1) * 32767).astype("<i2").tobytes()
    rest = server.post(f"/api/models/{MODEL}/classify?split=1&sample_rate=16000", data=pcm,
                       headers={"Content-Type": "audio/L16"})
    assert rest.status_code == 200, rest.text
    wav_reply = server.post(f"/api/models/{MODEL}/classify?split=true", data=mix.wav(),
                            headers={"Content-Type": "audio/wav"})
    multipart = server.post(f"/api/models/{MODEL}/classify?split=1", files={"audio": ("a.wav", mix.wav())})
    tablet = socketio.Client(reconnection=False)
    tablet.connect(server.url, namespaces=["/class"], transports=["websocket"], wait_timeout=10)
    try:
        live = tablet.call("classify", {"model": MODEL, "audio": pcm, "sample_rate": 16000, "split": True},
                           namespace="/class", timeout=15)
        refused = tablet.call("classify", {"model": MODEL, "audio": pcm, "split": True}, namespace="/class",
                              timeout=15)
    finally:
        tablet.disconnect()
    found = rest.json()["segments"]
    assert len(found) == 3
    assert live == rest.json() == wav_reply.json() == multipart.json()
    assert refused["code"] == "bad_input"  # raw PCM with no rate: "not a WAV", as without split


# --- how well: digits right out of digits said, on random pairs --------------------------------------------

def measure(app, files: list[Path], answers: int = 100, words: int = 2, seed: int = 0, rate: int = 8000,
            hiss_share: float = 0.5, pauses_s: tuple[float, float] = (0.15, 0.4)) -> dict:
    """Random answers of `words` different digits by different speakers, with pauses of `pauses_s`, a
    share of them over a quiet hiss (25 dB under the quietest word): how many answers were cut into
    the right number of segments, and how many of the digits said were heard right (a digit in an
    answer cut wrongly counts as not heard right)."""
    rng = random.Random(seed)
    said = right = counted = agree = 0
    taken = []
    for i in range(answers):
        hissed = rng.random() < hiss_share
        mix = Mix(pick(files, rng, words), [rng.uniform(*pauses_s) for _ in range(words - 1)], rate,
                  hiss_under_db=25.0 if hissed else None, seed=i)
        started = time.perf_counter()
        found = segments(app, mix.samples, rate)
        taken.append(time.perf_counter() - started)
        labels = [s["predictions"][0]["label"] for s in found]
        said += words
        if len(labels) == words:
            counted += 1
            right += sum(label == p.name.split("_")[0] for label, p in zip(labels, mix.paths))
            agree += sum(label == label_alone(app, mix.alone(j), rate) for j, label in enumerate(labels))
    return {"answers": answers, "words": words, "rate": rate, "hiss_share": hiss_share,
            "pauses_ms": [round(p * 1000) for p in pauses_s], "digits_said": said,
            "digits_right": right, "accuracy": round(right / said, 4), "answers_cut_right": counted,
            "same_as_alone": round(agree / said, 4),
            "split_ms_p50": round(float(np.median(taken)) * 1000, 1)}


def test_split_accuracy_on_100_random_pairs(app):
    result = measure(app, need_fsdd(), 100)
    print("speech split:", result)
    assert result["answers_cut_right"] >= 97
    assert result["accuracy"] >= 0.93  # the model alone is 0.987 on FSDD's test split (manifest)


# --- bounded: the scan's memory, estimated from the header, and each word's decode --------------------------

@pytest.mark.parametrize("sampwidth,channels,rate", [(2, 1, 48000), (3, 2, 96000), (4, 8, 16000)])
def test_finding_the_words_stays_within_its_estimate(sampwidth, channels, rate):
    import tracemalloc

    seconds = 20
    t = np.arange(seconds * rate) / rate
    bursts = (np.sin(2 * np.pi * 0.4 * t) > 0.3).astype(np.float32)  # a "word" every 2.5 s, ~1 s long
    x = (0.3 * np.sin(2 * np.pi * 300 * t) * bursts + hiss(len(t), -60.0, 3)).astype(np.float32)
    pcm = audio.read_wav(wav_bytes(x, rate, sampwidth, channels))
    estimate = audio.scan_bytes(pcm)
    tracemalloc.start()
    try:
        words = audio.find_words(pcm)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= estimate, (peak, estimate)
    assert estimate < len(pcm.raw)  # less than the recording as it arrived: it is never decoded whole
    assert len(words) == audio.MAX_WORDS  # eight bursts, at most four words
    for start, stop in words:  # each word is decoded on its own: no more than its own length
        assert stop - start <= (audio.MAX_WORD_S + 2 * audio.PAD_S) * rate


# --- from a browser's microphone: Chromium's fake capture device plays "four two" -----------------------------

RECORD_IN_PAGE = """async (ms) => {
  const stream = await navigator.mediaDevices.getUserMedia({audio: {channelCount: 1, echoCancellation: true}});
  const ctx = new AudioContext();
  const source = ctx.createMediaStreamSource(stream);
  const node = ctx.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  node.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
  source.connect(node); node.connect(ctx.destination);
  await new Promise((r) => setTimeout(r, ms));
  source.disconnect(); node.disconnect(); stream.getTracks().forEach((t) => t.stop());
  const n = chunks.reduce((s, c) => s + c.length, 0), pcm = new Int16Array(n);
  let i = 0;
  for (const c of chunks) for (const v of c) pcm[i++] = Math.max(-1, Math.min(1, v)) * 32767;
  const rate = ctx.sampleRate; await ctx.close();
  const r = await fetch(`/api/models/spoken-digits/classify?split=1&sample_rate=${rate}`,
                        {method: "POST", headers: {"Content-Type": "audio/L16"}, body: pcm.buffer});
  return {status: r.status, body: await r.json(), rate};
}"""


def test_a_browser_microphone_recording_is_split(server, tmp_path):
    """What a tablet sends: 16-bit PCM at the device's rate (48 kHz here), through Chromium's own
    audio capture and processing, its fake microphone playing two FSDD digits with a pause."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import ARGS, CHROMIUM
    from tests.test_browser import FAKE_MEDIA

    mix = random_mix(need_fsdd(), 77, 2, 8000, lead_s=0.3, tail_s=1.5)
    fake = tmp_path / "answer.wav"
    fake.write_bytes(mix.wav())
    with sync_playwright() as p:  # the fake microphone's file is a launch flag: a browser of its own
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=ARGS + FAKE_MEDIA + [f"--use-file-for-fake-audio-capture={fake}"])
        try:
            page = chromium.new_context(permissions=["microphone"]).new_page()
            page.goto(server.url + "/kiosk")
            heard = page.evaluate(RECORD_IN_PAGE, round(1000 * (mix.spans[-1][1] / 1000 + 0.6)))
        finally:
            chromium.close()
    assert heard["status"] == 200 and heard["rate"] >= 16000, heard
    labels = [s["predictions"][0]["label"] for s in heard["body"]["segments"]]
    alone = []
    for i in range(2):
        reply = server.post(f"/api/models/{MODEL}/classify", data=wav_bytes(mix.alone(i), 8000),
                            headers={"Content-Type": "audio/wav"})
        alone.append(reply.json()["predictions"][0]["label"])
    assert labels == alone, heard
