"""Exact and Permutation explainers vs shap 0.51 on models trained on sklearn's diabetes data.

For each library: wall time, model evaluations (rows passed to the model), the share of time spent
outside model calls, and the error against brute-force Shapley values from their definition.
Models: an MLP (64, 64) and gradient boosting (100 trees). Permutation runs at a budget below the
exact one (2^10 coalitions), averaged over seeds.
Run: python benchmarks/bench_tabular.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._table import print_table
from benchmarks._timing import TimedModel
from tests.reference import masked_game, shapley_values

N_ROWS = 8
N_BACKGROUND = 50
BUDGET = 300
REPEATS = 5


def _models():
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    mlp = MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=2000, random_state=0).fit(X, y)
    boosting = GradientBoostingRegressor(random_state=0).fit(X, y)
    return X, {"MLP": mlp.predict, "gradient boosting": boosting.predict}


def _timed_run(explain, predict):
    timed = TimedModel(predict)
    start = time.perf_counter()
    values = explain(timed)
    total = time.perf_counter() - start
    return values, total, timed


def _row(benchmark, library, runs, truth):
    """One table row from (values, seconds, timed model) runs of one library."""
    errors = [np.abs(values - truth).mean() for values, _, _ in runs]
    return {
        "benchmark": benchmark,
        "library": library,
        "seconds": float(np.mean([total for _, total, _ in runs])),
        "model_rows": int(np.mean([timed.rows for _, _, timed in runs])),
        "outside_model_%": float(
            np.mean([100 * (total - timed.seconds) / total for _, total, timed in runs])
        ),
        "mean_abs_err": float(np.mean(errors)),
    }


def main() -> list[dict]:
    import shap

    import shapwise

    X, models = _models()
    background, rows = X[:N_BACKGROUND], X[100 : 100 + N_ROWS]
    masker = shap.maskers.Independent(background, max_samples=N_BACKGROUND)
    results = []
    for model_name, predict in models.items():
        truth = np.stack(
            [shapley_values(masked_game(predict, x, background), X.shape[1]) for x in rows]
        )
        exact = f"exact, {model_name}"
        ours = _timed_run(
            lambda f: shapwise.explainers.Exact(f, background)(rows, silent=True).values, predict
        )
        theirs = _timed_run(lambda f: shap.explainers.Exact(f, masker)(rows).values, predict)
        results.append(_row(exact, "shapwise", [ours], truth))
        results.append(_row(exact, "shap 0.51", [theirs], truth))
        results[-2]["speedup_vs_shap"] = results[-1]["seconds"] / results[-2]["seconds"]

        sampled = f"permutation {BUDGET} evals, {model_name}"
        ours_runs, their_runs = [], []
        # one untimed run each first: one-time costs (imports, shapwise's cached plan for this
        # budget, shap's compiled code) are not what a repeated explanation costs
        shapwise.explainers.Permutation(predict, background)(rows, max_evals=BUDGET, silent=True)
        shap.explainers.Permutation(predict, masker)(rows, max_evals=BUDGET)
        for seed in range(REPEATS):
            ours_runs.append(
                _timed_run(
                    lambda f, s=seed: (
                        shapwise.explainers.Permutation(f, background, seed=s)(
                            rows, max_evals=BUDGET, silent=True
                        ).values
                    ),
                    predict,
                )
            )
            their_runs.append(
                _timed_run(
                    lambda f, s=seed: (
                        shap.explainers.Permutation(f, masker, seed=s)(
                            rows, max_evals=BUDGET
                        ).values
                    ),
                    predict,
                )
            )
        results.append(_row(sampled, "shapwise", ours_runs, truth))
        results.append(_row(sampled, "shap 0.51", their_runs, truth))
        results[-2]["err_ratio_vs_shap"] = results[-2]["mean_abs_err"] / results[-1]["mean_abs_err"]
    return results


if __name__ == "__main__":
    print_table(main(), "Exact / Permutation (diabetes, 10 features)")
