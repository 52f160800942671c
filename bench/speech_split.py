#!/usr/bin/env python3
"""How well the hub splits a whole spoken answer ("four two") into digits (issue 16, item 5).

Random answers of two and three recordings of the Free Spoken Digit Dataset's test split (recordings
0-4 of each speaker and digit, which the model never trained on; --all for every one; different
digits, different speakers) joined by 150-400 ms pauses (or 0-100 ms: run together), none, all or
half of them over a quiet hiss 25 dB under the quietest word, at 8, 16 and 48 kHz, sent to the
bundled spoken-digits model through the hub's own REST classify with ?split=1 (in process: the real
app, registry and interpreter). Per set: answers cut into the right number of segments, digits
heard right out of digits said, the share of segments labelled as that recording sent alone, and
the median time of a split request. The mixing is tests/test_speech_split.py's. Prints JSON (also
bench/results/speech_split.json) and a table. Skips (exit 0) when ../shared/data/fsdd is absent.

    python bench/speech_split.py [--answers 100] [--seed 0]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import publish  # noqa: E402
from tests.conftest import BUNDLED, InProcessHub, copy_model  # noqa: E402
from tests.test_speech_split import FSDD, measure  # noqa: E402

PAUSES, HARDLY = (0.15, 0.4), (0.0, 0.1)  # s between two words: as asked ("leave a little pause"), and run together
SETS = [(2, 8000, 0.0, PAUSES), (2, 8000, 1.0, PAUSES), (3, 8000, 0.5, PAUSES), (2, 16000, 0.5, PAUSES),
        (2, 48000, 0.5, PAUSES), (2, 16000, 0.5, HARDLY), (3, 16000, 0.5, HARDLY)]  # words, rate, hissed, pauses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--all", action="store_true", help="every recording, not only FSDD's test split")
    args = parser.parse_args()
    files = sorted(FSDD.glob("*.wav")) if FSDD.is_dir() else []
    if not args.all:  # the model was trained on the rest: recordings 0-4 of each speaker and digit are its test split
        files = [f for f in files if int(f.stem.split("_")[2]) < 5]
    if not files:
        print(f"skipped: the Free Spoken Digit Dataset is not in {FSDD}")
        return 0
    work = Path(tempfile.mkdtemp(prefix="speech-split-"))
    try:
        (work / "models").mkdir()
        copy_model(BUNDLED / "spoken-digits", work / "models")
        app = InProcessHub(work / "models", work)
        try:
            results = [measure(app, files, args.answers, words, args.seed, rate, hissed, pauses)
                       for words, rate, hissed, pauses in SETS]
        finally:
            app.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    overall = {}
    for name, pauses in (("paused", PAUSES), ("run_together", HARDLY)):
        chosen = [r for r in results if r["pauses_ms"] == [round(p * 1000) for p in pauses]]
        said, right = sum(r["digits_said"] for r in chosen), sum(r["digits_right"] for r in chosen)
        overall[name] = {"digits_said": said, "digits_right": right, "accuracy": round(right / said, 4),
                         "answers": sum(r["answers"] for r in chosen),
                         "answers_cut_right": sum(r["answers_cut_right"] for r in chosen)}
    result = {"model": "spoken-digits", "seed": args.seed, "recordings": "all" if args.all else "test split (0-4)",
              "sets": results, "overall": overall}
    lines = [f"{'words':>5} {'rate':>6} {'hissed':>6} {'pauses ms':>9} {'answers':>7} {'cut right':>9} "
             f"{'digits right':>13} {'accuracy':>8} {'as alone':>8} {'split p50 ms':>12}"]
    for r in results:
        pauses = "-".join(str(p) for p in r["pauses_ms"])
        lines.append(f"{r['words']:>5} {r['rate']:>6} {r['hiss_share']:>6.0%} {pauses:>9} {r['answers']:>7} "
                     f"{r['answers_cut_right']:>9} {r['digits_right']:>6}/{r['digits_said']:<6} {r['accuracy']:>8.3f} "
                     f"{r['same_as_alone']:>8.3f} {r['split_ms_p50']:>12.1f}")
    for name, o in overall.items():
        lines.append(f"{name.replace('_', ' ')}: {o['answers_cut_right']}/{o['answers']} answers cut right, "
                     f"{o['digits_right']}/{o['digits_said']} digits right ({o['accuracy']:.3f})")
    publish("speech_split", result, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
