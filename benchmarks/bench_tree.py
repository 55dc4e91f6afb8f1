"""TreeExplainer vs shap 0.51's TreeExplainer and the libraries' own TreeSHAP, side by side.

Every library gets 2 threads (shap's own C++ for scikit-learn and for interventional values has
one). Cases:

- path-dependent values of an XGBRegressor (500 trees, depth 8, 20 features): shapwise, shap
  (which calls xgboost's C++), xgboost ``pred_contribs``;
- path-dependent values of a LightGBM regressor (500 trees, 255 leaves): shapwise, shap,
  LightGBM ``pred_contrib``;
- path-dependent values of a scikit-learn RandomForest (200 trees, depth 12): shapwise, shap;
- interventional values (xgboost, 200 trees, depth 6, a 200-row background, 500 rows): shapwise
  over the whole background, shap given all 200 rows. shap silently keeps a sample of 100 (its
  masker's ``max_samples``; its values differ from the definition by ~0.1 here); on a 100-row
  background, the second row, the two agree to xgboost's float32 rounding;
- path-dependent interactions of that model: shapwise, shap (xgboost ``pred_interactions``).

- path-dependent values of a CatBoost regressor (500 oblivious trees, depth 6; 1000 and 10000
  rows): shapwise (from per-leaf tables, each reached leaf explained once), CatBoost
  ``get_feature_importance(type="ShapValues")`` (which shap calls too).

For each peer, both sides run once untimed (warm-up; the values compared), then in four timed
pairs whose order alternates; the table shows each side's fastest run over those same pairs and
the range of the per-pair speed ratio. "max diff" is the largest difference from the peer's
values (xgboost sums in float32, so 1e-5 there is its rounding).
Run: OMP_NUM_THREADS=2 python benchmarks/bench_tree.py [--only=catboost]
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._table import print_table

THREADS = 2
PAIRS = 4


def _data(n_rows: int, n_features: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features))
    y = X[:, 0] + 2 * X[:, 1] * (X[:, 2] > 0) + np.sin(3 * X[:, 3]) + 0.5 * rng.normal(size=n_rows)
    return X, y


def _timed(compute):
    start = time.perf_counter()
    result = compute()
    return time.perf_counter() - start, np.asarray(result, dtype=np.float64)


def _compare(case: str, ours, peers: dict) -> list[dict]:
    """One row per peer: shapwise and the peer each run once untimed (warm-up, and the values
    compared), then ``PAIRS`` timed pairs whose order alternates (shapwise first, then the peer
    first). Both sides get the same statistic, their fastest run over those pairs; the range is
    that of the per-pair ratios."""
    rows = []
    for peer, (compute, to_ours) in peers.items():
        our_values = np.asarray(ours(), dtype=np.float64)
        their_values = to_ours(np.asarray(compute(), dtype=np.float64))
        difference = float(np.abs(our_values - their_values).max())
        pairs = []
        for pair in range(PAIRS):
            if pair % 2 == 0:
                our_seconds, _ = _timed(ours)
                their_seconds, _ = _timed(compute)
            else:
                their_seconds, _ = _timed(compute)
                our_seconds, _ = _timed(ours)
            pairs.append((our_seconds, their_seconds))
        ratios = [t / o for o, t in pairs]
        best_ours = min(o for o, _ in pairs)
        best_theirs = min(t for _, t in pairs)
        rows.append(
            {
                "case": case,
                "peer": peer,
                "shapwise s": best_ours,
                "peer s": best_theirs,
                "speedup": best_theirs / best_ours,
                "speedup range": f"{min(ratios):.2f}-{max(ratios):.2f}",
                "max diff": difference,
            }
        )
    return rows


def _xgboost_case() -> list[dict]:
    import shap
    import xgboost

    import shapwise

    X, y = _data(5000)
    model = xgboost.XGBRegressor(n_estimators=500, max_depth=8, n_jobs=THREADS).fit(X, y)
    rows = _data(1000, seed=1)[0]
    ours = shapwise.TreeExplainer(model, n_jobs=THREADS)
    theirs = shap.TreeExplainer(model)
    booster = model.get_booster()
    booster.set_param({"nthread": THREADS})
    matrix = xgboost.DMatrix(rows, nthread=THREADS)
    same = lambda values: values  # noqa: E731
    return _compare(
        "xgboost 500 trees depth 8, 1000 rows",
        lambda: ours.shap_values(rows),
        {
            "shap": (lambda: theirs.shap_values(rows), same),
            "xgboost pred_contribs": (
                lambda: booster.predict(matrix, pred_contribs=True),
                lambda values: values[:, :-1],
            ),
        },
    )


def _lightgbm_case() -> list[dict]:
    import lightgbm
    import shap

    import shapwise

    X, y = _data(5000)
    model = lightgbm.LGBMRegressor(
        n_estimators=500, num_leaves=255, n_jobs=THREADS, verbose=-1
    ).fit(X, y)
    rows = _data(1000, seed=1)[0]
    ours = shapwise.TreeExplainer(model, n_jobs=THREADS)
    theirs = shap.TreeExplainer(model)
    return _compare(
        "LightGBM 500 trees 255 leaves, 1000 rows",
        lambda: ours.shap_values(rows),
        {
            "shap": (lambda: theirs.shap_values(rows), lambda values: values),
            "LightGBM pred_contrib": (
                lambda: model.predict(rows, pred_contrib=True, n_jobs=THREADS),
                lambda values: values[:, :-1],
            ),
        },
    )


def _forest_case() -> list[dict]:
    import shap
    from sklearn.ensemble import RandomForestRegressor

    import shapwise

    X, y = _data(5000)
    model = RandomForestRegressor(
        n_estimators=200, max_depth=12, n_jobs=THREADS, random_state=0
    ).fit(X, y)
    rows = _data(100, seed=1)[0]
    ours = shapwise.TreeExplainer(model, n_jobs=THREADS)
    theirs = shap.TreeExplainer(model)
    return _compare(
        "RandomForest 200 trees depth 12, 100 rows",
        lambda: ours.shap_values(rows),
        {"shap": (lambda: theirs.shap_values(rows, check_additivity=False), lambda v: v)},
    )


def _catboost_case() -> list[dict]:
    import catboost

    import shapwise

    X, y = _data(5000)
    model = catboost.CatBoostRegressor(
        iterations=500, depth=6, thread_count=THREADS, verbose=0, allow_writing_files=False
    ).fit(X, y)
    ours = shapwise.TreeExplainer(model, n_jobs=THREADS)
    result = []
    for n_rows in (1000, 10000):
        rows = _data(n_rows, seed=1)[0]
        pool = catboost.Pool(rows)
        result += _compare(
            f"CatBoost 500 trees depth 6, {n_rows} rows",
            lambda rows=rows: ours.shap_values(rows),
            {
                "CatBoost ShapValues": (
                    lambda pool=pool: model.get_feature_importance(
                        pool, type="ShapValues", thread_count=THREADS
                    ),
                    lambda values: values[:, :-1],
                )
            },
        )
    return result


def _interventional_and_interactions_cases() -> list[dict]:
    import shap
    import xgboost

    import shapwise

    X, y = _data(5000)
    model = xgboost.XGBRegressor(n_estimators=200, max_depth=6, n_jobs=THREADS).fit(X, y)
    background, rows = X[:200], _data(500, seed=1)[0]
    ours = shapwise.TreeExplainer(model, background, n_jobs=THREADS)
    theirs = shap.TreeExplainer(model, background, feature_perturbation="interventional")
    result = _compare(
        "interventional: xgboost 200 trees depth 6, 200 background rows, 500 rows",
        lambda: ours.shap_values(rows),
        {"shap": (lambda: theirs.shap_values(rows, check_additivity=False), lambda v: v)},
    )
    first = background[:100]
    ours_100 = shapwise.TreeExplainer(model, first, n_jobs=THREADS)
    theirs_100 = shap.TreeExplainer(model, first, feature_perturbation="interventional")
    result += _compare(
        "interventional: the same, 100 background rows",
        lambda: ours_100.shap_values(rows),
        {"shap": (lambda: theirs_100.shap_values(rows, check_additivity=False), lambda v: v)},
    )
    path = shapwise.TreeExplainer(model, n_jobs=THREADS)
    their_path = shap.TreeExplainer(model)
    few = rows[:100]
    result += _compare(
        "interactions: xgboost 200 trees depth 6, 100 rows",
        lambda: path.shap_interaction_values(few),
        {"shap": (lambda: their_path.shap_interaction_values(few), lambda v: v)},
    )
    return result


CASES = {
    "xgboost": _xgboost_case,
    "lightgbm": _lightgbm_case,
    "forest": _forest_case,
    "catboost": _catboost_case,
    "interventional": _interventional_and_interactions_cases,
}


def main(only: list[str] | None = None) -> list[dict]:
    """Every case, or those named in ``only`` (keys of CASES)."""
    warnings.filterwarnings("ignore")
    rows: list[dict] = []
    for name, case in CASES.items():
        if not only or name in only:
            rows += case()
    return rows


if __name__ == "__main__":
    # --only=catboost (or xgboost, lightgbm, forest, interventional): those cases alone
    chosen = [a.split("=", 1)[1].lower() for a in sys.argv[1:] if a.startswith("--only=")]
    print_table(main(chosen), "tree")
