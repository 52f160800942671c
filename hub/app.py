"""The Flask application: one Hub, its blueprints, JSON errors, bodies kept in memory."""
from __future__ import annotations

import io
import logging

from flask import Flask, Request, jsonify

from .config import Config, load_config
from .service import Hub
from .web import api, metrics_view, v2
from .web.errors import register_error_handlers

log = logging.getLogger(__name__)


class InMemoryRequest(Request):
    """Uploads stay in memory: Werkzeug would spool a large one to a temporary file, and raw
    pictures must never touch the disk. The body limit bounds the memory this can take."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()


def build_app(config: Config | None = None, start: bool = True) -> Flask:
    config = config or load_config()
    app = Flask(__name__)
    app.request_class = InMemoryRequest
    app.config["MAX_CONTENT_LENGTH"] = config.limits.max_body_bytes
    app.json.sort_keys = False
    the_hub = Hub(config)
    app.extensions["classroom_hub"] = the_hub
    app.register_blueprint(api.bp)
    app.register_blueprint(v2.bp)
    app.register_blueprint(metrics_view.bp)
    register_error_handlers(app)

    @app.get("/")
    def index():
        return jsonify({"name": "classroom-hub", "version": the_hub.version,
                        "api": ["/api/models", "/api/status", "/v2", "/metrics"]})

    if start:
        the_hub.start()
    return app
