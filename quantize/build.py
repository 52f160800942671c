"""`classroom-quantize build RECIPE`: train, make every variant, measure, gate, write the folder."""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import progress
from .errors import QuantizeError
from .evaluate import evaluate
from .pipeline import (
    Outcome,
    calibration_set,
    choose_and_gate,
    edgetpu_section,
    environment,
    make_variants,
    manifest_for,
    measure,
    print_summary,
    seed_everything,
    train,
)
from .variants import convert
from .writer import file_entry, write_model


@dataclass(frozen=True)
class BuildOptions:
    out: Path
    seed: int = 0
    max_drop: float = 1.0
    epochs: int | None = None
    fine_tune_epochs: int | None = None
    data: Path | None = None
    held_out: bool = True
    min_runtime: int | None = None
    num_segments: int | None = None


def build_recipe(recipe_name: str, options: BuildOptions) -> Outcome:
    from .recipes import RECIPES

    if recipe_name not in RECIPES:
        raise QuantizeError(f"unknown recipe {recipe_name!r}; known recipes: {', '.join(sorted(RECIPES))}")
    recipe = RECIPES[recipe_name]
    started = time.time()
    seed_everything(options.seed)
    data = recipe.load(options.seed, options.data)
    progress.step(f"{recipe.name}: {len(data.x_train)} training, {len(data.x_val)} validation and "
                  f"{len(data.x_test)} held-out samples ({data.source})")
    epochs = options.epochs or recipe.epochs
    fine_tune = options.fine_tune_epochs or max(2, epochs // 5)
    shape = tuple(data.x_train.shape[1:])
    model = train(recipe.build(), data, epochs, recipe.batch_size)
    calibration = calibration_set(data.x_train, options.seed)
    progress.step("converting every variant")
    results = make_variants(model, shape, calibration, data, fine_tune, recipe.batch_size)
    progress.step("evaluating every variant in LiteRT, clean and under classroom conditions")
    measure(results, data.x_test, data.y_test, data.conditions, data.x_val, data.y_val)
    held_out = None
    if recipe.held_out and options.held_out:
        group = recipe.held_out(options.seed, options.data)
        progress.step(f"held-out group: training a second model without {group.name}")
        seed_everything(options.seed)
        other = train(recipe.build(), group.dataset, epochs, recipe.batch_size, desc="train (held-out split)")
        other_shape = tuple(group.dataset.x_train.shape[1:])
        f32 = evaluate(convert(other, other_shape, "float32"), group.dataset.x_test, group.dataset.y_test)
        q8 = evaluate(convert(other, other_shape, "int8", calibration_set(group.dataset.x_train, options.seed)),
                      group.dataset.x_test, group.dataset.y_test)
        held_out = {"name": group.name, "split": group.dataset.split, "samples": len(group.dataset.y_test),
                    "float32": round(f32.accuracy, 4), "int8": round(q8.accuracy, 4)}
    reference, shipped, drop = _gate(results, options.max_drop, recipe.name)
    outcome = Outcome(recipe.name, results, shipped, reference, drop, held_out)
    with tempfile.TemporaryDirectory() as work:
        outcome.edgetpu, edgetpu_bytes = edgetpu_section(shipped, recipe.name, Path(work), options.min_runtime,
                                                         options.num_segments)
    files = {f"{recipe.name}_int8.tflite": shipped.content, f"{recipe.name}_float32.tflite": reference.content}
    variants = {
        "cpu": file_entry(f"{recipe.name}_int8.tflite", shipped.content, accuracy=round(shipped.accuracy, 4),
                          median_invoke_ms=round(shipped.median_invoke_ms, 4), variant=shipped.name),
        "float": file_entry(f"{recipe.name}_float32.tflite", reference.content,
                            accuracy=round(reference.accuracy, 4),
                            median_invoke_ms=round(reference.median_invoke_ms, 4)),
    }
    if edgetpu_bytes:
        files[f"{recipe.name}_int8_edgetpu.tflite"] = edgetpu_bytes
        variants["edgetpu"] = file_entry(f"{recipe.name}_int8_edgetpu.tflite", edgetpu_bytes,
                                         accuracy=round(shipped.accuracy, 4))
    provenance = {"recipe": recipe.name, "data": data.source, "split": data.split,
                  "data_sha256": data.sha256(), "seed": options.seed, "epochs": epochs,
                  "fine_tune_epochs": fine_tune, "licence": recipe.licence, **environment(),
                  "built_in_s": round(time.time() - started, 1)}
    manifest = manifest_for(recipe.name, recipe.task, recipe.labels, shape, recipe.preprocess, outcome, variants,
                            provenance)
    outcome.folder = _write(options.out, recipe.name, files, manifest, outcome)
    print_summary(outcome)
    progress.step(f"wrote {outcome.folder}: {shipped.name} {shipped.accuracy:.2%}, drop {drop:.2f} points, "
                  f"{shipped.size / reference.size:.3f} of float32, in {time.time() - started:.0f} s")
    return outcome


def _gate(results, max_drop: float, name: str):
    try:
        return choose_and_gate(results, max_drop)
    except QuantizeError:  # show the figures that led to the refusal
        by = {r.name: r for r in results}
        print_summary(Outcome(name, results, by["int8"], by["float32"], 0.0))
        raise


def _write(out: Path, name: str, files: dict[str, bytes], manifest: dict, outcome: Outcome) -> Path:
    from .report import report_json, report_md, report_png

    files = dict(files)
    files["report.json"] = report_json(outcome, manifest)
    files["report.md"] = report_md(outcome, manifest)
    files["report.png"] = report_png(outcome)
    return write_model(out, name, files, manifest)
