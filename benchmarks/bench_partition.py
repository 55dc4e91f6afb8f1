"""Partition explainer on images: shapwise vs shap 0.51 on the same Keras model, images, masker, budget.

Speed: a Keras ResNet50 (weights=None, 64x64x3, 4 logits), 2 images, Image masker 'blur(8,8)',
max_evals=500, all outputs; in float32 and under the mixed_float16 policy (the original report).
Columns: total seconds, seconds inside the model (shapwise: the Model adapter's clock; shap: a timer
around the model function), the share of time spent outside the model, and the additivity error.
Accuracy: a small Keras CNN on 8x8x1 images, where exact Owen values are computable (shapwise with a
budget covering the whole tree, which the tests check against the brute-force definition); max
|value - exact| at max_evals 100, 300 and the whole tree's count, each library against the exact values on its own tree.
Run: python benchmarks/bench_partition.py
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._table import print_table
from shapwise.explainers.partition import PartitionExplainer
from shapwise.maskers import Image

MAX_EVALS = 500
SPEED_SHAPE = (64, 64, 3)
ACCURACY_SHAPE = (8, 8, 1)
ACCURACY_BUDGETS = (100, 300)


def _images(shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    images = np.random.default_rng(seed).random((n, *shape)).astype(np.float32)
    images[:, : shape[0] // 2] *= 0.3
    return images


def _resnet(keras: Any, policy: str) -> Any:
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    return keras.applications.ResNet50(
        weights=None, input_shape=SPEED_SHAPE, classes=4, classifier_activation=None
    )


def _small_cnn(keras: Any) -> Any:
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(1)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(ACCURACY_SHAPE),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3),
        ]
    )


class _Timed:
    """A model function that adds up the seconds spent inside it (for shap)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.seconds = 0.0

    def __call__(self, X: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        out = np.asarray(self.model(X, training=False))
        self.seconds += time.perf_counter() - start
        return out


def _additivity(values: np.ndarray, base: np.ndarray, output: np.ndarray) -> float:
    n = len(values)
    return float(np.abs(values.reshape(n, -1, values.shape[-1]).sum(axis=1) + base - output).max())


def _run_shapwise(model: Any, masker: Image, images: np.ndarray, max_evals: int) -> tuple:
    explainer = PartitionExplainer(model, masker)
    start = time.perf_counter()
    explanation = explainer(images, max_evals=max_evals, silent=True)
    total = time.perf_counter() - start
    error = _additivity(explanation.values, explanation.base_values, explanation.output_values)
    return explanation.values, total, explainer.model.seconds, error


def _run_shap(model: Any, mask_value: str, images: np.ndarray, max_evals: int) -> tuple:
    import shap

    timed = _Timed(model)
    masker = shap.maskers.Image(mask_value, images.shape[1:])
    explainer = shap.Explainer(timed, masker)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explanation = explainer(images, max_evals=max_evals, silent=True)
    total = time.perf_counter() - start
    values = np.asarray(explanation.values, dtype=np.float64)
    output = np.asarray(timed.model(images, training=False), dtype=np.float64)
    error = _additivity(values, np.asarray(explanation.base_values), output)
    return values, total, timed.seconds, error, masker.clustering


def _speed_rows(keras: Any) -> list[dict]:
    images = _images(SPEED_SHAPE, 2)
    rows = []
    for policy in ("float32", "mixed_float16"):
        model = _resnet(keras, policy)
        model(images[:1], training=False)  # build and warm up outside the clocks
        runs: dict[str, Callable[[], tuple]] = {
            "shapwise": lambda m=model: _run_shapwise(
                m, Image("blur(8,8)", SPEED_SHAPE), images, MAX_EVALS
            ),
            "shap": lambda m=model: _run_shap(m, "blur(8,8)", images, MAX_EVALS),
        }
        for library, run in runs.items():
            row: dict[str, Any] = {
                "case": f"resnet50 64x64 {policy}",
                "library": library,
                "max_evals": MAX_EVALS,
            }
            try:
                _, total, inside, error = run()[:4]
                row.update(
                    {
                        "total_s": total,
                        "model_s": inside,
                        "outside_model_s": total - inside,
                        "outside_share": (total - inside) / total,
                        "additivity_err": error,
                    }
                )
            except Exception as failure:  # shap may fail on float16 (the original bug): a finding
                row["error"] = f"{type(failure).__name__}: {str(failure).splitlines()[0][:90]}"
                if os.environ.get("BENCH_TRACEBACK"):
                    traceback.print_exc()
            rows.append(row)
    keras.mixed_precision.set_global_policy("float32")
    return rows


def _exact_owen(model: Any, clustering: np.ndarray, images: np.ndarray) -> np.ndarray:
    masker = Image("blur(3,3)", ACCURACY_SHAPE)
    masker.clustering = clustering  # the tree the other library used
    explainer = PartitionExplainer(model, masker)
    budget = explainer.hierarchy().owen_evaluations()
    return explainer(images, max_evals=budget, silent=True).values


def _accuracy_rows(keras: Any) -> list[dict]:
    model = _small_cnn(keras)
    images = _images(ACCURACY_SHAPE, 2, seed=1)
    ours = Image("blur(3,3)", ACCURACY_SHAPE)
    exact_ours = _exact_owen(model, ours.clustering, images)
    full = PartitionExplainer(model, ours).hierarchy().owen_evaluations()
    rows = []
    for budget in (*ACCURACY_BUDGETS, full):
        values = _run_shapwise(model, ours, images, budget)[0]
        shap_values, *_, shap_clustering = _run_shap(model, "blur(3,3)", images, budget)
        exact_shap = _exact_owen(model, np.asarray(shap_clustering, dtype=np.float64), images)
        scale = float(np.abs(exact_ours).max())
        for library, got, exact in (
            ("shapwise", values, exact_ours),
            ("shap", shap_values, exact_shap),
        ):
            rows.append(
                {
                    "case": "cnn 8x8x1 accuracy",
                    "library": library,
                    "max_evals": budget,
                    "max_abs_err_vs_exact_owen": float(np.abs(got - exact).max()),
                    "relative_err": float(np.abs(got - exact).max()) / scale,
                }
            )
    return rows


def main() -> list[dict]:
    import keras

    try:
        return _speed_rows(keras) + _accuracy_rows(keras)
    finally:
        keras.mixed_precision.set_global_policy("float32")


if __name__ == "__main__":
    print_table(main(), "partition (images)")
