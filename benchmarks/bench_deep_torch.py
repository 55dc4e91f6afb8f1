"""Deep explainer for PyTorch: shapwise vs shap.DeepExplainer vs captum DeepLiftShap.

Two models, all outputs explained: the GELU CNN of the issue (1x28x28, 10 outputs) and a transformer
encoder block (nn.MultiheadAttention, LayerNorm, GELU MLP, residuals; 16 tokens x 32 dims, 10
outputs); 100 background rows, 32 explained rows, 2 threads. The floor is one plain forward and one
backward to the inputs of the model on the (rows x background) batch. For each library: median time,
ratio to the floor, ratio to each peer, and the largest additivity error |sum(values) + expected - output|.
Run: python benchmarks/bench_deep_torch.py; BENCH_MODELS=transformer or BENCH_LIBRARIES=shapwise,captum
(comma-separated) narrow a run.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import shap  # peers imported here, so that no timed run pays for an import
from captum.attr import DeepLiftShap

from benchmarks._table import print_table
from shapwise.explainers.deep import DeepExplainer
from tests.explainers.deep.torch_zoo import TransformerBlock, gelu_cnn

ROWS, BACKGROUND, THREADS = 32, 100, 2


def _models() -> list[tuple[str, torch.nn.Module, torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    cnn = gelu_cnn(10).eval()
    block = TransformerBlock(dim=32, heads=4, outputs=10, attention="mha").eval()
    return [
        ("gelu_cnn", cnn, torch.randn(BACKGROUND, 1, 28, 28), torch.randn(ROWS, 1, 28, 28)),
        ("transformer", block, torch.randn(BACKGROUND, 16, 32), torch.randn(ROWS, 16, 32)),
    ]


def _timed(fn: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    """The median wall time of ``repeats`` calls (other work may share the CPU), and a result."""
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds)), result


def _floor(model: torch.nn.Module, x: torch.Tensor, background: torch.Tensor) -> float:
    """One forward and one backward to the inputs (no parameter gradients), as explainers need."""
    pairs = x.repeat_interleave(len(background), 0).requires_grad_(True)

    def step() -> None:
        torch.autograd.grad(model(pairs).sum(), pairs)

    step()
    return _timed(step, repeats=5)[0]


def _additivity(values: np.ndarray, expected: np.ndarray, output: np.ndarray) -> float:
    """values: (rows, *features, outputs)."""
    total = values.reshape(values.shape[0], -1, values.shape[-1]).sum(1) + expected
    return float(np.abs(total - output).max())


def _shapwise(model, background, x):
    explainer = DeepExplainer(model, background, silent=True)
    return explainer.shap_values(x, check_additivity=False), explainer.expected_value


def _shap(model, background, x):
    explainer = shap.DeepExplainer(model, background)
    values = explainer.shap_values(x, check_additivity=False)
    return np.asarray(values), np.asarray(explainer.expected_value)


def _captum(model, background, x):
    explainer = DeepLiftShap(model)
    outputs = model(background).shape[1]
    values = [
        explainer.attribute(x, baselines=background, target=k).detach().numpy()
        for k in range(outputs)  # captum explains one target per call
    ]
    with torch.no_grad():
        expected = model(background).mean(0).numpy()
    return np.stack(values, axis=-1), expected


LIBRARIES = {"shapwise": _shapwise, "shap": _shap, "captum": _captum}
# Median of this many runs; shap runs once (minutes per model, so one run's noise is small).
REPEATS = {"shapwise": 3, "shap": 1, "captum": 3}


def _chosen(variable: str, names: list[str]) -> list[str]:
    """The names listed in the environment ``variable`` (comma-separated), else all of them."""
    wanted = os.environ.get(variable)
    return [n for n in names if n in wanted.split(",")] if wanted else names


def main() -> list[dict]:
    torch.set_num_threads(THREADS)
    libraries = _chosen("BENCH_LIBRARIES", list(LIBRARIES))
    rows: list[dict] = []
    for name, model, background, x in _models():
        if name not in _chosen("BENCH_MODELS", [name]):
            continue
        floor = _floor(model, x, background)
        with torch.no_grad():
            output = model(x).numpy()
        times: dict[str, float] = {}
        errors: dict[str, Any] = {}
        for library in libraries:
            run = LIBRARIES[library]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    seconds, (values, expected) = _timed(
                        lambda run=run, m=model, b=background, x=x: run(m, b, x),
                        repeats=REPEATS[library],
                    )
                times[library] = seconds
                errors[library] = _additivity(values, expected, output)
            except Exception as error:  # a peer that cannot run this model is a result too
                times[library] = float("nan")
                errors[library] = f"failed: {type(error).__name__}"
        for library in libraries:
            row = {
                "model": name,
                "library": library,
                "seconds": times[library],
                "x floor": times[library] / floor,
                "floor s": floor,
                "max additivity error": errors[library],
            }
            for peer in libraries:
                if peer != library:
                    row[f"x {peer}"] = times[library] / times[peer]
            rows.append(row)
    return rows


if __name__ == "__main__":
    print_table(main(), "deep_torch")
