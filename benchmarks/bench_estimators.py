"""Sampling estimators of Shapley values over a family of games with exact values known.

Games (quick mode: a subset):
- sums of unanimity games (SOUM) of random orders 1-5, whose Shapley values are closed form
  (phi_i = sum over terms T holding i of a_T / |T|);
- random smooth functions with interactions of order 2-4, small trees and forests, small MLPs,
  and sklearn models trained on bundled datasets (diabetes, wine, breast cancer; 8-14
  features): the game of one row against a background of 20 rows, v(S) = mean over the
  background of f(row masked to S), with exact values by brute force over all 2^M coalitions.

Each game is tabulated once (v of every coalition); every estimator then explains it through the
same lookup model f(z) = v(coalition of z) at the row of ones against one background row of
zeros, so a model evaluation is a coalition and budgets compare exactly. For each game and budget
(4M, 8M, ... up to 2^M / 4 evaluations) the mean absolute error against the exact values,
averaged over seeds, of: shapwise Permutation (plain, and with control_variate=True) and Kernel,
shap 0.51 Permutation and Kernel, and
shapiq's KernelSHAP (paired), kADDSHAP, UnbiasedKernelSHAP, PermutationSamplingSV, SVARM
(paired) and StratifiedSamplingSV. Printed: per budget (in multiples of M), the distribution
over games of shapwise's error over the best peer's at that budget (quartiles, median, worst).

Run: flock /tmp/shapwise-cpu.lock python benchmarks/bench_estimators.py [--full]
[--only=permutation|kernel]
(SHAPWISE_ESTIMATOR_RECORDS=path.json also writes every error).
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from math import factorial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._table import print_table

N_BACKGROUND = 20
BUDGET_MULTIPLES = (4, 8, 16, 32, 64)  # budgets of k * M evaluations, up to 2^M / 4
# Mean errors below this share of the mean |exact value| are floating-point rounding; two
# estimators both that close count as equal (a ratio of 1).
ROUNDING_FLOOR = 1e-9


# ------------------------------------------------------------------------------ games
class Game:
    """A game tabulated over every coalition (index = bit pattern, feature i = bit i)."""

    def __init__(self, name: str, table: np.ndarray, exact: np.ndarray | None = None) -> None:
        self.name = name
        self.n = int(np.log2(len(table)))
        self.table = np.asarray(table, dtype=np.float64)
        self.exact = brute_force_shapley(self.table, self.n) if exact is None else exact

    def values(self, masks: np.ndarray) -> np.ndarray:
        masks = np.atleast_2d(np.asarray(masks, dtype=np.int64))
        return self.table[masks @ (1 << np.arange(self.n))]


def every_coalition(n: int) -> np.ndarray:
    codes = np.arange(2**n)
    return ((codes[:, None] >> np.arange(n)) & 1).astype(bool)


def brute_force_shapley(table: np.ndarray, n: int) -> np.ndarray:
    """phi_i = sum over S without i of |S|!(n-|S|-1)!/n! (v(S + i) - v(S)), from the table."""
    masks = every_coalition(n)
    sizes = masks.sum(axis=1)
    weight = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
    codes = np.arange(2**n)
    values = np.zeros(n)
    for i in range(n):
        without = codes[~masks[:, i]]
        values[i] = (weight[sizes[without]] * (table[without | (1 << i)] - table[without])).sum()
    return values


def soum_game(n: int, n_terms: int, seed: int) -> Game:
    rng = np.random.default_rng(seed)
    masks = every_coalition(n)
    table = np.zeros(2**n)
    exact = np.zeros(n)
    for _ in range(n_terms):
        members = rng.choice(n, size=rng.integers(1, 6), replace=False)
        weight = rng.normal()
        table += weight * masks[:, members].all(axis=1)
        exact[members] += weight / len(members)
    return Game(f"SOUM n={n} terms={n_terms} #{seed}", table, exact)


def masked_game(name: str, predict: Callable, x: np.ndarray, background: np.ndarray) -> Game:
    """v(S) = mean over the background of f(x on S, background elsewhere), every S."""
    masks = every_coalition(len(x))
    table = np.empty(len(masks))
    for start in range(0, len(masks), 256):
        chunk = masks[start : start + 256]
        inputs = np.where(chunk[:, None, :], x[None, None, :], background[None, :, :])
        out = predict(inputs.reshape(-1, len(x)))
        table[start : start + 256] = np.asarray(out, np.float64).reshape(len(chunk), -1).mean(1)
    return Game(name, table)


def smooth_function(n: int, order: int, seed: int) -> Callable:
    """A sum of random products of up to ``order`` smooth one-feature terms."""
    rng = np.random.default_rng(seed)
    terms = []
    for _ in range(2 * n):
        members = rng.choice(n, size=rng.integers(1, order + 1), replace=False)
        terms.append((members, rng.normal(size=len(members)), rng.normal()))

    def f(X: np.ndarray) -> np.ndarray:
        out = np.zeros(len(X))
        for members, scale, weight in terms:
            out += weight * np.tanh(X[:, members] * scale + 0.3).prod(axis=1)
        return out

    return f


def model_games(quick: bool) -> list[Game]:
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR
    from sklearn.tree import DecisionTreeRegressor

    games = []
    rng = np.random.default_rng(0)
    # random smooth functions with interactions of order 2-4
    for seed, (n, order) in enumerate([(10, 2), (10, 3), (12, 4), (12, 3), (8, 4), (12, 2)]):
        X = rng.normal(size=(N_BACKGROUND + 1, n))
        games.append(
            masked_game(f"smooth n={n} order {order}", smooth_function(n, order, seed), X[0], X[1:])
        )
    # trees, forests, MLPs on a synthetic regression with interactions
    X = rng.normal(size=(400, 10))
    y = X[:, 0] * X[:, 1] + np.sin(2 * X[:, 2]) + (X[:, 3] > 0) * X[:, 4] + X[:, 5:].sum(1)
    synthetic = [
        ("tree depth 4", DecisionTreeRegressor(max_depth=4, random_state=0)),
        ("tree depth 8", DecisionTreeRegressor(max_depth=8, random_state=0)),
        ("forest 20 trees", RandomForestRegressor(20, max_depth=6, random_state=0)),
        ("boosting 50 trees", GradientBoostingRegressor(n_estimators=50, random_state=0)),
        ("MLP (16,)", MLPRegressor(hidden_layer_sizes=(16,), max_iter=1500, random_state=0)),
        ("MLP (32, 32)", MLPRegressor(hidden_layer_sizes=(32, 32), max_iter=1500, random_state=0)),
    ]
    for name, model in synthetic:
        model.fit(X, y)
        for row in (300, 301):
            games.append(masked_game(f"{name} row {row}", model.predict, X[row], X[:N_BACKGROUND]))
    # sklearn models on bundled datasets with 8-14 features
    diabetes = load_diabetes(return_X_y=True)
    wine = load_wine(return_X_y=True)
    cancer = load_breast_cancer(return_X_y=True)
    sets = [
        ("diabetes", StandardScaler().fit_transform(diabetes[0]), diabetes[1], "regression"),
        ("wine", StandardScaler().fit_transform(wine[0])[:, :12], wine[1] == 0, "classes"),
        ("breast cancer", StandardScaler().fit_transform(cancer[0])[:, :14], cancer[1], "classes"),
    ]
    for name, X, y, kind in sets:
        if kind == "regression":
            models = [
                ("boosting", GradientBoostingRegressor(random_state=0)),
                ("SVR", SVR(C=10.0)),
                ("MLP", MLPRegressor(hidden_layer_sizes=(32,), max_iter=2000, random_state=0)),
            ]
            predicts = [(label, model.fit(X, y).predict) for label, model in models]
        else:
            logistic = LogisticRegression(max_iter=2000).fit(X, y)
            forest = RandomForestRegressor(30, max_depth=5, random_state=0).fit(X, y)
            predicts = [
                ("logistic probability", lambda Z, m=logistic: m.predict_proba(Z)[:, 1]),
                ("forest", forest.predict),
            ]
        for label, predict in predicts:
            games.append(masked_game(f"{name} {label}", predict, X[-1], X[:N_BACKGROUND]))
    if quick:
        games = games[::3]
    return games


def family(quick: bool) -> list[Game]:
    soums = [
        soum_game(n, n_terms, seed)
        for seed, (n, n_terms) in enumerate(
            [
                (8, 10),
                (8, 30),
                (10, 20),
                (10, 50),
                (12, 30),
                (12, 80),
                (10, 10),
                (12, 12),
                (14, 40),
                (14, 100),
            ]
        )
    ]
    if quick:
        soums = soums[::3]
    return soums + model_games(quick)


# ------------------------------------------------------------------------------ estimators
class Counted:
    """The lookup model of a game, counting the coalitions it is asked for."""

    def __init__(self, game: Game) -> None:
        self.game, self.rows = game, 0

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        Z = np.asarray(Z)
        self.rows += len(Z)
        return self.game.values(Z > 0.5)


def _shapwise(kind: str, **options) -> Callable:
    def run(game: Game, budget: int, seed: int) -> np.ndarray:
        import shapwise

        model = Counted(game)
        zeros, ones = np.zeros((1, game.n)), np.ones((1, game.n))
        if kind == "permutation":
            explainer = shapwise.explainers.Permutation(model, zeros, seed=seed)
        else:
            explainer = shapwise.KernelExplainer(model, zeros, seed=seed)
        return explainer(ones, max_evals=budget, silent=True, **options).values[0]

    return run


def _shap(kind: str) -> Callable:
    def run(game: Game, budget: int, seed: int) -> np.ndarray:
        import shap

        model = Counted(game)
        zeros, ones = np.zeros((1, game.n)), np.ones((1, game.n))
        if kind == "permutation":
            masker = shap.maskers.Independent(zeros)
            explainer = shap.explainers.Permutation(model, masker, seed=seed)
            return explainer(ones, max_evals=budget).values[0]
        np.random.seed(seed)  # shap's KernelExplainer draws from numpy's global generator
        explainer = shap.KernelExplainer(model, zeros)
        return explainer.shap_values(ones, nsamples=budget, silent=True)[0]

    return run


def _shapiq(name: str, **options) -> Callable:
    def run(game: Game, budget: int, seed: int) -> np.ndarray:
        import shapiq

        approximator = getattr(shapiq, name)(n=game.n, random_state=seed, **options)
        values = approximator.approximate(budget, game.values)
        return np.asarray(values.get_n_order_values(1), dtype=np.float64)

    return run


OURS = {
    "shapwise Permutation": _shapwise("permutation"),
    "shapwise Permutation control_variate": _shapwise("permutation", control_variate=True),
    "shapwise Kernel": _shapwise("kernel"),
}
PEERS = {
    "shap Permutation": _shap("permutation"),
    "shap Kernel": _shap("kernel"),
    "shapiq KernelSHAP": _shapiq("KernelSHAP", pairing_trick=True),
    "shapiq kADDSHAP": _shapiq("kADDSHAP", max_order=2, pairing_trick=True),
    "shapiq UnbiasedKernelSHAP": _shapiq("UnbiasedKernelSHAP", pairing_trick=True),
    "shapiq PermutationSamplingSV": _shapiq("PermutationSamplingSV"),
    "shapiq SVARM": _shapiq("SVARM", pairing_trick=True),
    "shapiq StratifiedSamplingSV": _shapiq("StratifiedSamplingSV"),
}


def budgets(n: int) -> list[int]:
    return [k * n for k in BUDGET_MULTIPLES if k * n <= 2**n // 4]


def errors(games: list[Game], seeds: list[int]) -> list[dict]:
    """One record per (game, budget, estimator): mean absolute error over features and seeds."""
    records = []
    for game in games:
        for budget in budgets(game.n):
            for name, run in {**OURS, **PEERS}.items():
                found, seconds = [], 0.0
                for seed in seeds:
                    start = time.perf_counter()
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            estimate = run(game, budget, seed)
                    except Exception as error:  # a peer that refuses this budget
                        found = [np.nan]
                        print(f"  {name} on {game.name} at {budget}: {type(error).__name__}")
                        break
                    seconds += time.perf_counter() - start
                    found.append(np.abs(estimate - game.exact).mean())
                records.append(
                    {
                        "game": game.name,
                        "n": game.n,
                        "budget": budget,
                        "multiple": budget // game.n,
                        "estimator": name,
                        "error": float(np.mean(found)),
                        # errors below this are rounding: equal for the ratios
                        "floor": float(ROUNDING_FLOOR * np.abs(game.exact).mean()),
                        "seconds": seconds / len(seeds),
                    }
                )
    return records


def ratio_summary(records: list[dict]) -> list[dict]:
    """Per budget multiple and estimator of ours: median and worst over games of our error over
    the best peer's at the same budget, and which peer was best most often."""
    rows = []
    keys = sorted({(r["game"], r["budget"]) for r in records}, key=lambda k: k[1])
    by_key = {}
    for r in records:
        by_key.setdefault((r["game"], r["budget"]), {})[r["estimator"]] = r
    for multiple in BUDGET_MULTIPLES:
        chosen = [k for k in keys if by_key[k][next(iter(OURS))]["multiple"] == multiple]
        if not chosen:
            continue
        for ours in OURS:
            ratios, best_names = [], []
            for key in chosen:
                peers = {p: by_key[key][p]["error"] for p in PEERS if p in by_key[key]}
                peers = {p: e for p, e in peers.items() if np.isfinite(e)}
                best = min(peers, key=peers.get)
                best_names.append(best)
                floor = max(by_key[key][ours]["floor"], 1e-300)
                ratios.append(max(by_key[key][ours]["error"], floor) / max(peers[best], floor))
            ratios = np.array(ratios)
            worst = chosen[int(np.argmax(ratios))][0]
            rows.append(
                {
                    "budget": f"{multiple}M",
                    "estimator": ours,
                    "games": len(chosen),
                    "quartile_1": float(np.quantile(ratios, 0.25)),
                    "median_ratio": float(np.median(ratios)),
                    "quartile_3": float(np.quantile(ratios, 0.75)),
                    "worst_ratio": float(ratios.max()),
                    "worst_game": worst,
                    "share<=0.5": float((ratios <= 0.5).mean()),
                    "best_peer_mostly": max(set(best_names), key=best_names.count),
                }
            )
    return rows


def main(quick: bool = True) -> list[dict]:
    games = family(quick)
    seeds = [0, 1] if quick else [0, 1, 2, 3, 4]
    print(f"{len(games)} games, seeds {seeds}")
    records = errors(games, seeds)
    if RECORDS_PATH:
        Path(RECORDS_PATH).write_text(json.dumps(records, indent=1))
    return ratio_summary(records)


RECORDS_PATH = os.environ.get("SHAPWISE_ESTIMATOR_RECORDS")  # every error, as JSON, if set

if __name__ == "__main__":
    full = "--full" in sys.argv[1:]
    # --only=permutation (or kernel): those shapwise estimators against every peer
    only = [a.split("=", 1)[1].lower() for a in sys.argv[1:] if a.startswith("--only=")]
    for name in [n for n in OURS if only and n.split()[1].lower() not in only]:
        del OURS[name]
    print_table(main(quick=not full), "Estimators: shapwise error / best of shap and shapiq")
