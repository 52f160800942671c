"""classroom-quantize: build a recipe into a served model (train, convert, measure, gate, write)."""
from __future__ import annotations

import argparse
import hashlib
import platform
import sys
import time
from pathlib import Path

from hub.errors import HubError
from hub.manifest import SCHEMA_VERSION

from .errors import GateRefused, QuantizeError


def _step(message: str) -> None:
    print(f"[classroom-quantize] {message}", flush=True)


def _seed_everything(seed: int) -> None:
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build(recipe_name: str, out: Path, seed: int, max_drop: float, epochs: int | None) -> int:
    from .recipes import RECIPES

    if recipe_name not in RECIPES:
        raise QuantizeError(f"unknown recipe {recipe_name!r}; known recipes: {', '.join(sorted(RECIPES))}")
    recipe = RECIPES[recipe_name]
    started = time.time()
    import tensorflow as tf

    from .convert import to_float32, to_full_int8
    from .evaluate import evaluate
    from .writer import file_entry, write_model

    _seed_everything(seed)
    data = recipe.load(seed)
    _step(f"{recipe.name}: {len(data.x_train)} training and {len(data.x_test)} held-out samples ({data.source})")
    model = recipe.build()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=epochs or recipe.epochs, batch_size=32, verbose=2,
              validation_split=0.1)
    shape = tuple(data.x_train.shape[1:])
    _step("converting: float32 reference and full int8")
    float_model = to_float32(model, shape)
    rng = __import__("numpy").random.default_rng(seed)
    calibration = data.x_train[rng.choice(len(data.x_train), size=min(300, len(data.x_train)), replace=False)]
    int8_model = to_full_int8(model, shape, calibration)
    _step("evaluating both in LiteRT on the held-out data")
    f32 = evaluate(float_model, data.x_test, data.y_test)
    q8 = evaluate(int8_model, data.x_test, data.y_test)
    drop = (f32.accuracy - q8.accuracy) * 100
    rows = [("variant", "accuracy", "size", "median invoke"),
            ("float32", f"{f32.accuracy:.2%}", f"{len(float_model) / 1024:.1f} KB", f"{f32.median_invoke_ms:.3f} ms"),
            ("int8", f"{q8.accuracy:.2%}", f"{len(int8_model) / 1024:.1f} KB", f"{q8.median_invoke_ms:.3f} ms")]
    for row in rows:
        print("  ".join(c.ljust(14) for c in row))
    if drop > max_drop:
        raise GateRefused(f"int8 lost {drop:.2f} points of accuracy against float (limit {max_drop}); "
                          "nothing was written. Try more calibration data or quantization-aware training.")
    data_hash = hashlib.sha256(data.x_train.tobytes() + data.y_train.tobytes()).hexdigest()
    files = {f"{recipe.name}_int8.tflite": int8_model, f"{recipe.name}_float32.tflite": float_model}
    manifest = {
        "schema": SCHEMA_VERSION,
        "name": recipe.name,
        "task": recipe.task,
        "labels": list(recipe.labels),
        "input": {"shape": [1, *shape], "dtype": "int8", "preprocess": recipe.preprocess},
        "variants": {
            "cpu": file_entry(f"{recipe.name}_int8.tflite", int8_model, accuracy=round(q8.accuracy, 4),
                              median_invoke_ms=round(q8.median_invoke_ms, 4)),
            "float": file_entry(f"{recipe.name}_float32.tflite", float_model, accuracy=round(f32.accuracy, 4),
                                median_invoke_ms=round(f32.median_invoke_ms, 4)),
        },
        "metrics": {"accuracy_drop_points": round(drop, 3), "held_out": len(data.x_test),
                    "size_ratio_int8_to_float": round(len(int8_model) / len(float_model), 4)},
        "provenance": {"recipe": recipe.name, "data": data.source, "data_sha256": data_hash, "seed": seed,
                       "tensorflow": tf.__version__, "python": platform.python_version(),
                       "built_in_s": round(time.time() - started, 1)},
    }
    folder = write_model(out, recipe.name, files, manifest)
    _step(f"wrote {folder} (int8 {q8.accuracy:.2%}, drop {drop:.2f} points) in {time.time() - started:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="classroom-quantize", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="train a recipe and write its int8 model with a manifest")
    b.add_argument("recipe", help="digits")
    b.add_argument("--out", type=Path, default=Path("models"), help="models folder (default ./models)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--max-drop", type=float, default=1.0, help="refuse if int8 loses more accuracy points")
    b.add_argument("--epochs", type=int, help="override the recipe's epochs")
    args = parser.parse_args(argv)
    try:
        return build(args.recipe, args.out, args.seed, args.max_drop, args.epochs)
    except ImportError as exc:
        print(f"error: {exc.name or exc} is missing; install the quantize extra: pip install -e '.[quantize]'",
              file=sys.stderr)
        return 2
    except HubError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 3 if isinstance(exc, GateRefused) else 2


if __name__ == "__main__":
    sys.exit(main())
