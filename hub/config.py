"""Configuration: defaults, then a TOML file, then CLASSROOM_HUB_* environment variables.

Validated once at start-up. Every error names the key and says how to fix it, because the person
reading it is often a school's IT volunteer, not the author.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

ENV_PREFIX = "CLASSROOM_HUB_"


@dataclass(frozen=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 8080
    threads: int = 256  # one per request being served and per open WebSocket (each tablet holds one)
    connections_per_address: int = 16  # open at once from one device; 0: no limit (a hub behind a NAT)
    websockets_per_address: int = 4  # Socket.IO connections one device may hold (a tablet needs one); 0: no limit
    header_timeout_s: float = 10.0  # to send a whole request header
    body_timeout_s: float = 60.0  # from the header to the answer: the body's upload included
    idle_timeout_s: float = 30.0  # the longest silence within a request, or on a WebSocket
    tls: str = "self-signed"  # HTTPS on secure_port: "self-signed" (made on the hub, hub/tls.py), "files" or "off"
    secure_port: int = 8443  # HTTPS beside HTTP on `port`; 0: none; = port: HTTPS alone there (configs from before)
    cert_file: str = ""  # with tls = "files": your own certificate and key (PEM)
    key_file: str = ""
    names: Any = ()  # extra names the hub is reached by (a school's DNS name); its own are always allowed

    @property
    def https_port(self) -> int:
        """The port HTTPS is served on, or 0 for none."""
        return 0 if self.tls == "off" else self.secure_port

    @property
    def http_port(self) -> int:
        """The port plain HTTP is served on, or 0 when `port` serves HTTPS alone (a config from before)."""
        return 0 if self.https_port == self.port else self.port


@dataclass(frozen=True)
class ModelsConfig:
    dir: str = "models"
    scan_interval_s: float = 2.0  # how often models/ is checked for added, changed or removed folders
    settle_s: float = 1.0  # a folder changed less than this long ago is still being copied: wait
    probe_timeout_s: float = 30.0  # time allowed to the throwaway process that tries a new file


@dataclass(frozen=True)
class EngineConfig:
    cpu_workers: int = 0  # interpreters per model on the CPU; 0 = one per core
    cpu_threads: int = 1  # threads inside each CPU interpreter
    queue_size: int = 64  # requests waiting per model before 503 + Retry-After
    request_timeout_s: float = 10.0
    stuck_after_s: float = 5.0  # a worker on one request this long is hung: the systemd watchdog restarts the hub


@dataclass(frozen=True)
class LimitsConfig:
    max_body_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 50_000_000  # a declared image size above this is refused before decoding
    max_decode_bytes: int = 128 * 1024 * 1024  # memory one picture or recording may take while decoded
    decode_budget_bytes: int = 256 * 1024 * 1024  # all decodes in flight together; more wait, then 503
    bodies_budget_bytes: int = 128 * 1024 * 1024  # request bodies and Socket.IO messages in flight together
    max_top_k: int = 100


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"


@dataclass(frozen=True)
class TeacherConfig:
    pin: str = ""  # 4-12 digits; empty: one is generated at first start, printed once, stored hashed
    login_attempts: int = 5  # wrong PINs from one address before it must wait
    lockout_s: float = 60.0  # the wait, doubled after each further wrong PIN
    session_hours: float = 12.0  # a teacher's login lasts this long (a school day)
    hub_login_burst: int = 10  # PINs checked at once for devices the teacher never logged in from, all together ...
    hub_logins_per_hour: float = 20.0  # ... and then this many an hour (docs/TEACHERS.md)


@dataclass(frozen=True)
class ClassroomConfig:
    data_dir: str = "data"  # the hashed PIN, certificates, probe cache and the running class's database
    max_students: int = 60  # tablets that may join one class
    seats_per_address: int = 4  # new seats one device may take (pupils sharing a tablet); 0: no limit (behind a NAT)
    answer_burst: int = 5  # answers one pupil may send at once ...
    answers_per_s: float = 1.0  # ... and then this many a second: no child is slowed, a script is
    join_burst: int = 10  # joins (and resumes) one address may try at once ...
    joins_per_s: float = 1.0  # ... and then this many a second
    expire_hours: float = 12.0  # a class left running is deleted at the next start after this long
    durable: bool = True  # keep the running class in data_dir/classroom.sqlite3 (false: in memory; a restart ends it)
    public_url: str = ""  # the address tablets use, shown on the kiosk and its QR code; empty: guessed


@dataclass(frozen=True)
class MicrophoneConfig:
    source: str = "auto"  # "auto" (the default input device, if any), "off", or a WAV file standing in for it
    model: str = "spoken-digits"  # the model that hears what the microphone records


@dataclass(frozen=True)
class TeachConfig:
    max_examples_per_thing: int = 100  # examples of one thing a class may give ("Teach the hub")
    max_examples_per_pupil: int = 60  # examples one pupil may give to one model


@dataclass(frozen=True)
class TestingConfig:
    """Seams for exercising Edge TPU paths on machines without one. Off in production."""

    simulated_edgetpu: int = 0  # stand-in accelerators that run the CPU int8 file in a real interpreter
    fault_injection: bool = False  # enables POST /api/testing/faults
    probe_interval_s: float = 5.0  # how often a model waits before trying a failed stand-in again


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    classroom: ClassroomConfig = field(default_factory=ClassroomConfig)
    microphone: MicrophoneConfig = field(default_factory=MicrophoneConfig)
    teach: TeachConfig = field(default_factory=TeachConfig)
    testing: TestingConfig = field(default_factory=TestingConfig)
    accelerators: Mapping[str, Any] = field(default_factory=dict)  # each accelerator kind's own section
    source: str = "defaults"

    def __getattr__(self, name: str) -> Any:
        """An accelerator's section by its name, like the built-in ones: config.edgetpu.library."""
        sections = self.__dict__.get("accelerators") or {}
        if name in sections:
            return sections[name]
        if name in accelerator_sections():
            return accelerator_sections()[name]()
        raise AttributeError(name)

    @property
    def models_dir(self) -> Path:
        """Absolute: a relative folder means the one the hub was started in, wherever it looks."""
        return Path(self.models.dir).absolute()

    def effective_cpu_workers(self) -> int:
        return self.engine.cpu_workers or (os.cpu_count() or 1)


_CORE_SECTIONS = {
    "server": ServerConfig,
    "models": ModelsConfig,
    "engine": EngineConfig,
    "limits": LimitsConfig,
    "logging": LoggingConfig,
    "teacher": TeacherConfig,
    "classroom": ClassroomConfig,
    "microphone": MicrophoneConfig,
    "teach": TeachConfig,
    "testing": TestingConfig,
}


def accelerator_sections() -> dict[str, type]:
    """[section] -> config class of every registered accelerator kind (hub/accelerators/)."""
    from .accelerators import config_sections

    return config_sections()


def section_types() -> dict[str, type]:
    return {**_CORE_SECTIONS, **accelerator_sections()}


_CORE_LISTS = {"server.names"}


def _list_keys() -> set[str]:
    from .accelerators import config_lists

    return _CORE_LISTS | config_lists()


def _rules() -> dict[str, tuple]:
    from .accelerators import config_rules

    return {**_RULES, **config_rules()}

_RULES: dict[str, tuple] = {
    # key: (check, fix)
    "server.port": (lambda v: 1 <= v <= 65535, "a port number from 1 to 65535"),
    "server.threads": (lambda v: 4 <= v <= 1024, "a number of threads from 4 to 1024"),
    "server.connections_per_address": (lambda v: 0 <= v <= 10_000, "0 (no limit) or a count up to 10000"),
    "server.websockets_per_address": (lambda v: 0 <= v <= 10_000, "0 (no limit) or a count up to 10000"),
    "server.header_timeout_s": (lambda v: 1 <= v <= 600, "seconds from 1 to 600"),
    "server.body_timeout_s": (lambda v: 1 <= v <= 3600, "seconds from 1 to 3600"),
    "server.idle_timeout_s": (lambda v: 15 <= v <= 3600, "seconds from 15 to 3600 (WebSockets are pinged every 10 s)"),
    "server.tls": (lambda v: v in {"off", "self-signed", "files"}, '"off", "self-signed" or "files"'),
    "server.secure_port": (lambda v: 0 <= v <= 65535, "0 (no HTTPS) or a port number from 1 to 65535"),
    "models.scan_interval_s": (lambda v: 0.1 <= v <= 3600, "seconds from 0.1 to 3600"),
    "models.settle_s": (lambda v: 0 <= v <= 60, "seconds from 0 to 60"),
    "models.probe_timeout_s": (lambda v: 1 <= v <= 600, "seconds from 1 to 600"),
    "engine.cpu_workers": (lambda v: 0 <= v <= 64, "0 (one per core) or a count up to 64"),
    "engine.cpu_threads": (lambda v: 1 <= v <= 64, "a thread count from 1 to 64"),
    "engine.queue_size": (lambda v: 1 <= v <= 100_000, "a queue length from 1 to 100000"),
    "engine.request_timeout_s": (lambda v: 0.1 <= v <= 600, "seconds from 0.1 to 600"),
    "engine.stuck_after_s": (lambda v: 1 <= v <= 3600, "seconds from 1 to 3600"),
    "limits.max_body_bytes": (lambda v: 1024 <= v <= 1 << 30, "bytes from 1024 to 1 GiB"),
    "limits.max_image_pixels": (lambda v: 64 <= v <= 1 << 30, "a pixel count from 64 to 2**30"),
    "server.names": (lambda v: isinstance(v, (list, tuple)) and all(_is_host_name(n) for n in v),
                     'a list of host names, like ["hub.school.example"]'),
    "limits.max_decode_bytes": (lambda v: 1 << 20 <= v <= 1 << 32, "bytes from 1 MiB to 4 GiB"),
    "limits.bodies_budget_bytes": (lambda v: 1 << 20 <= v <= 1 << 34, "bytes from 1 MiB to 16 GiB"),
    "limits.decode_budget_bytes": (lambda v: 1 << 20 <= v <= 1 << 34, "bytes from 1 MiB to 16 GiB"),
    "limits.max_top_k": (lambda v: 1 <= v <= 100_000, "a count from 1 to 100000"),
    "logging.level": (
        lambda v: v.upper() in {"DEBUG", "INFO", "WARNING", "ERROR"},
        "one of DEBUG, INFO, WARNING, ERROR",
    ),
    "testing.simulated_edgetpu": (lambda v: 0 <= v <= 8, "a count from 0 to 8"),
    "testing.probe_interval_s": (lambda v: 0.1 <= v <= 3600, "seconds from 0.1 to 3600"),
    "teacher.pin": (lambda v: v == "" or (v.isdigit() and 4 <= len(v) <= 12),
                    'empty (generate one) or 4 to 12 digits, quoted: pin = "4821"'),
    "teacher.login_attempts": (lambda v: 1 <= v <= 100, "a count from 1 to 100"),
    "teacher.lockout_s": (lambda v: 1 <= v <= 3600, "seconds from 1 to 3600"),
    "teacher.session_hours": (lambda v: 0.1 <= v <= 168, "hours from 0.1 to 168"),
    "teacher.hub_login_burst": (lambda v: 1 <= v <= 1000, "a count from 1 to 1000"),
    "teacher.hub_logins_per_hour": (lambda v: 0.1 <= v <= 3600, "a rate from 0.1 to 3600 an hour"),
    "classroom.max_students": (lambda v: 1 <= v <= 500, "a count from 1 to 500"),
    "classroom.seats_per_address": (lambda v: 0 <= v <= 500, "0 (no limit) or a count up to 500"),
    "teach.max_examples_per_thing": (lambda v: 2 <= v <= 1000, "a count from 2 to 1000"),
    "teach.max_examples_per_pupil": (lambda v: 1 <= v <= 1000, "a count from 1 to 1000"),
    "classroom.answer_burst": (lambda v: 1 <= v <= 1000, "a count from 1 to 1000"),
    "classroom.answers_per_s": (lambda v: 0.1 <= v <= 1000, "answers a second, from 0.1 to 1000"),
    "classroom.join_burst": (lambda v: 1 <= v <= 10000, "a count from 1 to 10000"),
    "classroom.joins_per_s": (lambda v: 0.01 <= v <= 1000, "joins a second, from 0.01 to 1000"),
    "classroom.expire_hours": (lambda v: 0.1 <= v <= 720, "hours from 0.1 to 720"),
    "classroom.public_url": (lambda v: v == "" or v.startswith(("http://", "https://")),
                             'empty, or the address tablets type, like "http://hub.local:8080"'),
}


def _is_host_name(name: object) -> bool:
    """A DNS name: letters, digits, hyphens and dots, at most 253 characters."""
    import re

    return isinstance(name, str) and 0 < len(name) <= 253 and re.fullmatch(
        r"(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?", name) is not None


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Check `value` has the type of the default; strings (environment, lenient TOML) are parsed first."""
    if key in _list_keys():  # a device list: "auto", a list, or "usb:0, pci:0" from the environment
        return _parse_string(key, value, default) if isinstance(value, str) else value
    if isinstance(value, str) and not isinstance(default, str):
        value = _parse_string(key, value, default)
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is bool and not isinstance(value, bool):
        raise ConfigError(f"config key {key} must be true or false, not {value!r}", key=key)
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"config key {key} must be a whole number, not {value!r}", key=key)
    if not isinstance(value, expected):
        raise ConfigError(
            f"config key {key} must be a {expected.__name__}, not {value!r}", key=key
        )
    return value


def _parse_string(key: str, text: str, default: Any) -> Any:
    if key in _list_keys():
        return "auto" if text.strip() == "auto" else [d.strip() for d in text.split(",") if d.strip()]
    try:
        if isinstance(default, bool):
            if text.lower() in {"1", "true", "yes", "on"}:
                return True
            if text.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        return type(default)(text)
    except ValueError:
        kind = {bool: "true or false", int: "a whole number", float: "a number"}.get(type(default), "a value")
        raise ConfigError(f"config key {key} is {text!r}; use {kind}", key=key) from None


def _build_section(name: str, values: Mapping[str, Any], origin: str) -> Any:
    cls = section_types()[name]
    defaults = cls()
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        dotted = f"{name}.{key}"
        if key not in known:
            raise ConfigError(
                f"unknown config key {dotted} in {origin}; valid keys in [{name}]: "
                + ", ".join(sorted(known)),
                key=dotted,
            )
        value = _coerce(dotted, value, getattr(defaults, key))
        rule = _rules().get(dotted)
        if rule and not rule[0](value):
            raise ConfigError(f"config key {dotted} is {value!r}; use {rule[1]}", key=dotted)
        kwargs[key] = value
    return dataclasses.replace(defaults, **kwargs)


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; create it or drop --config") from None
    except PermissionError:  # hub.toml may hold the PIN: it is root's and the hub's alone
        raise ConfigError(f"config file {path} cannot be read by this user; run the command with sudo") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder; give the hub.toml file inside it") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _env_values(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """CLASSROOM_HUB_SERVER_PORT=9000 -> {"server": {"port": "9000"}}."""
    found: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section = next((s for s in section_types() if rest.startswith(s + "_")), None)
        if section is None:
            continue  # other CLASSROOM_HUB_* variables belong to other parts
        found.setdefault(section, {})[rest[len(section) + 1:]] = value
    return found


def _check_together(config: "Config") -> None:
    """Rules that involve several keys."""
    if config.limits.decode_budget_bytes < config.limits.max_decode_bytes:
        raise ConfigError("config key limits.decode_budget_bytes must be at least limits.max_decode_bytes "
                          "(one decode must fit in the budget)", key="limits.decode_budget_bytes")
    if config.limits.bodies_budget_bytes < config.limits.max_body_bytes:
        raise ConfigError("config key limits.bodies_budget_bytes must be at least limits.max_body_bytes "
                          "(one body must fit in the budget)", key="limits.bodies_budget_bytes")
    if config.server.https_port and config.server.tls == "files":
        for key in ("cert_file", "key_file"):
            value = getattr(config.server, key)
            if not value or not Path(value).is_file():
                raise ConfigError(f"config key server.{key} must name a readable PEM file when server.tls = "
                                  f'"files" (it is {value!r}); or use tls = "self-signed"', key=f"server.{key}")


def load_config(
    path: str | os.PathLike | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Merge defaults, the TOML file, the environment and explicit overrides (CLI flags)."""
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if path is not None:
        data = _read_toml(Path(path))
        for section, values in data.items():
            if section not in section_types():
                raise ConfigError(
                    f"unknown config section [{section}] in {path}; valid sections: "
                    + ", ".join(section_types()),
                    key=section,
                )
            if not isinstance(values, dict):
                raise ConfigError(f"[{section}] in {path} must be a table of keys", key=section)
        layers.append((str(path), data))
    layers.append(("environment", _env_values(environ)))
    if overrides:
        layers.append(("command line", overrides))

    merged: dict[str, dict[str, Any]] = {name: {} for name in section_types()}
    origins: dict[str, str] = {}
    for origin, data in layers:
        for section, values in data.items():
            merged[section].update(values)
            for key in values:
                origins[f"{section}.{key}"] = origin
    server = merged["server"]
    if "tls" in server and str(server["tls"]) != "off" and "secure_port" not in server:
        # A config from before HTTPS had a port of its own (tls set, no secure_port): HTTPS alone
        # on `port`, as then, so the addresses tablets and printed QR codes know keep working.
        server["secure_port"] = server.get("port", ServerConfig.port)
        origins["server.secure_port"] = origins["server.tls"]
    sections = {}
    for name, values in merged.items():
        origin = ", ".join(sorted({origins[f"{name}.{k}"] for k in values})) or "defaults"
        sections[name] = _build_section(name, values, origin)
    own = {name: sections.pop(name) for name in accelerator_sections()}
    config = Config(**sections, accelerators=own, source=str(path) if path else "defaults")
    _check_together(config)
    return config
