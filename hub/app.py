"""The Flask application factory: one Hub, one classroom, one event bus, blueprints, Socket.IO."""
from __future__ import annotations

import io
import logging

from flask import Flask, Request, jsonify

from .activities import ActivityContext
from .classroom.service import ClassroomService
from .config import Config, load_config
from .events import EventBus
from .memory import BodiesBudget
from .service import Hub
from .startup import make_data_folder
from .teach.service import TeachService
from .web import api, classes, metrics_view, pages, teach, testing, v2
from .web.bodies import bound_bodies
from .web.errors import register_error_handlers
from .web.hosts import HostCheck, own_names
from .web.lane import InferLane
from .web.live import create_live

log = logging.getLogger(__name__)


class InMemoryRequest(Request):
    """Uploads stay in memory: Werkzeug would spool a large one to a temporary file, and raw
    pictures must never touch the disk. The body limit bounds the memory this can take."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()


def build_app(config: Config | None = None, start: bool = True, announce_pin=print) -> Flask:
    """The app. `start` loads the models and watches the folder; the server (hub/server.py)
    also starts the dashboard's broadcasts. Extensions: classroom_hub, classroom, live."""
    config = config or load_config()
    app = Flask(__name__, static_folder=None)  # pages.py serves the static files
    app.request_class = InMemoryRequest
    app.url_map.merge_slashes = False  # "//" is a 404 with the hub's JSON error, not a 308 with an HTML page
    app.config["MAX_CONTENT_LENGTH"] = config.limits.max_body_bytes
    app.json.sort_keys = False
    bound_bodies(app)  # a streamed body over the limit is 413; JSON depth bounded (hub/web/bodies.py)
    if start:
        make_data_folder(config)  # before the classroom opens its database there
    bus = EventBus()
    the_hub = Hub(config, bus)
    the_classroom = ClassroomService(config, bus, ActivityContext(the_hub), announce_pin)
    the_teaching = TeachService(the_hub, the_classroom)
    the_classroom.context.teaching = the_teaching  # what "Teach the hub" uses (hub/activities/teach.py)
    app.extensions["classroom_hub"] = the_hub
    app.extensions["classroom"] = the_classroom
    app.extensions["teaching"] = the_teaching
    # bodies and Socket.IO messages in flight, all together (hub/worker.py, hub/web/socket_limits.py)
    app.extensions["bodies"] = BodiesBudget(config.limits.max_body_bytes, config.limits.bodies_budget_bytes)
    for blueprint in (api.bp, classes.bp, teach.bp, v2.bp, metrics_view.bp, pages.bp):
        app.register_blueprint(blueprint)
    if config.testing.fault_injection:
        app.register_blueprint(testing.bp)
    register_error_handlers(app)
    app.extensions["live"] = create_live(app, the_hub, the_classroom)
    app.wsgi_app = InferLane(app.wsgi_app, the_hub, config.limits.max_body_bytes)  # /v2 infer, Flask's work skipped
    app.wsgi_app = HostCheck(app.wsgi_app, own_names(config))  # outermost: Socket.IO too (hub/web/hosts.py)

    @app.get("/api")
    def index():
        return jsonify({"name": "classroom-hub", "version": the_hub.version,
                        "api": ["/api/models", "/api/status", "/api/activities", "/api/classes", "/api/teach", "/v2", "/metrics",
                                "/socket.io"]})

    if start:
        the_hub.start()
    return app


