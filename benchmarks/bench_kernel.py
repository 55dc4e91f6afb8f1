"""KernelExplainer vs shap 0.51's: error against brute-force Shapley values at the same budget.

Three sklearn models with 12 features (so brute force over 2^12 coalitions is cheap), a 20-row
background, 10 explained rows. The budget is counted as shap's ``nsamples``: coalitions evaluated
besides the empty and full ones (each costs one model call per background row, in both libraries).
shap is run with ``l1_reg=False`` (its most accurate setting) and with its default
'num_features(10)'; the ratio is ours over the better of the two. Errors are averaged over seeds.
Run: python benchmarks/bench_kernel.py
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._table import print_table
from benchmarks._timing import TimedModel
from tests.reference import masked_game, shapley_values

N_FEATURES = 12
N_BACKGROUND = 20
N_ROWS = 10
BUDGETS = (100, 300, 1000)
SEEDS = (0, 1, 2)


def _problems():
    """(name, predict function of one output, data) for three models on 12 features."""
    from sklearn.datasets import load_breast_cancer, make_friedman1
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X[:, :N_FEATURES])
    boosted = GradientBoostingClassifier(random_state=0).fit(X, y)
    yield "breast cancer GBT proba", lambda Z: boosted.predict_proba(Z)[:, 1], X
    mlp = MLPRegressor(hidden_layer_sizes=(32, 32), max_iter=2000, random_state=0).fit(X, y)
    yield "breast cancer MLP", mlp.predict, X
    Xf, yf = make_friedman1(n_samples=500, n_features=N_FEATURES, random_state=0)
    forest = RandomForestRegressor(n_estimators=50, max_depth=6, random_state=0).fit(Xf, yf)
    yield "friedman1 random forest", forest.predict, Xf


def _brute_force(predict, rows: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Shapley values from the definition (tests/reference.py), each coalition evaluated once."""
    truth = []
    for x in rows:
        game, cache = masked_game(predict, x, background), {}

        def cached(coalition, game=game, cache=cache):
            if coalition not in cache:
                cache[coalition] = game(coalition)
            return cache[coalition]

        truth.append(shapley_values(cached, N_FEATURES))
    return np.stack(truth)


def _measure(explain, predict, truth: np.ndarray) -> tuple[float, float, int]:
    """Mean abs error over seeds, mean seconds, model rows of one run."""
    errors, seconds = [], []
    for seed in SEEDS:
        timed = TimedModel(predict)
        start = time.perf_counter()
        values = explain(timed, seed)
        seconds.append(time.perf_counter() - start)
        errors.append(np.abs(values - truth).mean())
    return float(np.mean(errors)), float(np.mean(seconds)), timed.rows


def main() -> list[dict]:
    import shap

    import shapwise

    logging.getLogger("shap").setLevel(logging.ERROR)
    results = []
    for name, predict, data in _problems():
        picked = np.random.default_rng(0).choice(len(data), N_BACKGROUND + N_ROWS, replace=False)
        background, rows = data[picked[:N_BACKGROUND]], data[picked[N_BACKGROUND:]]
        truth = _brute_force(predict, rows, background)
        for budget in BUDGETS:

            def ours(f, seed, budget=budget, background=background, rows=rows):
                explainer = shapwise.KernelExplainer(f, background, seed=seed)
                return explainer.shap_values(rows, nsamples=budget, silent=True)

            def theirs(f, seed, l1_reg, budget=budget, background=background, rows=rows):
                np.random.seed(seed)  # shap's KernelExplainer samples from numpy's global state
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    explainer = shap.KernelExplainer(f, background)
                    return explainer.shap_values(rows, nsamples=budget, l1_reg=l1_reg, silent=True)

            measured = {
                "shapwise": _measure(ours, predict, truth),
                "shap l1_reg=False": _measure(lambda f, s: theirs(f, s, False), predict, truth),
                "shap default l1_reg": _measure(
                    lambda f, s: theirs(f, s, "num_features(10)"), predict, truth
                ),
            }
            best_shap = min(measured["shap l1_reg=False"][0], measured["shap default l1_reg"][0])
            for library, (error, seconds, model_rows) in measured.items():
                row = {
                    "model": name,
                    "nsamples": budget,
                    "library": library,
                    "mean_abs_err": error,
                    "rel_err_%": 100 * error / float(np.abs(truth).mean()),
                    "seconds": seconds,
                    "model_rows": model_rows,
                }
                if library == "shapwise":
                    row["err_ratio_vs_best_shap"] = error / best_shap
                results.append(row)
    return results


if __name__ == "__main__":
    print_table(main(), f"Kernel ({N_FEATURES} features, error vs brute force, {len(SEEDS)} seeds)")
