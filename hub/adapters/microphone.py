"""A microphone on the hub itself, for a kiosk station that listens for spoken answers.

`sounddevice` (PortAudio) is imported only when a microphone is wanted, and every way it can be
missing (the Python package, Debian's libportaudio2, an input device) becomes a status the
dashboard shows, never a crash. A WAV file can stand in for the microphone (`[microphone]
source = "/path/answer.wav"`): the same path from recording to answer, testable anywhere.
Recordings stay in memory.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailable, BadInput
from .audio import decode_wav

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MicrophoneStatus:
    available: bool
    source: str  # "off", "device", or "file"
    detail: str  # the device's name, or why there is none and what to do

    def to_json(self) -> dict:
        return {"available": self.available, "source": self.source, "detail": self.detail}


class Microphone:
    def __init__(self, source: str):
        self.source = source
        self._lock = threading.Lock()  # one recording at a time: there is one microphone
        self.status = self._probe()
        log.info("microphone: %s", self.status.detail)

    def _probe(self) -> MicrophoneStatus:
        if self.source == "off":
            return MicrophoneStatus(False, "off", "turned off ([microphone] source = \"off\")")
        if self.source != "auto":
            path = Path(self.source)
            if not path.is_file():
                return MicrophoneStatus(False, "file", f"{path} does not exist")
            return MicrophoneStatus(True, "file", f"recordings are read from {path}")
        try:
            import sounddevice
        except ImportError:
            return MicrophoneStatus(False, "device", "the sounddevice package is not installed (pip install sounddevice)")
        except OSError:
            return MicrophoneStatus(False, "device", "PortAudio is missing: sudo apt install libportaudio2")
        try:
            device = sounddevice.query_devices(kind="input")
        except Exception:  # noqa: BLE001 - PortAudio reports "no device" in several ways
            return MicrophoneStatus(False, "device", "no microphone found: plug in a USB microphone and restart")
        return MicrophoneStatus(True, "device", f"{device['name']} ({int(device['default_samplerate'])} Hz)")

    def record(self, seconds: float) -> tuple[np.ndarray, int]:
        """Mono float32 samples and their rate."""
        if not 0.2 <= seconds <= 10:
            raise BadInput("seconds must be from 0.2 to 10")
        if not self.status.available:
            raise BackendUnavailable(f"no microphone on the hub: {self.status.detail}")
        with self._lock:
            if self.status.source == "file":
                return decode_wav(Path(self.source).read_bytes())
            import sounddevice

            rate = int(sounddevice.query_devices(kind="input")["default_samplerate"])
            samples = sounddevice.rec(int(seconds * rate), samplerate=rate, channels=1, dtype="float32")
            sounddevice.wait()
            return samples[:, 0].copy(), rate
