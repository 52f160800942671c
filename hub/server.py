"""Serve the app on gunicorn: one worker process (it owns the TPUs), many threads.

Werkzeug's development server costs ~1.4 ms a request, the whole overhead budget. gunicorn's
threaded worker is what Flask-SocketIO documents for its threading mode with simple-websocket,
and real threads suit the engine: inference runs in native code outside the GIL.
"""
from __future__ import annotations

import gc
import logging
import socket
import sys
import threading
from pathlib import Path

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
    """(certfile, keyfile) for the secure port, making the hub's own certificate when asked to (or,
    on an installed hub, using the one root made: hub/tls.py; no key is made while the files there
    are good). The worker reads both files at each new connection (hub/worker.py), so a renewal by
    classroom-hub-tls.timer is served without a restart."""
    if not config.server.https_port:
        return None
    if config.server.tls == "files":
        return config.server.cert_file, config.server.key_file
    if config.server.tls == "self-signed":
        from .tls import CA_CERT, CERT, KEY

        public = Path(config.classroom.data_dir) / "tls"
        if all((public / name).is_file() for name in (CA_CERT, CERT, KEY)):
            # Checked (and renewed if need be) once the hub is ready, by check_certificate: reading
            # them here would cost every start the import of `cryptography` before it can answer.
            return str(public / CERT), str(public / KEY)
        made = _serving_certificate(config)
        return str(made.cert), str(made.key)
    return None


def _serving_certificate(config: Config):
    from .tls import config_names, renew_hint, serving_certificate

    return serving_certificate(Path(config.classroom.data_dir) / "tls", config_names(config),
                               renew_hint(config.source))


def check_certificate(config: Config) -> None:
    """The hub's own certificate, checked after start-up as at it: renewed when it nears its end or
    the hub has a new address (the worker reads the files per connection, so that is served at
    once), or what is wrong with it logged."""
    from .tls import TLSError

    try:
        _serving_certificate(config)
    except TLSError as exc:
        log.warning("%s", exc.message)


class HubServer(BaseApplication):
    def __init__(self, config: Config) -> None:
        self.hub_config = config
        super().__init__()

    def load_config(self) -> None:
        server = self.hub_config.server
        host = f"[{server.host}]" if ":" in server.host else server.host
        # Plain HTTP on `port` and HTTPS on `secure_port`: one worker listens on both, and wraps only
        # the secure port's connections in TLS (hub/worker.py). gunicorn's own certfile would
        # wrap every listener's, so it is never set; the worker reads these files instead.
        self.secure_files = certificate_files(self.hub_config)
        self.secure_port = server.https_port
        ports = [p for p in (server.http_port, server.https_port) if p]
        settings = {
            "bind": [f"{host}:{port}" for port in ports],
            "workers": 1,  # one process owns each Edge TPU and the classroom state
            "worker_class": "hub.worker.GuardedWorker",  # gthread with per-address and time limits
            "threads": server.threads,
            "timeout": 120,
            "graceful_timeout": 10,
            "keepalive": 30,
            "accesslog": None,  # no per-request log: it would hold pupils' activity
            "errorlog": "-",
            "loglevel": self.hub_config.logging.level.lower(),
            "pre_fork": lambda arbiter, worker: collect_from_now_on(),  # the master, before each worker
            "post_fork": lambda arbiter, worker: gc.disable(),  # the worker, until `_ready`
            "post_worker_init": self._ready,
            "control_socket_disable": True,  # gunicorn 27+; nothing of ours uses it
            # sendfile() would write a file past TLS on the secure port; the hub serves only small
            # pages and scripts as files, so both ports write them through the socket.
            "sendfile": not self.secure_files,
        }
        for key, value in settings.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def _ready(self, worker) -> None:
        collect_from_now_on()
        the_hub = worker.wsgi.extensions["classroom_hub"]
        worker.wsgi.extensions["live"].start_broadcasts()
        models = the_hub.registry.entries()
        ready = sum(1 for m in models if m.status == "ready")
        print(f"Classroom Hub {the_hub.version} is ready: {ready} of {len(models)} model(s) serving, "
              f"runtime {the_hub.runtime.name} {the_hub.runtime.version}", flush=True)
        server = self.hub_config.server
        plain = urls(server.host, server.http_port, "http") if server.http_port else []
        secure = urls(server.host, server.https_port, "https") if server.https_port else []
        for url in plain:
            print(f"  open {url}", flush=True)
        for url in secure:
            print(f"  open {url}  (secure: for speaking and the camera)", flush=True)
        addresses = plain or secure
        # The teacher and the front screen are other devices: a LAN address where there is one.
        lan = next((u for u in addresses if "//127.0.0.1:" not in u), addresses[0])
        print(f"  the teacher's dashboard: {lan}teacher    the front screen: {lan}kiosk", flush=True)
        from .systemd import announce_ready

        worker.watchdog = announce_ready(f"{ready} of {len(models)} model(s) serving", the_hub.stuck)
        if server.https_port and server.tls == "self-signed":
            print(f"  tablets trust the secure address once: open {lan}setup (docs/TEACHERS.md)", flush=True)
            threading.Thread(target=check_certificate, args=(self.hub_config,), name="tls-check", daemon=True).start()

    def load(self):
        from .app import build_app

        return build_app(self.hub_config)


def collect_from_now_on() -> None:
    """Start-up runs with Python's cycle collector off (`classroom-hub serve` turns it off first
    thing; the worker, forked, again until it is ready): the imports, the app and the models make
    some 100,000 objects, and the collections they set off cost about 40 ms of a 0.45 s start
    here. Once ready, what start-up made is moved out of the collector's sight for good
    (`gc.freeze`: later collections do not walk it, and a forked worker does not write to the
    master's pages by walking them) and collecting goes on as usual."""
    gc.freeze()
    gc.enable()


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
    server = config.server
    for port, fix in ((server.port, "pass --port"), (server.https_port, "set [server] secure_port (0: no HTTPS)")):
        if port and port_in_use(server.host, port):
            print(f"error: port {port} on {server.host} is already in use; stop the other program or {fix}",
                  file=sys.stderr)
            raise SystemExit(2)
