"""Exact and Permutation explainers vs shap 0.51 on an MLP trained on sklearn's diabetes data.

For each library: wall time, model evaluations (rows passed to the model), time outside model
calls, and the error against brute-force Shapley values from their definition.
Run: python benchmarks/bench_tabular.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._table import print_table
from tests.reference import masked_game, shapley_values

N_ROWS = 8
N_BACKGROUND = 50
BUDGET = 300  # below the exact budget 2^10 = 1024
REPEATS = 5


class TimedModel:
    """Counts rows and seconds spent inside the model."""

    def __init__(self, predict):
        self.predict, self.seconds, self.rows = predict, 0.0, 0

    def __call__(self, X):
        start = time.perf_counter()
        out = self.predict(np.asarray(X))
        self.seconds += time.perf_counter() - start
        self.rows += len(X)
        return out


def _setup():
    from sklearn.datasets import load_diabetes
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=2000, random_state=0).fit(X, y)
    background = X[:N_BACKGROUND]
    rows = X[100 : 100 + N_ROWS]
    truth = np.stack(
        [shapley_values(masked_game(model.predict, x, background), X.shape[1]) for x in rows]
    )
    return model, background, rows, truth


def _run(explain, model):
    timed = TimedModel(model.predict)
    start = time.perf_counter()
    values = explain(timed)
    total = time.perf_counter() - start
    return values, total, timed


def main() -> list[dict]:
    import shap

    import shapwise

    model, background, rows, truth = _setup()
    results = []

    def record(name, library, values, total, timed, **extra):
        results.append(
            {
                "benchmark": name,
                "library": library,
                "seconds": total,
                "model_rows": timed.rows,
                "outside_model_%": 100 * (total - timed.seconds) / total,
                "mean_abs_err": float(np.abs(values - truth).mean()),
                "max_abs_err": float(np.abs(values - truth).max()),
                **extra,
            }
        )

    # Exact: every coalition.
    ours = _run(lambda f: shapwise.explainers.Exact(f, background)(rows, silent=True).values, model)
    record("exact diabetes MLP", "shapwise", *ours)
    theirs = _run(
        lambda f: (
            shap.explainers.Exact(
                f, shap.maskers.Independent(background, max_samples=N_BACKGROUND)
            )(rows).values
        ),
        model,
    )
    record("exact diabetes MLP", "shap 0.51", *theirs)

    # Permutation at the same budget below the exact one, averaged over seeds.
    for library in ("shapwise", "shap 0.51"):
        errors, times, outside, evaluations = [], [], [], []
        for seed in range(REPEATS):
            if library == "shapwise":
                explain = lambda f, s=seed: (  # noqa: E731
                    shapwise.explainers.Permutation(f, background, seed=s)(
                        rows, max_evals=BUDGET, silent=True
                    ).values
                )
            else:
                masker = shap.maskers.Independent(background, max_samples=N_BACKGROUND)
                explain = lambda f, s=seed, m=masker: (  # noqa: E731
                    shap.explainers.Permutation(f, m, seed=s)(
                        rows, max_evals=BUDGET
                    ).values
                )
            values, total, timed = _run(explain, model)
            errors.append(np.abs(values - truth).mean())
            times.append(total)
            outside.append(100 * (total - timed.seconds) / total)
            evaluations.append(timed.rows)
        results.append(
            {
                "benchmark": f"permutation max_evals={BUDGET}",
                "library": library,
                "seconds": float(np.mean(times)),
                "model_rows": int(np.mean(evaluations)),
                "outside_model_%": float(np.mean(outside)),
                "mean_abs_err": float(np.mean(errors)),
            }
        )
    ours_error = results[-2]["mean_abs_err"]
    shap_error = results[-1]["mean_abs_err"]
    results[-2]["err_ratio_vs_shap"] = ours_error / shap_error
    return results


if __name__ == "__main__":
    print_table(main(), "Exact / Permutation (diabetes MLP, 10 features)")
