"""classroom-quantize: make int8 models for the hub, measured and gated; check them for the Edge TPU.

  build RECIPE          train a bundled recipe (digits, spoken-digits) and write models/NAME
  convert MODEL         quantize your own Keras model (.keras, .h5 or SavedModel folder)
  edgetpu-check FILE    op by op: what the Edge TPU takes, what compiler 16 refuses, and the fix
  compile FILE          run edgetpu_compiler (when installed) and report what it mapped

Exit codes: 0 done; 1 edgetpu-check found ops that stay on the CPU; 2 bad input or a failure;
3 the accuracy gate refused to ship (nothing was written).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hub.errors import HubError

from .errors import GateRefused, QuantizeError


def _build(args) -> int:
    from .build import BuildOptions, build_recipe

    build_recipe(args.recipe, BuildOptions(args.out, args.seed, args.max_drop, args.epochs, args.fine_tune_epochs,
                                           args.data, not args.no_held_out, args.min_runtime, args.num_segments))
    return 0


def _convert(args) -> int:
    from .convert_user import ConvertOptions, convert_model

    convert_model(ConvertOptions(args.model, args.calib, args.labels, args.out, args.eval, args.train,
                                 tuple(args.input_range), args.task, args.seed, args.max_drop,
                                 args.fine_tune_epochs, args.min_runtime, args.num_segments))
    return 0


def _check(args) -> int:
    from .edgetpu import check, format_report

    path = Path(args.file)
    if not path.is_file():
        raise QuantizeError(f"{path} is not a file")
    report = check(path)
    print(json.dumps(report.to_json(), indent=2) if args.json else format_report(report))
    return 0 if report.verdict in ("ready", "compiled") else 1


def _compile(args) -> int:
    from .compiler import compile_model
    from .edgetpu import check, format_report

    path = Path(args.file)
    if not path.is_file():
        raise QuantizeError(f"{path} is not a file")
    report = check(path)
    print(format_report(report))
    out = args.out or path.parent
    result = compile_model(path, out, args.min_runtime, args.num_segments)
    log = result.log
    print(f"\ncompiled with edgetpu_compiler {log.version}: {log.ops_on_edgetpu} of {log.total_ops} ops on the "
          f"Edge TPU, {log.subgraphs} subgraph(s), on-chip {log.on_chip_bytes} B, off-chip {log.off_chip_bytes} B")
    print(f"wrote {result.output}")
    if args.manifest:
        _merge_into_manifest(Path(args.manifest), result)
    return 0


def _merge_into_manifest(manifest_path: Path, result) -> None:
    """Add the compiled file as the model's edgetpu variant, with the compiler's log figures."""
    from .writer import file_entry

    data = json.loads(manifest_path.read_text())
    target = manifest_path.parent / result.output.name
    if result.output.resolve() != target.resolve():
        target.write_bytes(result.content)
    data.setdefault("variants", {})["edgetpu"] = file_entry(target.name, result.content)
    data.setdefault("edgetpu", {})["compiler"] = {"status": "compiled", **result.log.to_json()}
    tmp = manifest_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(manifest_path)
    print(f"updated {manifest_path}")


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("give LOW,HIGH, for example 0,1 or -1,1 or 0,255") from None
    if hi <= lo:
        raise argparse.ArgumentTypeError("HIGH must be above LOW")
    return lo, hi


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="classroom-quantize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def common(s):
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--max-drop", type=float, default=1.0,
                       help="refuse to ship when int8 loses more accuracy points than this (default 1.0)")
        s.add_argument("--fine-tune-epochs", type=int, help="epochs of QAT, pruning and clustering fine-tuning")
        s.add_argument("-m", "--min-runtime", type=int, help="passed to edgetpu_compiler -m")
        s.add_argument("-n", "--num-segments", type=int, help="passed to edgetpu_compiler -n")

    b = sub.add_parser("build", help="train a recipe and write its int8 model with a manifest and report")
    b.add_argument("recipe", help="digits or spoken-digits")
    b.add_argument("--out", type=Path, default=Path("models"), help="models folder (default ./models)")
    b.add_argument("--data", type=Path, help="dataset folder (spoken-digits: default ../shared/data/fsdd)")
    b.add_argument("--epochs", type=int, help="override the recipe's training epochs")
    b.add_argument("--no-held-out", action="store_true", help="skip the held-out speaker model (faster)")
    common(b)
    b.set_defaults(func=_build)

    c = sub.add_parser("convert", help="quantize your own Keras model for the hub")
    c.add_argument("model", type=Path, help=".keras or .h5 file, or a SavedModel folder")
    c.add_argument("--calib", type=Path, required=True,
                   help="representative data: a folder of images or WAVs, or an .npy of model inputs")
    c.add_argument("--labels", type=Path, required=True, help="labels file, one per line (or Coral's 'N label')")
    c.add_argument("--out", type=Path, required=True, help="the model folder to write, e.g. models/leaves")
    c.add_argument("--eval", type=Path, help="labelled folder (one subfolder per label) to measure and gate")
    c.add_argument("--train", type=Path, help="labelled folder for QAT, pruning and clustering fine-tuning")
    c.add_argument("--input-range", type=_range, default=(0.0, 1.0),
                   help="real values the model expects for pixel 0 and 255 (default 0,1)")
    c.add_argument("--task", choices=["image-classification", "audio-classification"],
                   help="default: from the calibration files")
    common(c)
    c.set_defaults(func=_convert)

    e = sub.add_parser("edgetpu-check", help="what of this .tflite the Edge TPU would run, op by op")
    e.add_argument("file")
    e.add_argument("--json", action="store_true", help="print the report as JSON")
    e.set_defaults(func=_check)

    k = sub.add_parser("compile", help="run edgetpu_compiler when it is installed")
    k.add_argument("file")
    k.add_argument("--out", type=Path, help="output folder (default: beside the file)")
    k.add_argument("--manifest", help="a model's manifest.json to add the edgetpu variant to")
    k.add_argument("-m", "--min-runtime", type=int, help="edgetpu_compiler -m")
    k.add_argument("-n", "--num-segments", type=int, help="edgetpu_compiler -n")
    k.set_defaults(func=_compile)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ImportError as exc:
        print(f"error: {exc.name or exc} is missing; install the quantize extra: pip install -e '.[quantize]'",
              file=sys.stderr)
        return 2
    except HubError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 3 if isinstance(exc, GateRefused) else 2
    except BrokenPipeError:  # `| head` closed the pipe: not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
