"""Request counters and latency histograms, rendered in the Prometheus text format.

Only what happens per request is counted here; state (queue depth, backend, TPU health,
fallbacks) is read from the engines when /metrics is scraped, so it is never kept twice.
"""
from __future__ import annotations

import bisect
import threading
from collections import defaultdict, deque
from typing import Iterable

BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(pairs: Iterable[tuple[str, object]]) -> str:
    def esc(v: object) -> str:
        return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    inner = ",".join(f'{k}="{esc(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS_S) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS_S, seconds)] += 1
        self.total += seconds
        self.n += 1


class RequestMetrics:
    """Per model, backend and outcome: how many requests, and how long they took."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str, str], int] = defaultdict(int)
        self.latency: dict[tuple[str, str, str], Histogram] = defaultdict(Histogram)
        self._recent: dict[str, deque] = defaultdict(lambda: deque(maxlen=200))  # the dashboard's live view

    def record(self, model: str, api: str, backend: str, outcome: str,
               total_s: float | None = None, inference_s: float | None = None) -> None:
        with self._lock:
            self.requests[(model, api, backend, outcome)] += 1
            if total_s is not None:
                self.latency[(model, backend, "total")].observe(total_s)
                self._recent[model].append(total_s)
            if inference_s is not None:
                self.latency[(model, backend, "inference")].observe(inference_s)

    def recent(self, model: str) -> dict:
        """Median and 95th percentile of the last 200 requests' time in the hub, in ms."""
        with self._lock:
            values = sorted(self._recent.get(model, ()))
        if not values:
            return {"p50_ms": None, "p95_ms": None, "n": 0}
        pick = lambda q: round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 2)  # noqa: E731
        return {"p50_ms": pick(0.5), "p95_ms": pick(0.95), "n": len(values)}

    def render(self) -> list[str]:
        with self._lock:
            requests = dict(self.requests)
            latency = {k: (list(h.counts), h.total, h.n) for k, h in self.latency.items()}
        lines = [
            "# HELP classroom_hub_requests_total Inference requests by model, API, backend and outcome.",
            "# TYPE classroom_hub_requests_total counter",
        ]
        for (model, api, backend, outcome), n in sorted(requests.items()):
            lines.append("classroom_hub_requests_total"
                         + _labels([("model", model), ("api", api), ("backend", backend), ("outcome", outcome)])
                         + f" {n}")
        lines += [
            "# HELP classroom_hub_latency_seconds Request latency: total in the hub, or the invoke alone.",
            "# TYPE classroom_hub_latency_seconds histogram",
        ]
        for (model, backend, stage), (counts, total, n) in sorted(latency.items()):
            base = [("model", model), ("backend", backend), ("stage", stage)]
            running = 0
            for bound, count in zip(list(BUCKETS_S) + ["+Inf"], counts):
                running += count
                lines.append("classroom_hub_latency_seconds_bucket" + _labels(base + [("le", bound)]) + f" {running}")
            lines.append("classroom_hub_latency_seconds_sum" + _labels(base) + f" {total:.6f}")
            lines.append("classroom_hub_latency_seconds_count" + _labels(base) + f" {n}")
        return lines


def gauge(name: str, help_text: str, samples: Iterable[tuple[list[tuple[str, object]], float]],
          kind: str = "gauge") -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples]
    return lines


def _number(value: float) -> str:
    """Whole numbers in full (bytes held: "%g" would round 2097152 to 2.09715e+06), others short."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{value:g}"
    return str(value)
