"""From a spoken answer to the model's input: WAV decoding, resampling, clip fitting, log-mel.

This one numpy-only implementation is what `classroom-quantize` trains on and what the hub
computes on the Pi, so the model hears at serve time exactly what it heard in training.
Everything happens in memory; nothing here ever writes audio anywhere.

Memory is bounded before anything is decoded: `read_wav`/`read_pcm16` check the header and keep
a view of the samples (no copy); `decode_bytes` says from that alone what the decode will hold at
its peak, for the hub's decode budget; `decode` converts in chunks straight to one mono float32
array (never a full-size copy per channel or per step); and `clip_features` decodes and resamples
only the part of a long recording around its loudest moment that the model's clip needs.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from ..errors import BadInput

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
_ENCODINGS = {(_PCM, 8), (_PCM, 16), (_PCM, 24), (_PCM, 32), (_FLOAT, 32)}
MAX_SECONDS = 30.0  # a spoken answer is a few seconds; refuse anything far longer
MAX_CHANNELS = 8  # 7.1 at most; a header declaring more is damaged or hostile
MIN_RATE, MAX_RATE = 1000, 192000
MAX_CHUNKS = 64  # chunks before the data: a real WAV has a handful (fmt, fact, LIST, ...)
STREAMED_SIZES = {0x7FFFFFFF, 0xFFFFFFFF}  # what writers to a pipe put as "length unknown": to the end
CHUNK_FRAMES = 32768  # conversion works on this many frames at a time
SPAN_MARGIN_S = 0.5  # a long recording is decoded only around its loudest clip, this much either side


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


@dataclass(frozen=True)
class Pcm:
    """A recording as it arrived, its header checked, nothing decoded: `raw` is a view of the
    bytes holding whole frames only (interleaved channels, little-endian)."""

    raw: memoryview
    rate: int
    channels: int = 1
    bits: int = 16
    tag: int = _PCM

    @property
    def align(self) -> int:
        return self.channels * self.bits // 8

    @property
    def frames(self) -> int:
        return len(self.raw) // self.align


def read_wav(data: bytes) -> Pcm:
    """The samples of a RIFF WAV (PCM 8/16/24/32-bit or 32-bit float), checked from the header
    alone: a header declaring what no recording has is refused before anything is allocated."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise BadInput("not a WAV file (no RIFF/WAVE header); send a WAV, or raw 16-bit PCM with its rate")
    view = memoryview(data)
    pos, fmt, samples = 12, None, None
    for count in range(MAX_CHUNKS + 1):
        if pos + 8 > len(data):
            break
        if count == MAX_CHUNKS:
            raise BadInput(f"the WAV is damaged: more than {MAX_CHUNKS} chunks before its sound")
        chunk, size = bytes(view[pos:pos + 4]), struct.unpack_from("<I", data, pos + 4)[0]
        left = len(data) - pos - 8
        if chunk == b"data":
            if size in STREAMED_SIZES:
                size = left
            elif size > left:
                raise BadInput(f"the WAV is truncated: its header says {size} bytes of sound but only {left} "
                               "arrived; send the whole file")
            samples = view[pos + 8:pos + 8 + size]
            break
        if size > left:
            raise BadInput("the WAV is damaged: a chunk runs past the end of the file")
        if chunk == b"fmt ":
            if size < 16:
                raise BadInput("the WAV's format chunk is damaged")
            fmt = struct.unpack_from("<HHIIHH", data, pos + 8)
            if fmt[0] == _EXTENSIBLE and size >= 26:  # the real tag opens the sub-format GUID
                fmt = (struct.unpack_from("<H", data, pos + 8 + 24)[0],) + fmt[1:]
        pos += 8 + size + (size & 1)
    if fmt is None or samples is None:
        raise BadInput("the WAV has no format or no data chunk; it may be truncated")
    tag, channels, rate, _, align, bits = fmt
    if not 1 <= channels <= MAX_CHANNELS or not MIN_RATE <= rate <= MAX_RATE:
        raise BadInput(f"the WAV's format is damaged or unusual ({channels} channels, {rate} Hz): send mono "
                       f"(at most {MAX_CHANNELS} channels) at {MIN_RATE} to {MAX_RATE} Hz")
    if (tag, bits) not in _ENCODINGS:
        raise BadInput(f"unsupported WAV encoding (format {tag}, {bits}-bit); use 16-bit PCM")
    if align != channels * bits // 8:
        raise BadInput(f"the WAV's format is damaged: block align {align} does not fit {channels} "
                       f"channel(s) of {bits}-bit samples")
    pcm = Pcm(samples[:len(samples) - len(samples) % align], int(rate), channels, bits, tag)
    _check_length(pcm)
    return pcm


def read_pcm16(data: bytes, rate: int) -> Pcm:
    """Raw little-endian 16-bit mono PCM, as a browser's AudioWorklet can send it."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise BadInput(f"sample_rate must be from {MIN_RATE} to {MAX_RATE} Hz")
    pcm = Pcm(memoryview(data)[:len(data) // 2 * 2], rate)
    _check_length(pcm)
    return pcm


def read_sound(data: bytes, rate: int | None = None) -> Pcm:
    """A WAV (`rate` None) or raw 16-bit PCM at `rate`, checked, not decoded."""
    return read_wav(data) if rate is None else read_pcm16(data, rate)


def _check_length(pcm: Pcm) -> None:
    if pcm.frames == 0:
        raise BadInput("the recording is empty")
    if pcm.frames > MAX_SECONDS * pcm.rate:
        raise BadInput(f"the recording is longer than {MAX_SECONDS:.0f} s; send a short answer")


def _mono(pcm: Pcm, start: int, stop: int) -> np.ndarray:
    """Frames [start, stop) as mono float32 in [-1, 1]: one chunk's working copies only."""
    raw = pcm.raw[start * pcm.align:stop * pcm.align]
    if pcm.tag == _FLOAT:
        x = np.frombuffer(raw, "<f4").astype(np.float32)
    elif pcm.bits == 16:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif pcm.bits == 8:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif pcm.bits == 24:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        x = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8).astype(np.float32) / 8388608.0
    else:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    if pcm.channels > 1:
        x = x.reshape(-1, pcm.channels).mean(axis=1)
    if pcm.tag == _FLOAT:
        np.nan_to_num(x, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return x


def decode(pcm: Pcm, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Frames [start, stop) (all by default) as one mono float32 array, converted in chunks."""
    stop = pcm.frames if stop is None else stop
    out = np.empty(stop - start, np.float32)
    for lo in range(start, stop, CHUNK_FRAMES):
        hi = min(lo + CHUNK_FRAMES, stop)
        out[lo - start:hi - start] = _mono(pcm, lo, hi)
    return out


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the rate, from a RIFF WAV (PCM 8/16/24/32-bit or float)."""
    pcm = read_wav(data)
    return decode(pcm), pcm.rate


def decode_pcm16(data: bytes, rate: int) -> tuple[np.ndarray, int]:
    """Raw little-endian 16-bit mono PCM, as a browser's AudioWorklet can send it."""
    return decode(read_pcm16(data, rate)), rate


def span_frames(pcm: Pcm, params: "FeatureParams") -> int:
    """How many frames are decoded: all of a short recording; of a long one, the model's clip
    and SPAN_MARGIN_S either side (silence trimming and the loudest window then work on that)."""
    return min(pcm.frames, math.ceil((params.clip_seconds + 2 * SPAN_MARGIN_S) * pcm.rate))


def loudest_span(pcm: Pcm, params: "FeatureParams") -> tuple[int, int]:
    """The frames to decode: the whole recording when short; else `span_frames` centred on the
    loudest clip-long stretch, found from block energies computed chunk by chunk."""
    want = span_frames(pcm, params)
    if want >= pcm.frames:
        return 0, pcm.frames
    block = max(1, round(params.hop * pcm.rate / params.sample_rate))
    step = block * max(1, CHUNK_FRAMES // block)
    energies = []
    for lo in range(0, pcm.frames - block + 1, step):
        x = _mono(pcm, lo, min(lo + step, pcm.frames))
        n = len(x) // block
        energies.append(np.square(x[:n * block].reshape(n, block), dtype=np.float64).sum(axis=1))
    energy = np.concatenate(energies)
    clip_blocks = max(1, min(len(energy), round(params.clip_seconds * pcm.rate / block)))
    power = np.concatenate([[0.0], np.cumsum(energy)])
    loudest = int(np.argmax(power[clip_blocks:] - power[:-clip_blocks]))
    centre = (loudest * block) + clip_blocks * block // 2
    start = min(max(0, centre - want // 2), pcm.frames - want)
    return start, start + want


def clip_features(pcm: Pcm, params: "FeatureParams") -> np.ndarray:
    """The model's features for a checked recording, decoding only what its clip needs."""
    start, stop = loudest_span(pcm, params)
    return features(decode(pcm, start, stop), pcm.rate, params)


# Peak bytes per sample of each step, measured on x86-64 with numpy 2.4 (tests/test_audio_limits.py
# checks the estimate stays above the real peak). pocketfft takes ~25 B a point for a length with
# only small prime factors and ~155 B (Bluestein's algorithm) for one with a large prime factor.
_CONVERT_BYTES = {8: 13, 16: 14, 24: 32, 32: 16}  # one chunk: raw view -> int -> float32 -> scaled
_FFT_SMOOTH, _FFT_ROUGH = 40, 176
_FIT_BYTES = 56  # fit_clip at the model's rate: float64 power, cumulative sum, window sums


def _largest_prime_factor(n: int) -> int:
    largest, p = 1, 2
    while p * p <= n:
        while n % p == 0:
            largest, n = p, n // p
        p += 1 if p == 2 else 2
    return max(largest, n) if n > 1 else largest


def _fft_bytes(n: int) -> int:
    return n * (_FFT_SMOOTH if _largest_prime_factor(n) <= 256 else _FFT_ROUGH)


def decode_bytes(pcm: Pcm, params: "FeatureParams") -> int:
    """Peak memory `clip_features` takes for this recording, from its header alone: the mono span,
    one chunk's conversion copies (times the channels), resampling's FFTs, the clip, the log-mel."""
    n = span_frames(pcm, params)
    chunk = min(CHUNK_FRAMES, pcm.frames)
    total = 4 * n + chunk * pcm.channels * _CONVERT_BYTES[pcm.bits] + chunk * 12
    n_out = n
    if pcm.rate != params.sample_rate:
        n_out = max(1, int(round(n * params.sample_rate / pcm.rate)))
        total += _fft_bytes(n) + _fft_bytes(n_out) + 8 * max(n, n_out) + 8 * n_out
    total += _FIT_BYTES * n_out + 4 * params.clip_samples
    bins = params.n_fft // 2 + 1
    total += params.frames * params.n_fft * 24 + params.frames * bins * 16 + params.n_mels * bins * 4
    return total


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling in the frequency domain (clips are short, so one FFT is cheap)."""
    if rate == target:
        return x.astype(np.float32, copy=False)
    n_out = max(1, int(round(len(x) * target / rate)))
    spectrum = np.fft.rfft(x)
    keep = n_out // 2 + 1
    if keep <= len(spectrum):
        spectrum = spectrum[:keep]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(keep - len(spectrum), spectrum.dtype)])
    out = np.fft.irfft(spectrum, n_out)
    del spectrum  # a long recording's spectrum is as big as the recording: free it before scaling
    out *= n_out / len(x)
    return out.astype(np.float32, copy=False)


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


# --- a whole answer said in one go ("four two"): where each word is ----------------------------
# Words are found by frame energy against the recording's own noise floor (a tablet's hiss, a
# classroom's hum), so no level is hard-coded. Two thresholds (hysteresis): a word is a stretch
# over the low one that somewhere reaches the high one, so a word's quiet start and end stay in
# it and a breath does not become a word. The durations are for children's answers of a few
# digits: a pause between words is longer than the silent stop inside one (the "k" of "six",
# the "t" of "eight", ~50-90 ms), and a digit is 0.1 to ~1 s long.
WORD_FRAME_S = 0.010  # the energy is measured per 10 ms
FLOOR_PERCENTILE = 10  # the noise floor: the quietest tenth of the recording (pauses, the start and end)
MIN_CONTRAST_DB = 6.0  # loudest frame this close to the floor: a steady hiss or hum, nothing said
LOW_DB, HIGH_DB = 6.0, 12.0  # over the floor: a word lasts while over LOW, and reaches HIGH somewhere
LOW_UNDER_PEAK_DB, HIGH_UNDER_PEAK_DB = 45.0, 35.0  # ...and never lower than this under the loudest frame
HEARD_DBFS = -60.0  # a loudest frame quieter than this: nothing was said
MIN_GAP_S = 0.10  # a quieter stretch shorter than this is inside a word, not between two
MIN_WORD_S = 0.08  # a piece shorter than this is part of its neighbour (or a click, when alone)
JOIN_GAP_S = 0.25  # ...joined to the nearer neighbour when that is this close
MAX_WORD_S = 1.2  # a piece longer than this is two words run together: cut at its quietest moment
# Two words said with hardly a pause ("fourtwo") still dip deep between them: a piece is cut where it
# falls DIP_DB under the quieter side's loudest, or down to the noise floor (over a hiss), with at
# least DIP_SIDE_S on each side, each side a word (loud for SUSTAIN_S). A stop inside a word ("six",
# "eight") is a short burst after its dip. Measured on FSDD (1000 digits alone, 200 pairs said with
# 0-0.1 s pauses; clean / over a hiss 25 dB down): 1 / 5 digits cut in two, and 185 / 189 pairs found,
# against 98 / 158 without this.
DIP_DB = 30.0
DIP_OVER_FLOOR_DB = 3.0  # "down to the floor": within this of it (a hiss's 10 ms frames vary by a dB or two)
DIP_SIDE_S = 0.15
SUSTAIN_S = 0.05  # a side's loudness: its loudest stretch this long (a vowel), not one burst
PAD_S = 0.08  # each word keeps this much around it (its soft start and end), never past half a pause
MAX_WORDS = 4  # the work of one request is bounded: at most this many words, so as many invokes


def frame_energy_db(pcm: Pcm, block: int) -> np.ndarray:
    """The power of each `block` frames in dBFS, decoded chunk by chunk (never all at once). Their
    variance, not their mean square: a cheap microphone's DC offset is not a sound."""
    step = block * max(1, CHUNK_FRAMES // block)
    energies = []
    for lo in range(0, pcm.frames - block + 1, step):
        x = _mono(pcm, lo, min(lo + step, pcm.frames))
        n = len(x) // block
        energies.append(x[:n * block].reshape(n, block).var(axis=1, dtype=np.float64))
    if not energies:
        return np.zeros(0)
    return 10.0 * np.log10(np.concatenate(energies) + 1e-12)


def scan_bytes(pcm: Pcm) -> int:
    """Peak memory of `find_words`, from the header: one chunk's conversion copies and its variance's
    float64 working copies, then the energies and their masks (a few copies of 8 B a frame)."""
    chunk = min(CHUNK_FRAMES, pcm.frames)
    frames = pcm.frames // max(1, round(pcm.rate * WORD_FRAME_S)) + 1
    return chunk * pcm.channels * _CONVERT_BYTES[pcm.bits] + chunk * 20 + frames * 40


def _runs(mask: np.ndarray) -> list[list[int]]:
    """[start, stop) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return [[int(a), int(b)] for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def _cut_long(piece: list[int], db: np.ndarray, longest: int, shortest: int) -> list[list[int]]:
    """A piece longer than a word, cut at its quietest frame (keeping both sides a word long)."""
    start, stop = piece
    if stop - start <= longest or stop - start < 2 * shortest + 1:
        return [piece]
    inner = db[start + shortest:stop - shortest]
    cut = start + shortest + int(np.argmin(inner))
    return _cut_long([start, cut], db, longest, shortest) + _cut_long([cut + 1, stop], db, longest, shortest)


def _sustained(db: np.ndarray) -> float:
    """How loud a stretch is for SUSTAIN_S: a vowel is, the burst of a "k" or "t" is not."""
    n = min(len(db), max(1, round(SUSTAIN_S / WORD_FRAME_S)))
    return float(np.partition(db, len(db) - n)[len(db) - n])


def _cut_dips(piece: list[int], db: np.ndarray, floor: float, high: float, side: int) -> list[list[int]]:
    """A piece cut at each deep dip between two stretches that are each a word (loud enough for
    long enough): two words with hardly a pause between them."""
    start, stop = piece
    if stop - start < 2 * side + 1:
        return [piece]
    cut = start + side + int(np.argmin(db[start + side:stop - side]))
    quieter = min(_sustained(db[start:cut]), _sustained(db[cut + 1:stop]))
    if quieter < high or db[cut] > max(quieter - DIP_DB, floor + DIP_OVER_FLOOR_DB):
        return [piece]
    return _cut_dips([start, cut], db, floor, high, side) + _cut_dips([cut + 1, stop], db, floor, high, side)


def find_words(pcm: Pcm) -> list[tuple[int, int]]:
    """Where each word of a spoken answer is, in frames [start, stop), in order, each at most
    MAX_WORD_S (and its padding) long; at most MAX_WORDS of them (pieces of one word joined first,
    then the quietest left out); [] when nothing was said."""
    block = max(1, round(pcm.rate * WORD_FRAME_S))
    db = frame_energy_db(pcm, block)
    if db.size == 0 or db.max() < HEARD_DBFS:
        return []
    peak, floor = float(db.max()), float(np.percentile(db, FLOOR_PERCENTILE))
    contrast = peak - floor
    if contrast < MIN_CONTRAST_DB:
        return []  # a steady hiss or hum, and nothing over it
    # over a floor taken from speech itself (a recording with no pause), the thresholds shrink with it
    low = max(floor + min(LOW_DB, contrast / 3), peak - LOW_UNDER_PEAK_DB)
    high = max(floor + min(HIGH_DB, 2 * contrast / 3), peak - HIGH_UNDER_PEAK_DB)

    def frames(seconds: float) -> int:
        return max(1, round(seconds / WORD_FRAME_S))

    joined: list[list[int]] = []
    for piece in _runs(db >= low):
        if joined and piece[0] - joined[-1][1] < frames(MIN_GAP_S):  # a short dip is inside a word
            joined[-1][1] = piece[1]
        else:
            joined.append(piece)
    # a piece too short or too quiet to be a word joins its nearer neighbour, or is dropped (a click, a breath)
    pieces: list[list[int]] = []
    for i, piece in enumerate(joined):
        if piece[1] - piece[0] >= frames(MIN_WORD_S) and db[piece[0]:piece[1]].max() >= high:
            pieces.append(piece)
            continue
        before = piece[0] - pieces[-1][1] if pieces else None
        after = joined[i + 1][0] - piece[1] if i + 1 < len(joined) else None
        if before is not None and before <= frames(JOIN_GAP_S) and (after is None or before <= after):
            pieces[-1][1] = piece[1]
        elif after is not None and after <= frames(JOIN_GAP_S):
            joined[i + 1][0] = piece[0]
    pieces = [cut for piece in pieces for cut in _cut_dips(piece, db, floor, high, frames(DIP_SIDE_S))]
    pieces = [cut for piece in pieces for cut in _cut_long(piece, db, frames(MAX_WORD_S), frames(MIN_WORD_S))]
    while len(pieces) > MAX_WORDS:  # bounded: two pieces of one word become one, else the quietest goes
        i = min(range(len(pieces) - 1), key=lambda j: pieces[j + 1][0] - pieces[j][1])
        (start, stop), (after, end) = pieces[i], pieces[i + 1]
        if after - stop <= frames(JOIN_GAP_S) and end - start <= frames(MAX_WORD_S):
            pieces[i:i + 2] = [[start, end]]
        else:
            del pieces[min(range(len(pieces)), key=lambda j: db[pieces[j][0]:pieces[j][1]].max())]
    words = []
    pad = frames(PAD_S)
    for i, (start, stop) in enumerate(pieces):
        lo = start - pad if i == 0 else max(start - pad, (pieces[i - 1][1] + start + 1) // 2)
        hi = stop + pad if i + 1 == len(pieces) else min(stop + pad, (stop + pieces[i + 1][0]) // 2)
        words.append((max(0, lo) * block, pcm.frames if hi >= len(db) else hi * block))
    return words


def part(pcm: Pcm, start: int, stop: int) -> Pcm:
    """Frames [start, stop) of a checked recording, as a recording of its own (a view: no copy)."""
    return Pcm(pcm.raw[start * pcm.align:stop * pcm.align], pcm.rate, pcm.channels, pcm.bits, pcm.tag)
