"""Gradient (torch, Keras) and TF Deep: shapwise vs shap on the same small models.

Rows: time per explanation, and for Deep each library's max additivity error (values + base value
vs model output). A peer that fails is recorded with the reason: that is a finding too.

Run: python benchmarks/bench_gradient_tfdeep.py
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

N_ROWS, N_BACKGROUND, N_SAMPLES = 16, 50, 200


def _timed(function: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def _additivity(values: Any, expected: Any, outputs: np.ndarray) -> float:
    values = values if isinstance(values, list) else [values]
    total = sum(np.asarray(v).reshape(len(v), -1, np.shape(v)[-1]).sum(1) for v in values)
    return float(np.abs(total + np.asarray(expected) - outputs).max())


def _row(area: str, model: str, library: str, seconds: float | None, **extra: Any) -> dict:
    row = {"area": area, "model": model, "library": library}
    row["seconds"] = "failed" if seconds is None else seconds
    row.update(extra)
    return row


def _peer(area: str, model: str, function: Any) -> tuple[Any, dict | None]:
    """Run shap; on failure return a row that says why."""
    try:
        result, seconds = _timed(function)
    except Exception as error:  # a finding, not a crash
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = f"{type(error).__name__}: {(lines[-1] if lines else '')[:120]}"
        return None, _row(area, model, "shap 0.51", None, note=reason)
    return (result, seconds), None


# ------------------------------------------------------------------ Gradient, torch
def _torch_gradient_rows() -> list[dict]:
    import shap
    import torch

    from shapwise.explainers.gradient import GradientExplainer

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3),
        torch.nn.GELU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 13 * 13, 32),
        torch.nn.GELU(),
        torch.nn.Linear(32, 10),
    ).eval()
    rng = np.random.default_rng(0)
    background = rng.normal(size=(N_BACKGROUND, 1, 28, 28)).astype(np.float32)
    X = rng.normal(size=(N_ROWS, 1, 28, 28)).astype(np.float32)
    name = f"GELU CNN 1x28x28, 10 outputs, {N_ROWS} rows, nsamples={N_SAMPLES}"
    with torch.no_grad():
        outputs = net(torch.tensor(X)).numpy()
        expected = net(torch.tensor(background)).mean(0).numpy()
    ours = GradientExplainer(net, background, batch_size=N_SAMPLES)
    values, seconds = _timed(lambda: ours.shap_values(X, nsamples=N_SAMPLES, rseed=0))
    rows = [
        _row(
            "gradient", name, "shapwise", seconds, additivity=_additivity(values, expected, outputs)
        )
    ]
    theirs = shap.GradientExplainer(net, torch.tensor(background), batch_size=N_SAMPLES)
    result, failure = _peer(
        "gradient", name, lambda: theirs.shap_values(torch.tensor(X), nsamples=N_SAMPLES, rseed=0)
    )
    if failure:
        return [*rows, failure]
    peer_values, peer_seconds = result
    rows.append(
        _row(
            "gradient",
            name,
            "shap 0.51",
            peer_seconds,
            additivity=_additivity(peer_values, expected, outputs),
            speedup=peer_seconds / seconds,
        )
    )
    return rows


# ------------------------------------------------------------------ Keras models
def _keras_models() -> dict[str, tuple[Any, tuple[int, ...]]]:
    import keras

    layers = keras.layers
    keras.utils.set_random_seed(0)
    image = keras.Input((12, 12, 1))
    h = layers.Conv2D(8, 3, activation="gelu")(image)
    h = layers.MaxPooling2D()(h)
    h = layers.Dense(32, activation="gelu")(layers.Flatten()(h))
    cnn = keras.Model(image, layers.Dense(10)(h))
    tokens = keras.Input((8, 16))
    h = layers.LayerNormalization()(tokens)
    h = layers.Add()([tokens, layers.MultiHeadAttention(2, 8)(h, h)])
    h = layers.Add()([h, layers.Dense(16)(layers.Dense(32, activation="gelu")(h))])
    block = keras.Model(tokens, layers.Dense(4)(layers.GlobalAveragePooling1D()(h)))
    relu_image = keras.Input((12, 12, 1))
    h = layers.Conv2D(8, 3, activation="relu")(relu_image)
    h = layers.Dense(32, activation="relu")(layers.Flatten()(h))
    relu_cnn = keras.Model(relu_image, layers.Dense(10)(h))
    return {
        "Keras GELU CNN 12x12 (conv, maxpool), 10 outputs": (cnn, (12, 12, 1)),
        "Keras transformer block (MHA, LayerNorm, GELU), 4 outputs": (block, (8, 16)),
        "Keras ReLU CNN 12x12, 10 outputs": (relu_cnn, (12, 12, 1)),
    }


def _keras_gradient_rows(models: dict) -> list[dict]:
    import shap

    from shapwise.explainers.gradient import GradientExplainer

    rows = []
    for name, (model, shape) in list(models.items())[:2]:
        rng = np.random.default_rng(0)
        background = rng.normal(size=(N_BACKGROUND, *shape)).astype(np.float32)
        X = rng.normal(size=(N_ROWS, *shape)).astype(np.float32)
        outputs, expected = np.asarray(model(X)), np.asarray(model(background)).mean(0)
        label = f"{name}, {N_ROWS} rows, nsamples={N_SAMPLES}"
        ours = GradientExplainer(model, background, batch_size=N_SAMPLES)
        ours.shap_values(X[:1], nsamples=N_SAMPLES)  # trace once
        values, seconds = _timed(lambda: ours.shap_values(X, nsamples=N_SAMPLES, rseed=0))  # noqa: B023
        rows.append(
            _row(
                "gradient",
                label,
                "shapwise",
                seconds,
                additivity=_additivity(values, expected, outputs),
            )
        )
        peer = shap.GradientExplainer(model, background, batch_size=N_SAMPLES)
        result, failure = _peer(
            "gradient",
            label,
            lambda: peer.shap_values(X, nsamples=N_SAMPLES, rseed=0),  # noqa: B023
        )
        if failure:
            rows.append(failure)
            continue
        peer_values, peer_seconds = result
        rows.append(
            _row(
                "gradient",
                label,
                "shap 0.51",
                peer_seconds,
                additivity=_additivity(peer_values, expected, outputs),
                speedup=peer_seconds / seconds,
            )
        )
    return rows


def _tf_deep_rows(models: dict) -> list[dict]:
    import shap

    from shapwise.explainers.deep.tf_deep import TFDeepExplainer

    n_rows, n_background = 8, 20
    cases = []
    for name, (model, shape) in models.items():
        rng = np.random.default_rng(0)
        background = rng.normal(size=(n_background, *shape)).astype(np.float32)
        X = rng.normal(size=(n_rows, *shape)).astype(np.float32)
        cases.append((f"{name}, {n_rows} rows, {n_background} background", model, background, X))
    rows, ours = [], {}
    for label, model, background, X in cases:
        explainer, setup = _timed(lambda: TFDeepExplainer(model, background))  # noqa: B023
        values, seconds = _timed(lambda: explainer.shap_values(X, check_additivity=False))  # noqa: B023
        ours[label] = seconds
        additivity = _additivity(values, explainer.expected_value, np.asarray(model(X)))
        rows.append(
            _row("tf deep", label, "shapwise", seconds, setup_seconds=setup, additivity=additivity)
        )
    # shap last: its TF DeepExplainer swaps entries of TensorFlow's global gradient registry and,
    # when it fails midway, leaves them swapped (later gradients then fail with "shap_<Op>").
    for label, model, background, X in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result, failure = _peer(
                "tf deep",
                label,
                lambda: _shap_deep(shap, model, background, X),  # noqa: B023
            )
        if failure:
            rows.append(failure)
            continue
        (peer_values, peer_expected), peer_seconds = result
        rows.append(
            _row(
                "tf deep",
                label,
                "shap 0.51",
                peer_seconds,
                additivity=_additivity(peer_values, peer_expected, np.asarray(model(X))),
                speedup=peer_seconds / ours[label],
            )
        )
    return rows


def _shap_deep(shap: Any, model: Any, background: np.ndarray, X: np.ndarray) -> tuple[Any, Any]:
    explainer = shap.DeepExplainer(model, background)
    values = explainer.shap_values(X, check_additivity=False)
    return values, np.asarray(explainer.expected_value)


def main() -> list[dict]:
    """Benchmark rows: Gradient (torch, Keras) and TF Deep, shapwise vs shap 0.51."""
    rows = _torch_gradient_rows()
    models = _keras_models()
    rows += _keras_gradient_rows(models)
    rows += _tf_deep_rows(models)
    return rows


if __name__ == "__main__":
    from benchmarks._table import print_table

    print_table(main(), "gradient_tfdeep")
