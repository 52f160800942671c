"""classroom-hub: serve the models, list them. Turns HubErrors into messages and exit codes."""
from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from . import __version__
from .config import Config, load_config
from .errors import HubError
from .logs import setup_logging


def _config(args: argparse.Namespace) -> Config:
    overrides: dict = {}
    if getattr(args, "host", None):
        overrides.setdefault("server", {})["host"] = args.host
    if getattr(args, "port", None):
        overrides.setdefault("server", {})["port"] = args.port
    models = getattr(args, "models", None) or getattr(args, "dir", None)
    if models:
        overrides.setdefault("models", {})["dir"] = str(models)
    return load_config(args.config, overrides=overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    gc.disable()  # until the hub is ready: hub/server.py `collect_from_now_on`
    from .server import check_port, serve
    from .startup import make_data_folder, prepare  # not the app: the server's master stays small

    config = _config(args)
    setup_logging(config.logging.level)
    check_port(config)
    make_data_folder(config)  # start-up problems here: one line and exit 2, not the worker's traceback
    prepare(config)
    return serve(config)


def _human_size(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1024:.0f} KB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MB"


def cmd_models(args: argparse.Namespace) -> int:
    from .service import Hub

    config = _config(args)
    setup_logging("WARNING")
    the_hub = Hub(config)
    try:
        the_hub.start(watch=False)
        rows = [("NAME", "STATUS", "BACKEND", "SIZE", "ACCURACY", "NOTE")]
        for entry in the_hub.registry.entries():
            info = entry.to_json()
            accuracy = info.get("accuracy")
            rows.append((entry.name, entry.status, info.get("backend") or "-", _human_size(info.get("variants", {})
                         .get("cpu", next(iter(info.get("variants", {}).values()), {})).get("size")),
                         f"{accuracy * 100:.1f}%" if accuracy is not None else "-",
                         entry.reason or info.get("accelerator_reason") or ""))
    finally:
        the_hub.close()
    if len(rows) == 1:
        print(f"no models in {config.models_dir}")
        return 1
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + row[5])
    return 0 if all(e.status == "ready" for e in the_hub.registry.entries()) else 1


def cmd_pin(args: argparse.Namespace) -> int:
    """Make the teacher's PIN (printed once, kept hashed), or say where it comes from."""
    from .classroom.auth import PIN_FILE, TeacherAuth

    config = _config(args)
    if config.teacher.pin:
        print(f"the teacher PIN is set in {config.source} ([teacher] pin); change it there")
        return 0
    path = Path(config.classroom.data_dir) / PIN_FILE
    if path.exists() and not args.reset:
        print(f"a teacher PIN is already set (its hash is in {path}); --reset makes a new one")
        return 0
    if args.reset:
        path.unlink(missing_ok=True)
    TeacherAuth(config.teacher, Path(config.classroom.data_dir), announce=print)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import report, run_checks

    text, worst = report(run_checks(_config(args)), args.json)
    print(text)
    return worst


def cmd_tls_renew(args: argparse.Namespace) -> int:
    """Make or renew the hub's own HTTPS certificate; as root, keep the CA's key out of the hub's reach."""
    import subprocess

    from .tls import renew_for

    config = _config(args)
    setup_logging(config.logging.level)
    if config.server.tls != "self-signed":
        print(f'[server] tls is "{config.server.tls}" in {config.source}: the hub makes no certificate of its own; '
              "nothing to do")
        return 0
    done = renew_for(config, args.owner, args.ca_dir, args.new_ca)
    print(f"certificate authority {done.authority}, valid until {done.ca_until:%Y-%m-%d}, key in {done.ca_key}; "
          f"HTTPS certificate {'renewed' if done.renewed else 'kept'}, valid until {done.cert_until:%Y-%m-%d}")
    if done.authority == "replaced":
        print("every tablet must trust the new authority once: open http://<hub>:8080/setup on each (docs/TEACHERS.md)")
    if done.renewed:  # a new key: the kiosk's browser is pinned to the old one until it restarts
        for unit in args.restart:
            subprocess.run(["systemctl", "--no-block", "try-restart", unit], capture_output=True, timeout=30)
    return 0


def cmd_kiosk(args: argparse.Namespace) -> int:
    from .kiosk import run

    return run(args.port, args.wait, args.print)


def _thread_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        counts = ()
    if not counts or not all(1 <= n <= 64 for n in counts):
        raise argparse.ArgumentTypeError(f"{text!r}: give thread counts from 1 to 64, such as 1,2,3,4")
    return counts


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of at least 1")
    return int(text)


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure this machine as the hub uses it: a table on stdout, the whole result as JSON."""
    import json

    from .selfbench import BenchError, Plan, run, table

    config = _config(args)
    setup_logging("WARNING")  # the table and the JSON are the output; the hub's INFO lines are not
    plan = Plan.make(args.quick, args.threads, args.requests)
    try:
        result = run(config, args.config.absolute() if args.config else None, plan,
                     say=lambda line: print(line, file=sys.stderr, flush=True))
    except BenchError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.details.get("log"):
            print("the hub's last lines:\n" + exc.details["log"], file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted (a hub it had started is stopped)", file=sys.stderr)
        return 130
    text = json.dumps(result, indent=2)
    if args.json == "-":
        print(text)
        return 0
    print(table(result))
    if args.json:
        try:
            Path(args.json).write_text(text + "\n")
        except OSError as exc:
            print(f"error: cannot write the JSON to {args.json}: {exc}; give another --json FILE", file=sys.stderr)
            return 2
        print(f"the whole result, as JSON: {args.json}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="classroom-hub", description="Offline AI hub for classrooms.")
    parser.add_argument("--version", action="version", version=f"classroom-hub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve every model in the models folder")
    serve.add_argument("--host", help="address to listen on (default 0.0.0.0: the whole room)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument("--models", type=Path, help="models folder (default ./models)")
    serve.add_argument("--config", type=Path, help="TOML config file")
    serve.set_defaults(func=cmd_serve)
    models = sub.add_parser("models", help="check and list the models in a folder")
    models.add_argument("dir", nargs="?", type=Path, help="models folder (default ./models)")
    models.add_argument("--models", type=Path, metavar="DIR", help="models folder, as serve and doctor take it")
    models.add_argument("--config", type=Path, help="TOML config file")
    models.set_defaults(func=cmd_models)
    pin = sub.add_parser("pin", help="make the teacher's PIN (shown once, stored hashed)")
    pin.add_argument("--config", type=Path, help="TOML config file")
    pin.add_argument("--reset", action="store_true", help="replace the current PIN with a new one")
    pin.set_defaults(func=cmd_pin)
    doctor = sub.add_parser("doctor", help="check this machine: runtime, Edge TPU, power, models, port, clock")
    doctor.add_argument("--config", type=Path, help="TOML config file")
    doctor.add_argument("--models", type=Path, help="models folder (default from the config)")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.set_defaults(func=cmd_doctor)
    tls = sub.add_parser("tls", help='the hub\'s own HTTPS certificate ([server] tls = "self-signed")')
    tls_sub = tls.add_subparsers(dest="tls_command", required=True)
    renew = tls_sub.add_parser("renew", help="make or renew the certificate authority and the hub's certificate "
                                             "(systemd runs it as root before the hub starts, and daily)")
    renew.add_argument("--config", type=Path, help="TOML config file")
    renew.add_argument("--owner", help="the user the hub runs as (root only): its certificate and key become "
                                       "readable by it, the authority's key root's alone (default, as root: the "
                                       "owner of the data folder)")
    renew.add_argument("--ca-dir", type=Path, help="the authority's folder (default: <data_dir>-ca with --owner, "
                                                   "else <data_dir>/tls/ca)")
    renew.add_argument("--new-ca", action="store_true", help="make a new certificate authority now (every tablet "
                                                             "must trust it again): for a day of your choosing")
    renew.add_argument("--restart", action="append", default=[], metavar="UNIT",
                       help="systemd unit to restart when the key changed (the kiosk pins it)")
    renew.set_defaults(func=cmd_tls_renew)
    kiosk = sub.add_parser("kiosk", help="the front screen: wait for the hub on this machine, then open /kiosk "
                                         "full screen in Chromium (classroom-kiosk.service runs it in cage)")
    kiosk.add_argument("--port", type=int, default=8080, help="the hub's port (default 8080)")
    kiosk.add_argument("--wait", type=float, default=120, help="seconds to wait for the hub (default 120)")
    kiosk.add_argument("--print", action="store_true", help="print the browser command instead of running it")
    kiosk.set_defaults(func=cmd_kiosk)
    bench = sub.add_parser("bench", help="measure this machine as the hub uses it: every model's invoke at 1-4 "
                                         "threads (and on an Edge TPU), the hub's REST p50/p99, time to ready, "
                                         "memory, temperature; a table, and JSON to paste into an issue")
    bench.add_argument("--config", type=Path, metavar="FILE",
                       help="TOML config file (the hub's, for its models and settings)")
    bench.add_argument("--models", type=Path, metavar="DIR", help="models folder (default from the config)")
    bench.add_argument("--threads", type=_thread_counts, metavar="N,N,...",
                       help="interpreter thread counts to try (default 1,2,3,4)")
    bench.add_argument("--requests", type=_positive, metavar="N",
                       help="timed REST requests per model (default 200; 30 with --quick)")
    bench.add_argument("--json", metavar="FILE", help="write the whole result as JSON to FILE; - prints it "
                                                      "instead of the table")
    bench.add_argument("--quick", action="store_true", help="fewer invokes and requests: under a minute")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HubError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
