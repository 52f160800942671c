"""docs/API.md names everything a client can meet: every route with its method, every Socket.IO
event per namespace (sent by clients and by the hub), and every error code with its status.

Conventions the guard reads in docs/API.md (outside ``` code blocks):
- a route is one backtick span "`METHOD /path`": Flask's `<name>` written `{name}`, `[...]` an
  optional part (`/v2/models/{name}[/versions/{version}]` is both paths), a `?query` ignored;
- under "#### Namespace `/x`", a table whose header starts "the hub sends" lists the events the
  hub emits there; a table whose header ends "sends" otherwise lists what the client sends; the
  event is named in backticks in the row's first cell;
- under "## Errors", a table row "| `code` | status | when |" per code (status "—": never sent).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import hub.app  # noqa: F401 - imports every module the server serves with, so every HubError subclass
from hub.errors import ClassStateError, HubError
from hub.web import live
from tests.conftest import ROOT

DOC = ROOT / "docs" / "API.md"
HUB = ROOT / "hub"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}  # Flask adds these to every route


# ---- reading the doc ----------------------------------------------------------------------------

def prose(doc: str) -> str:
    """The doc without its fenced code blocks (examples are not where things are documented)."""
    return re.sub(r"^```.*?^```", "", doc, flags=re.S | re.M)


def expand_optional(path: str) -> set[str]:
    """'/a[/b]/c' -> {'/a/c', '/a/b/c'} (any number of optional parts, not nested)."""
    match = re.search(r"\[([^\[\]]*)\]", path)
    if not match:
        return {path}
    head, tail = path[:match.start()], path[match.end():]
    return expand_optional(head + tail) | expand_optional(head + match.group(1) + tail)


def documented_routes(doc: str) -> set[tuple[str, str]]:
    """(method, path) for every "`METHOD /path`" span of the doc."""
    found = set()
    for span in re.findall(r"`([^`\n]+)`", prose(doc)):
        match = re.match(rf"({'|'.join(METHODS)}) (/\S*)$", span.strip())
        if match:
            for path in expand_optional(match.group(2)):
                found.add((match.group(1), path.split("?", 1)[0]))
    return found


def section(doc: str, heading: str) -> str:
    """The text under the heading line that is, or starts with, `heading` ("#### Namespace `/class`"
    finds "#### Namespace `/class` (tablets)") up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = prose(doc).splitlines()
    start = next((i for i, line in enumerate(lines) if line == heading or line.startswith(heading + " ")), None)
    if start is None:
        return ""
    out = []
    for line in lines[start + 1:]:
        marks = len(line) - len(line.lstrip("#"))
        if 0 < marks <= level and line[marks:marks + 1] == " ":
            break
        out.append(line)
    return "\n".join(out)


def tables(text: str) -> list[list[list[str]]]:
    """Markdown tables of `text`: rows of cells (the header row first, the --- row dropped)."""
    found, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


def names_in(cell: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", cell))


def namespace_events(doc: str, namespace: str) -> dict[str, dict[str, str]]:
    """{"client": {event: row text}, "hub": {event: row text}} for the namespace's section."""
    found: dict[str, dict[str, str]] = {"client": {}, "hub": {}}
    body = section(doc, f"#### Namespace `{namespace}`")
    for table in tables(body):
        head = table[0][0].lower()
        side = "hub" if head.startswith("the hub sends") else "client" if head.endswith("sends") else None
        if side is None:
            continue
        for row in table[1:]:
            for name in names_in(row[0]):
                found[side][name] = " | ".join(row)
    return found


def error_rows(doc: str) -> dict[str, str]:
    """code -> its status cell, from the tables under "## Errors"."""
    rows = {}
    for table in tables(section(doc, "## Errors")):
        for row in table[1:]:
            for code in names_in(row[0]):
                rows[code] = row[1] if len(row) > 1 else ""
    return rows


# ---- reading the code -----------------------------------------------------------------------------

def app_routes(tmp_path: Path) -> set[tuple[str, str]]:
    from hub.app import build_app
    from hub.config import load_config

    config = load_config(environ={}, overrides={"testing": {"fault_injection": True}, "teacher": {"pin": "2468"},
                                                "classroom": {"data_dir": str(tmp_path)}})
    app = build_app(config, start=False)
    routes = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - AUTOMATIC_METHODS:
            routes.add((method, path))
    return routes


def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def client_events() -> dict[str, set[str]]:
    """namespace -> the events its class handles (`on_*`, without connect/disconnect)."""
    found = {}
    for cls in (live.ClassNamespace, live.TeacherNamespace):
        namespace = _namespace_of(cls.__name__)
        found[namespace] = {name[3:] for name in vars(cls) if name.startswith("on_")} - {"connect", "disconnect"}
    return found


def _namespace_of(class_name: str) -> str:
    """The literal namespace a Namespace subclass of live.py gives `super().__init__`."""
    for node in ast.walk(_parsed(Path(live.__file__))):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and _call_name(call) == "__init__" and call.args \
                        and _literal(call.args[0]):
                    return _literal(call.args[0])
    raise AssertionError(f"cannot find the namespace of {class_name} in hub/web/live.py")


def hub_emitted_events() -> dict[str, set[str]]:
    """namespace -> the events live.py emits there with a literal name (emit, to_teachers, to_tablets)."""
    by_helper = {"to_teachers": "/teacher", "to_tablets": "/class"}
    found: dict[str, set[str]] = {"/class": set(), "/teacher": set()}
    tree = _parsed(Path(live.__file__))
    for cls in [n for n in tree.body if isinstance(n, ast.ClassDef)]:
        for call in [n for n in ast.walk(cls) if isinstance(n, ast.Call)]:
            name = _call_name(call)
            event = _literal(call.args[0]) if call.args else None
            if name not in ("emit", *by_helper) or event is None:
                continue
            keyword = next((_literal(k.value) for k in call.keywords if k.arg == "namespace"), None)
            if name in by_helper:
                namespace = by_helper[name]
            elif keyword:
                namespace = keyword
            elif cls.name.endswith("Namespace"):
                namespace = _namespace_of(cls.name)
            else:
                raise AssertionError(f"hub/web/live.py:{call.lineno}: cannot tell which namespace emits {event!r}")
            found.setdefault(namespace, set()).add(event)
    return found


def bus_events() -> set[str]:
    """Every event kind published with a literal name anywhere in hub/ (x.publish("kind", ...))."""
    found = set()
    for path in HUB.rglob("*.py"):
        for call in [n for n in ast.walk(_parsed(path)) if isinstance(n, ast.Call)]:
            if isinstance(call.func, ast.Attribute) and call.func.attr == "publish" and call.args \
                    and _literal(call.args[0]):
                found.add(_literal(call.args[0]))
    return found


def error_codes() -> dict[str, set[int]]:
    """code -> the HTTP statuses it is sent with: HubError subclasses, ClassStateError(..., "code")
    anywhere in hub/, and the web layer's own codes (hub/web/errors.py)."""
    codes: dict[str, set[int]] = {}

    def walk(cls: type) -> None:
        if cls.__module__.split(".")[0] == "hub":  # not quantize's (a CLI's), imported by other tests
            codes.setdefault(cls.code, set()).add(cls.status)
        for sub in cls.__subclasses__():
            walk(sub)

    walk(HubError)
    for path in HUB.rglob("*.py"):
        for call in [n for n in ast.walk(_parsed(path)) if isinstance(n, ast.Call)]:
            if _call_name(call) == ClassStateError.__name__:
                given = call.args[1] if len(call.args) > 1 else \
                    next((k.value for k in call.keywords if k.arg == "code"), None)
                if given is not None:
                    code = _literal(given)
                    assert code, f"{path}:{call.lineno}: ClassStateError with a code that is not a literal"
                    codes.setdefault(code, set()).add(ClassStateError.status)
    web_errors = _parsed(HUB / "web" / "errors.py")
    for function in [n for n in web_errors.body if isinstance(n, ast.FunctionDef)]:
        for node in ast.walk(function):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values):
                    if isinstance(key, ast.Constant) and isinstance(key.value, int) and _literal(value):
                        codes.setdefault(_literal(value), set()).add(key.value)  # {404: "not_found", ...}
                    elif _literal(key) == "code" and _literal(value):
                        codes.setdefault(_literal(value), set())
            elif isinstance(node, ast.Call) and _call_name(node) == "get" and len(node.args) > 1 \
                    and _literal(node.args[1]):
                codes.setdefault(_literal(node.args[1]), set())  # the mapping's default: "http_error"
    for code in ("http_error", "internal_error"):
        codes.setdefault(code, set())
    return codes


# ---- what is missing ----------------------------------------------------------------------------

def undocumented_routes(doc: str, routes: set[tuple[str, str]]) -> list[str]:
    documented = documented_routes(doc)
    return sorted(f"`{m} {p}`" for m, p in routes if (m, p) not in documented)


def undocumented_events(doc: str, client: dict[str, set[str]], emitted: dict[str, set[str]],
                        published: set[str]) -> list[str]:
    missing = []
    for namespace, events in client.items():
        listed = namespace_events(doc, namespace)["client"]
        missing += [f"{namespace}: the client sends `{e}`" for e in sorted(events) if e not in listed]
    wanted = {ns: set(events) for ns, events in emitted.items()}
    for kind in published:  # Live forwards every bus event to the dashboard; model events as model_state
        wanted.setdefault("/teacher", set()).add("model_state" if kind in live.MODEL_EVENTS else kind)
    for namespace, events in wanted.items():
        listed = namespace_events(doc, namespace)["hub"]
        missing += [f"{namespace}: the hub sends `{e}`" for e in sorted(events) if e not in listed]
    model_row = namespace_events(doc, "/teacher")["hub"].get("model_state", "")
    missing += [f"/teacher: `model_state` event `{k}`" for k in sorted(published & live.MODEL_EVENTS)
                if f"`{k}`" not in model_row]
    return missing


def undocumented_errors(doc: str, codes: dict[str, set[int]]) -> list[str]:
    rows = error_rows(doc)
    missing = []
    for code, statuses in sorted(codes.items()):
        if code not in rows:
            missing.append(f"`{code}` (no row in the table under ## Errors)")
            continue
        written = {int(s) for s in re.findall(r"\b\d{3}\b", rows[code])}
        if written and statuses and not statuses <= written:
            missing.append(f"`{code}`: status {sorted(statuses)}, the doc says {rows[code]!r}")
    return missing


# ---- the tests -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


def test_every_route_is_documented(doc, tmp_path):
    routes = app_routes(tmp_path)
    assert ("POST", "/api/models/{name}/predict") in routes and ("POST", "/api/testing/faults") in routes
    missing = undocumented_routes(doc, routes)
    assert not missing, "routes missing from docs/API.md: " + ", ".join(missing)


def test_every_documented_route_exists(doc, tmp_path):
    routes = app_routes(tmp_path)
    stale = sorted(f"`{m} {p}`" for m, p in documented_routes(doc) if (m, p) not in routes)
    assert not stale, "docs/API.md documents routes the hub does not have: " + ", ".join(stale)


def test_every_socketio_event_is_documented(doc):
    client, emitted, published = client_events(), hub_emitted_events(), bus_events()
    # the scans see what they must, so that a broken scan cannot pass for a documented API
    assert {"join", "next", "answer", "classify", "predict"} <= client["/class"]
    assert {"class_ended", "kicked", "class_state", "activity"} <= emitted["/class"]
    assert {"snapshot", "stats", "model_state"} <= emitted["/teacher"]
    assert {"answer", "student_joined", "fallback", "recovered", "models_changed"} <= published
    missing = undocumented_events(doc, client, emitted, published)
    assert not missing, "Socket.IO events missing from docs/API.md: " + "; ".join(missing)


def test_every_error_code_is_documented(doc):
    codes = error_codes()
    assert {"bad_input", "accelerator_unavailable", "nickname_taken", "not_found", "http_error"} <= set(codes)
    missing = undocumented_errors(doc, codes)
    assert not missing, "error codes missing from docs/API.md (or with the wrong status): " + "; ".join(missing)


def test_the_guards_see_what_is_missing(doc, tmp_path):
    """Each guard fails when a line goes: without these, the tests above could pass on anything."""
    routes = app_routes(tmp_path)
    without_predict = "\n".join(line for line in doc.splitlines() if "/predict`" not in line)
    assert "`POST /api/models/{name}/predict`" in undocumented_routes(without_predict, routes)
    without_versions = doc.replace("[/versions/{version}]", "")
    assert "`GET /v2/models/{name}/versions/{version}`" in undocumented_routes(without_versions, routes)

    client, emitted, published = client_events(), hub_emitted_events(), bus_events()
    assert undocumented_events(doc, {**client, "/class": client["/class"] | {"shout"}}, emitted, published) \
        == ["/class: the client sends `shout`"]
    assert "/class: the hub sends `kicked`" in undocumented_events(doc.replace("| `kicked` |", "| kicked |"),
                                                                   client, emitted, published)
    assert "/teacher: the hub sends `heard`" in undocumented_events(doc.replace("| `heard` |", "| heard |"),
                                                                    client, emitted, published)
    assert "/teacher: `model_state` event `recovered`" in undocumented_events(
        doc.replace("`recovered`", "recovered"), client, emitted, published)

    codes = error_codes()
    assert "`melted` (no row in the table under ## Errors)" in undocumented_errors(doc, {**codes, "melted": {500}})
    assert undocumented_errors(doc.replace("| `paused` | 409 |", "| `paused` | 400 |"), codes) \
        == ["`paused`: status [409], the doc says '400'"]
