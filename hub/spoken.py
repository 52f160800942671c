"""A whole answer said in one go ("four two"), classified word by word: `split` on classify.

REST (`?split=1`) and Socket.IO (`split: true`) both call `classify_words`, so a tablet gets the
same segments whichever way it asks. The task finds the words (`prepare_words`: frame energy over
the recording's own noise floor, at most audio.MAX_WORDS of them) and makes each word's tensors
as it makes one recording's; each is then one ordinary invoke and decode, so a segment's
predictions are what classify says for that part of the recording sent alone. A request's work
is bounded by MAX_WORDS invokes, and its memory by the decode budget, as any recording's.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Mapping

from .errors import BadInput, HubError

if TYPE_CHECKING:
    from .service import Hub
    from .tasks import Media

YES, NO = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def wants_split(given: Mapping[str, object]) -> bool:
    """`split` of a request: true/false (Socket.IO), or 1/0, true/false, yes/no (a query string)."""
    raw = given.get("split")
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in YES | NO:
        return raw.strip().lower() in YES
    raise BadInput(f"split must be true or false, not {str(raw)[:40]!r}")


def classify_words(hub: "Hub", name: str, media: "Media", given: Mapping[str, object],
                   api: str = "rest") -> dict:
    """{model, segments: [{start_ms, end_ms, predictions}]}: in order; [] when nothing was said."""
    started = time.perf_counter()
    entry, task = hub.task_of(name)
    try:
        if not task.classifier:
            raise BadInput(f"model {name!r} is a {task.name} model, not a classifier: "
                           f"POST /api/models/{name}/predict")
        task.require_media(media, name)
        prepare_words = getattr(task, "prepare_words", None)
        if prepare_words is None:  # only a task that hears words can split them
            raise BadInput(f"split is for a spoken answer; model {name!r} is a {task.name} model: "
                           "send it without split")
        options = task.options(given, hub.config.limits)
        words = prepare_words(media, entry.spec, hub.config.limits, hub.decodes)
    except HubError as exc:
        hub.metrics.record(name, api, "none", exc.code)
        raise
    segments = []
    for word in words:
        entry, result = hub.run(name, word.inputs, api, started)
        decoded = task.decode(result.outputs, entry.spec, options)
        segments.append({"start_ms": word.start_ms, "end_ms": word.end_ms, **decoded.to_json()})
    return {"model": name, "segments": segments}
