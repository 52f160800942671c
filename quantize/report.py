"""report.json, report.md and report.png (accuracy against size) beside the model they describe."""
from __future__ import annotations

import io
import json

from .pipeline import Outcome


def report_json(outcome: Outcome, manifest: dict) -> bytes:
    data = {"name": outcome.name, "shipped": outcome.shipped.name,
            "accuracy_drop_points": round(outcome.drop_points, 3),
            "variants": [r.to_json() for r in outcome.results], "held_out_group": outcome.held_out,
            "edgetpu": outcome.edgetpu, "provenance": manifest.get("provenance", {})}
    return (json.dumps(data, indent=2) + "\n").encode()


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2%}"


def report_md(outcome: Outcome, manifest: dict) -> bytes:
    ref, shipped = outcome.float_result, outcome.shipped
    prov = manifest.get("provenance", {})
    lines = [f"# {outcome.name}: quantization report", "",
             (f"Shipped: **{shipped.name}** ({shipped.description}), {_pct(shipped.accuracy)} on held-out data "
              f"against float32 {_pct(ref.accuracy)} (drop {outcome.drop_points:.2f} points); "
              f"{shipped.size / 1024:.1f} KB = {shipped.size / ref.size:.3f} of float32."), "",
             (f"Data: {prov.get('data', '')}. Split: {prov.get('split', '')}. Seed {prov.get('seed', '')}. "
              f"Built with {prov.get('converter', '')}, evaluated in {prov.get('evaluated_with', '')} "
              f"(one thread) on {prov.get('machine', '')}."), "",
             "| variant | accuracy | agreement with float32 | size | gzip | median invoke |",
             "|---|---|---|---|---|---|"]
    for r in outcome.results:
        if not r.content:
            lines.append(f"| {r.name} | skipped: {r.skipped} | | | | |")
            continue
        mark = " (shipped)" if r is shipped else ""
        lines.append(f"| {r.name}{mark} | {_pct(r.accuracy)} | {_pct(r.agreement)} | {r.size / 1024:.1f} KB | "
                     f"{r.gzip_size / 1024:.1f} KB | {r.median_invoke_ms:.4f} ms |")
    made = [r for r in outcome.results if r.content and r.conditions]
    if made:
        names = list(made[0].conditions)
        lines += ["", "## Classroom conditions (accuracy on the held-out data, degraded)", "",
                  "| variant | clean | " + " | ".join(names) + " |", "|---" * (len(names) + 2) + "|"]
        for r in made:
            lines.append(f"| {r.name} | {_pct(r.accuracy)} | " + " | ".join(_pct(r.conditions[n]) for n in names) + " |")
    if outcome.held_out:
        h = outcome.held_out
        lines += ["", f"## Held-out group: {h['name']}", "",
                  (f"A second model trained without them: float32 {_pct(h.get('float32'))}, "
                   f"int8 {_pct(h.get('int8'))} on {h.get('samples')} recordings.")]
    speed = {r.name: r.median_invoke_ms for r in outcome.results if r.content}
    if speed.get("float32") and shipped.median_invoke_ms and shipped.median_invoke_ms > speed["float32"]:
        lines += ["", "## Why int8 is slower here",
                  (f"int8 invokes in {shipped.median_invoke_ms:.4f} ms against float32 {speed['float32']:.4f} ms "
                   "on this machine. In a model this small, fixed costs per op (requantizing each output) can "
                   "outweigh the arithmetic int8 saves. Measured here, not on a Pi: time it there "
                   "(bench/serve.py) before choosing; int8 is still the only variant the Edge TPU runs.")]
    et = outcome.edgetpu
    if et:
        check = et.get("check", {})
        comp = et.get("compiler", {})
        lines += ["", "## Edge TPU", "",
                  f"Our check: **{check.get('verdict')}**: {check.get('summary')}."]
        lines += [f"- problem: {p}" for p in check.get("problems", [])]
        if comp.get("status") == "compiled":
            lines.append(f"Compiled with edgetpu_compiler {comp.get('version')}: {comp.get('ops_on_edgetpu')} of "
                         f"{comp.get('total_ops')} ops on the Edge TPU, on-chip {comp.get('on_chip_bytes')} B, "
                         f"off-chip {comp.get('off_chip_bytes')} B.")
        else:
            lines.append(f"Compiler: {comp.get('status')}. {comp.get('note') or comp.get('error') or ''}")
    lines += ["", "![accuracy against size](report.png)", ""]
    return "\n".join(lines).encode()


def report_png(outcome: Outcome) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = any(r.accuracy is not None for r in outcome.results)
    # without labelled data (convert without --eval) agreement with float32 is what was measured

    def score(r) -> float | None:
        value = r.accuracy if measured else r.agreement
        return None if value is None else value * 100

    made = [r for r in outcome.results if r.content and score(r) is not None]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    groups: dict[tuple[float, float], list] = {}  # variants that land on the same spot share one label
    for r in made:
        key = (round(r.size / 1024 / 20) * 20, round(score(r), 2))  # within 20 KB: one spot
        groups.setdefault(key, []).append(r)
    for (size_kb, accuracy), members in groups.items():
        shipped = any(r is outcome.shipped for r in members)
        colour = "#c0392b" if shipped else ("#2c3e50" if members[0].int8 else "#7f8c8d")
        size_kb = members[0].size / 1024
        ax.scatter(size_kb, accuracy, s=70 if shipped else 40, color=colour, zorder=3)
        names = "\n".join(r.name + (" (shipped)" if r is outcome.shipped else "") for r in members)
        ax.annotate(names, (size_kb, accuracy), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlim(0, max((r.size for r in made), default=1024) / 1024 * 1.3)
    ax.margins(y=0.15)
    ax.set_xlabel("file size (KB)")
    what = "held-out accuracy" if measured else "top-1 agreement with float32"
    ax.set_ylabel(f"{what} (%)")
    ax.set_title(f"{outcome.name}: every variant, {what} against size")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
