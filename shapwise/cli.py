"""The ``shapwise`` command: ``shapwise demo`` and ``shapwise explain --model ... --data ...``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

ALGORITHMS = ("auto", "exact", "permutation", "partition", "kernel", "deep", "gradient")
MAX_BACKGROUND = 100


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shapwise", description="Shapley-value explanations of models saved to disk."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="train small models on bundled data, explain them, write an HTML report"
    )
    demo.add_argument("--out", default="shapwise-report", help="folder for report.html")
    explain = commands.add_parser("explain", help="explain a saved model on saved data")
    explain.add_argument("--model", required=True, help=".pt (TorchScript), .pt2, .keras, .onnx")
    explain.add_argument("--data", required=True, help="rows to explain: .npy .npz .csv .parquet")
    explain.add_argument("--background", help="background rows (default: up to 100 data rows)")
    explain.add_argument("--explainer", choices=ALGORITHMS, default="auto")
    explain.add_argument("--max-evals", type=int, help="model evaluations per row (sampling)")
    explain.add_argument("--out", default="report.html", help="the HTML report to write")
    explain.add_argument(
        "--force", action="store_true", help="replace --out even if it is not a shapwise report"
    )
    header = explain.add_mutually_exclusive_group()
    header.add_argument(
        "--header",
        dest="header",
        action="store_true",
        default=None,
        help="the CSV files' first line names the features (default: told from the line)",
    )
    header.add_argument(
        "--no-header", dest="header", action="store_false", help="the CSV files have no header"
    )
    return parser


def check_out(out: str | Path, inputs: dict[str, str | None], force: bool) -> Path:
    """The report path, refused when it is one of the inputs (through symlinks and relative paths
    too) or an existing file that is not a shapwise report (unless ``force``)."""
    from shapwise._files import is_report

    path = Path(out)
    target = path.resolve()
    for option, given in inputs.items():
        if given is not None and Path(given).resolve() == target:
            raise ValueError(
                f"--out {out} is the {option} file: writing the report there would destroy it; "
                "choose another --out"
            )
    if target.is_dir():
        raise ValueError(f"--out {out} is a folder; give the path of the .html file to write")
    if target.exists() and not force and not is_report(target):
        raise ValueError(
            f"--out {out} exists and is not a shapwise report; choose another path, or pass "
            "--force to replace it"
        )
    return path


def _background(X: np.ndarray, path: str | None, header: bool | None) -> np.ndarray:
    from shapwise.model_io import load_data

    if path is not None:
        background, _ = load_data(path, "background", header=header)
        return background
    if len(X) <= MAX_BACKGROUND:
        return X
    rows = np.random.default_rng(0).choice(len(X), MAX_BACKGROUND, replace=False)
    return X[np.sort(rows)]


def _masker(X: np.ndarray, background: np.ndarray, algorithm: str) -> Any:
    """Images get the Image masker (blurred regions); tables their background, clustered for
    the Partition explainer."""
    from shapwise import maskers

    if X.ndim > 2:
        height, width = X.shape[1], X.shape[2]
        return maskers.Image(f"blur({max(height // 4, 1)},{max(width // 4, 1)})", X.shape[1:])
    if algorithm == "partition":
        return maskers.Partition(background)
    return background


def explain(args: argparse.Namespace) -> int:
    """``shapwise explain``: load the model and data, explain, write the report, print a summary."""
    import shapwise
    from shapwise.model_io import load_data, load_model
    from shapwise.models import Model
    from shapwise.numeric import check_finite
    from shapwise.report import additivity

    if args.explainer in ("deep", "gradient") and args.max_evals is not None:
        raise ValueError(
            f"--max-evals sets the budget of the sampling explainers; the {args.explainer} "
            "explainer does not take one - leave it out"
        )
    out = check_out(
        args.out,
        {"--model": args.model, "--data": args.data, "--background": args.background},
        args.force,
    )
    model = load_model(args.model)
    X, names = load_data(args.data, header=args.header)
    check_finite(X, f"--data {Path(args.data).name}")
    background = _background(X, args.background, args.header)
    check_finite(background, f"--background {args.background}")
    if args.explainer in ("deep", "gradient"):
        if isinstance(model, Model):
            raise ValueError(
                f"the {args.explainer} explainer needs a torch or Keras model; "
                f"{Path(args.model).name} is not one (use exact, permutation or partition)"
            )
        if args.explainer == "deep" and type(model).__module__.startswith("torch.jit"):
            raise ValueError(
                "the deep explainer needs the Python torch module: a TorchScript archive hides the "
                "operations its rules apply to; use --explainer gradient, exact or permutation"
            )
        explainer = shapwise.Explainer(model, background, algorithm=args.explainer)
        explanation = explainer(X)
        if names is not None:
            explanation.feature_names = names
    else:
        masker = _masker(X, background, args.explainer)
        explainer = shapwise.Explainer(model, masker, algorithm=args.explainer, feature_names=names)
        budget = "auto" if args.max_evals is None else args.max_evals
        explanation = explainer(X, max_evals=budget, silent=False)
    if isinstance(explanation, list):
        raise ValueError("the model has several inputs; the command line explains one input")
    path = shapwise.report(explanation, out, title=f"shapwise: {Path(args.model).name}")
    check = additivity(explanation)
    if check.algorithm == "gradient":
        # Expected gradients are a sampling estimate: their gap is the estimate's error.
        summary = (
            f"sampling error of the expected gradients: values + base value are within "
            f"{check.max_error:.3g} of the model output (an estimate, not exact; more samples "
            "shrink it, or use --explainer deep for exact values)"
        )
    else:
        summary = (
            f"additivity max error {check.max_error:.3g} (tolerance {check.tolerance:.3g}, "
            f"{check.model_dtype} model)"
        )
    print(
        f"{check.algorithm} values {explanation.values.shape} for {len(X)} rows; {summary}; "
        f"report: {path}"
    )
    return 0


def _one_line(error: BaseException) -> str:
    text = str(error)
    if "Traceback" in text:  # e.g. a TorchScript error: its last line says what went wrong
        text = [line for line in text.splitlines() if line.strip()][-1]
    message = " ".join(text.split()) or type(error).__name__
    return message if len(message) < 500 else message[:497] + "..."


def main(argv: list[str] | None = None) -> int:
    """Run the command; on bad input print one line to stderr and return a non-zero code."""
    from shapwise import _optional
    from shapwise.errors import AdditivityError

    args = _parser().parse_args(argv)
    _optional.quiet_framework_logs = True
    try:
        if args.command == "demo":
            from shapwise.demo import run_demo

            return run_demo(Path(args.out))
        return explain(args)
    except KeyboardInterrupt:
        print("shapwise: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the command line reports, it does not dump tracebacks
        print(f"shapwise: error: {_one_line(error)}", file=sys.stderr)
        return 1 if isinstance(error, AdditivityError) else 2


if __name__ == "__main__":
    sys.exit(main())
