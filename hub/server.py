"""Serve the app on gunicorn: one worker process (it owns the TPUs), many threads.

Werkzeug's development server costs ~1.4 ms a request, the whole overhead budget. gunicorn's
threaded worker is what Flask-SocketIO documents for its threading mode with simple-websocket,
and real threads suit the engine: inference runs in native code outside the GIL.
"""
from __future__ import annotations

import logging
import socket
import sys

from gunicorn.app.base import BaseApplication

from .addresses import lan_addresses
from .config import Config

log = logging.getLogger(__name__)


def urls(host: str, port: int, scheme: str = "http") -> list[str]:
    """Addresses a person can type: this machine's own and every LAN address when bound to all."""
    if host not in ("0.0.0.0", "::", ""):
        return [f"{scheme}://{host}:{port}/"]
    found = ["127.0.0.1", *lan_addresses()]
    return [f"{scheme}://{ip}:{port}/" for ip in found] + [f"{scheme}://{socket.gethostname()}.local:{port}/"]


def certificate_files(config: Config) -> tuple[str, str] | None:
    """(certfile, keyfile) for gunicorn, making the hub's own certificate when asked to (or, on an
    installed hub, using the one root made: hub/tls.py). gthread reads both files at each new
    connection, so a renewal by classroom-hub-tls.timer is served without a restart."""
    if config.server.tls == "files":
        return config.server.cert_file, config.server.key_file
    if config.server.tls == "self-signed":
        from pathlib import Path

        from .tls import config_names, renew_hint, serving_certificate

        made = serving_certificate(Path(config.classroom.data_dir) / "tls", config_names(config),
                                   renew_hint(config.source))
        return str(made.cert), str(made.key)
    return None


class HubServer(BaseApplication):
    def __init__(self, config: Config) -> None:
        self.hub_config = config
        super().__init__()

    def load_config(self) -> None:
        server = self.hub_config.server
        settings = {
            "bind": f"[{server.host}]:{server.port}" if ":" in server.host else f"{server.host}:{server.port}",
            "workers": 1,  # one process owns each Edge TPU and the classroom state
            "worker_class": "hub.worker.GuardedWorker",  # gthread with per-address and time limits
            "threads": server.threads,
            "timeout": 120,
            "graceful_timeout": 10,
            "keepalive": 30,
            "accesslog": None,  # no per-request log: it would hold pupils' activity
            "errorlog": "-",
            "loglevel": self.hub_config.logging.level.lower(),
            "post_worker_init": self._ready,
            "control_socket_disable": True,  # gunicorn 27+; nothing of ours uses it
        }
        files = certificate_files(self.hub_config)
        if files:
            settings["certfile"], settings["keyfile"] = files
        for key, value in settings.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def _ready(self, worker) -> None:
        the_hub = worker.wsgi.extensions["classroom_hub"]
        worker.wsgi.extensions["live"].start_broadcasts()
        models = the_hub.registry.entries()
        ready = sum(1 for m in models if m.status == "ready")
        print(f"Classroom Hub {the_hub.version} is ready: {ready} of {len(models)} model(s) serving, "
              f"runtime {the_hub.runtime.name} {the_hub.runtime.version}", flush=True)
        scheme = "http" if self.hub_config.server.tls == "off" else "https"
        addresses = urls(self.hub_config.server.host, self.hub_config.server.port, scheme)
        for url in addresses:
            print(f"  open {url}", flush=True)
        # The teacher and the front screen are other devices: a LAN address where there is one.
        lan = next((u for u in addresses if "//127.0.0.1:" not in u), addresses[0])
        print(f"  the teacher's dashboard: {lan}teacher    the front screen: {lan}kiosk", flush=True)
        from .systemd import announce_ready

        worker.watchdog = announce_ready(f"{ready} of {len(models)} model(s) serving", the_hub.stuck)
        if self.hub_config.server.tls == "self-signed":
            print(f"  tablets trust this hub once: open {scheme}://<hub>:{self.hub_config.server.port}/ca.crt "
                  "(docs/TEACHERS.md)", flush=True)

    def load(self):
        from .app import build_app

        return build_app(self.hub_config)


def tune_malloc(arenas: int = 2, mmap_threshold: int = 16 << 20, trim_threshold: int = 16 << 20,
                top_pad: int = 1 << 20) -> None:
    """glibc gives each busy thread its own malloc arena and keeps the memory; with many server
    threads that is tens of MB of RSS on a Pi for nothing. Two arenas are plenty here.

    Fixed thresholds, where glibc's own would rise after each large free (to 32 MB, keeping up to
    64 MB at the top of the heap): a block over 16 MB (a decoded photo of 5 megapixels or more) is
    its own mapping, handed back to the kernel when freed, and up to 16 MB free at the top of an
    arena is kept for the next request. Lower values cost every request page faults: with 128 KB
    (glibc's trim threshold once the mmap threshold is fixed) a 524 KB picture's body and decoded
    copy were given back and faulted in again, 430 faults a request and 3 ms of a 9 ms request
    here; with 1 MB for mmap, a /v2 JSON tensor of 224 x 224 x 3 (orjson's parse takes about 10 MB
    for a moment) faulted 760 pages, 1.1 ms of 14. What a burst of requests leaves free in the
    heap goes back to the kernel a second after it ends (hub/worker.py `trim_heap`)."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
        libc.mallopt(-3, mmap_threshold)  # M_MMAP_THRESHOLD (also turns off its dynamic rise)
        libc.mallopt(-1, trim_threshold)  # M_TRIM_THRESHOLD
        libc.mallopt(-2, top_pad)  # M_TOP_PAD
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def serve(config: Config) -> int:
    from .systemd import claim_notify_socket

    tune_malloc()  # before gunicorn forks the worker, which inherits it
    claim_notify_socket()  # READY=1 is ours to send, once the models are loaded
    HubServer(config).run()
    return 0


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def check_port(config: Config) -> None:
    if port_in_use(config.server.host, config.server.port):
        print(f"error: port {config.server.port} on {config.server.host} is already in use; "
              "stop the other program or pass --port", file=sys.stderr)
        raise SystemExit(2)
