"""The Flask application: one Hub, its blueprints, JSON errors, bodies kept in memory."""
from __future__ import annotations

import io
import logging
from pathlib import Path

from flask import Flask, Request, jsonify

from .classroom.service import ClassroomService
from .config import Config, load_config
from .service import Hub
from .web import api, classes, metrics_view, pages, v2
from .web.errors import register_error_handlers
from .web.live import create_socketio

log = logging.getLogger(__name__)


class InMemoryRequest(Request):
    """Uploads stay in memory: Werkzeug would spool a large one to a temporary file, and raw
    pictures must never touch the disk. The body limit bounds the memory this can take."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()


def build_app(config: Config | None = None, start: bool = True) -> Flask:
    config = config or load_config()
    app = Flask(__name__, static_folder=None)  # pages.py serves the static files
    app.request_class = InMemoryRequest
    app.config["MAX_CONTENT_LENGTH"] = config.limits.max_body_bytes
    app.json.sort_keys = False
    sinks: list = []  # engine events (fallback, recovered, models changed) go to the dashboard

    def engine_event(kind: str, data: dict) -> None:
        for sink in sinks:
            sink(kind, data)

    the_hub = Hub(config, engine_event)
    the_classroom = ClassroomService(config)
    app.extensions["classroom_hub"] = the_hub
    app.extensions["classroom"] = the_classroom
    app.register_blueprint(api.bp)
    app.register_blueprint(classes.bp)
    app.register_blueprint(v2.bp)
    app.register_blueprint(metrics_view.bp)
    app.register_blueprint(pages.bp)
    register_error_handlers(app)
    socketio = create_socketio(app, the_hub, the_classroom)
    sinks.append(lambda kind, data: socketio.teacher_event("model_state", {"event": kind, **data}))
    app.extensions["classroom_socketio"] = socketio

    @app.get("/api")
    def index():
        return jsonify({"name": "classroom-hub", "version": the_hub.version,
                        "api": ["/api/models", "/api/status", "/api/classes", "/v2", "/metrics", "/socket.io"]})

    if start:
        make_data_folder(config)
        the_hub.start()
    return app


def make_data_folder(config: Config) -> None:
    """The serving hub keeps its PIN hash, certificates and probe cache here; without the folder
    it still serves (the PIN from the config, no TLS), just without what it would remember."""
    folder = Path(config.classroom.data_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("cannot make the data folder %s (%s): set [classroom] data_dir", folder, exc)
