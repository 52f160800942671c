"""What every benchmark ends with: its JSON kept in bench/results/NAME.json (ignored by git),
then the JSON and a human table on stdout."""
from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def publish(name: str, result: dict, table: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    (RESULTS / f"{name}.json").write_text(text + "\n")
    print(text)
    print()
    print(table)
