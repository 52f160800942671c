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


PROBE_WAIT_S = 10.0  # a recording asked for while PortAudio is still looking waits this long for it


class Microphone:
    """`background=True` (the serving hub): looking for a device, which loads PortAudio and asks it
    (15-20 ms on a machine without sound cards, more with them), runs beside the models' loading
    instead of before the hub is ready. Until it is done `status` says so; a recording waits for it."""

    def __init__(self, source: str, background: bool = False):
        self.source = source
        self._lock = threading.Lock()  # one recording at a time: there is one microphone
        self._probed = threading.Event()
        self.status = MicrophoneStatus(False, "device", "still looking for a microphone")
        if background and source == "auto":
            threading.Thread(target=self._look, name="microphone-probe", daemon=True).start()
        else:
            self._look()

    def _look(self) -> None:
        try:
            self.status = self._probe()
        except Exception as exc:  # noqa: BLE001 - whatever PortAudio does, the hub serves on without it
            self.status = MicrophoneStatus(False, "device", f"the sound system failed: {type(exc).__name__}: {exc}")
        finally:
            self._probed.set()
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
        self._probed.wait(PROBE_WAIT_S)
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
