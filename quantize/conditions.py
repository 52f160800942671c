"""Classroom conditions: what a real room does to pictures and recordings before the model sees them.

Images are degraded in the model's own input range (poor light, low contrast, blur, sensor
noise); audio gets room noise mixed in at a given signal-to-noise ratio before the features
are computed, as a microphone in a class would hear it.
"""
from __future__ import annotations

import cv2
import numpy as np


def _to_unit(x: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    lo, hi = value_range
    return (x - lo) / (hi - lo)


def _from_unit(u: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    lo, hi = value_range
    return (lo + np.clip(u, 0.0, 1.0) * (hi - lo)).astype(np.float32)


def _blur(u: np.ndarray, sigma: float) -> np.ndarray:
    out = np.empty_like(u)
    for i, img in enumerate(u):
        blurred = cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        out[i] = blurred.reshape(img.shape)
    return out


def image_conditions(x: np.ndarray, value_range: tuple[float, float], seed: int) -> dict[str, np.ndarray]:
    """x: (n, H, W, C) float in value_range; every condition keeps that shape and range."""
    u = _to_unit(x.astype(np.float32), value_range)
    rng = np.random.default_rng(seed)
    blur_sigma = max(0.6, x.shape[1] / 24)
    return {
        "poor light": _from_unit(u * 0.45, value_range),
        "low contrast": _from_unit(0.5 + (u - 0.5) * 0.3, value_range),
        "blur": _from_unit(_blur(u, blur_sigma), value_range),
        "sensor noise": _from_unit(u + rng.normal(0, 0.12, u.shape).astype(np.float32), value_range),
    }


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f noise: the rumble-and-hiss shape of a room (ventilation, traffic, chatter far off)."""
    spectrum = np.fft.rfft(rng.normal(size=n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(f), n)
    return (noise / (np.std(noise) + 1e-12)).astype(np.float32)


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """signal + noise scaled so that signal power over noise power is snr_db (over the speech)."""
    p_signal = float(np.mean(signal.astype(np.float64) ** 2)) + 1e-12
    p_noise = float(np.mean(noise.astype(np.float64) ** 2)) + 1e-12
    scale = np.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10)))
    return (signal + noise[: len(signal)] * scale).astype(np.float32)


AUDIO_SNRS_DB = (20, 10, 5)
