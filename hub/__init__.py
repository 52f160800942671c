"""Classroom Hub: an offline AI hub for schools (Flask app factory)."""
from __future__ import annotations

__version__ = "0.1.0"


def create_app(config=None, start: bool = True):
    """Build the Flask app around one Hub; `start` loads models/ before returning (ready)."""
    from .app import build_app

    return build_app(config, start=start)
