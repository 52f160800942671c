"""The hub's one event bus: what happened (a model fell back, a pupil answered) goes to whoever
listens (the Socket.IO layer fans it out to the dashboard, the kiosk and the tablets).

Publishers never know who listens; a listener that fails is logged and the others still hear.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)
Listener = Callable[[str, dict], None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def publish(self, kind: str, data: dict) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(kind, data)
            except Exception:  # noqa: BLE001 - a broken listener must not stop the class
                log.exception("event listener failed on %s", kind)
