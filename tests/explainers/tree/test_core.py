"""The compiled Tree SHAP core against values from the definitions.

Truths: brute-force Shapley values and shap's interaction matrix over all coalitions of the
path-dependent game (cover-weighted conditional expectations) and of the interventional game (the
table's margin on constructed rows, averaged over the background); on deep trees, the closed form
summed in exact rational arithmetic and additivity; the values do not depend on the thread count.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from shapwise.explainers.tree import _core_calls as core
from shapwise.explainers.tree._table import (
    LEFT_IF_IN_CATEGORIES,
    LEFT_IF_LESS,
    MISSING_AS_ZERO,
    MISSING_NAN_OR_ZERO,
    Tree,
    assemble,
    predict_margin,
)
from tests.explainers.tree.truth import (
    interaction_values,
    interventional_game,
    path_dependent_game,
    shapley_values,
)


def random_tree(rng, depth, n_features, n_outputs, output, leaf_chance=0.2, chain=False):
    """A random tree: consistent covers, repeated features on paths, every decision and missing
    rule, categorical splits; ``chain`` grows one long path (a leaf at every other child)."""
    nodes: list[dict] = []

    def grow(level: int, cover: float) -> int:
        index = len(nodes)
        nodes.append({"cover": cover})
        stop = level == depth or (level > 0 and not chain and rng.random() < leaf_chance)
        if stop:
            value = np.zeros(n_outputs)
            if output < 0:
                value[:] = rng.normal(size=n_outputs)
            else:
                value[output] = rng.normal()
            nodes[index].update(leaf=True, value=value)
            return index
        share = rng.uniform(0.05, 0.95)
        feature = level % n_features if chain else int(rng.integers(n_features))
        decision = int(rng.choice([0, 1, 2], p=[0.45, 0.35, 0.2]))
        nodes[index].update(
            leaf=False,
            feature=feature,
            threshold=float(rng.normal()),
            decision=decision,
            missing=int(rng.integers(3)),
            default_left=bool(rng.random() < 0.5),
            categories=np.flatnonzero(rng.random(4) < 0.5) if decision == 2 else None,
        )
        if chain and rng.random() < 0.5:
            left, right = grow(depth, cover * share), grow(level + 1, cover * (1 - share))
        elif chain:
            left, right = grow(level + 1, cover * share), grow(depth, cover * (1 - share))
        else:
            left, right = grow(level + 1, cover * share), grow(level + 1, cover * (1 - share))
        nodes[index].update(left=left, right=right)
        return index

    grow(0, float(rng.uniform(10, 100)))
    n = len(nodes)

    def column(name, default, dtype):
        return np.array([node.get(name, default) for node in nodes], dtype=dtype)

    return Tree(
        left=column("left", -1, np.int64),
        right=column("right", -1, np.int64),
        feature=np.array([node.get("feature", -1) for node in nodes], dtype=np.int64),
        threshold=column("threshold", 0.0, np.float64),
        decision=column("decision", 0, np.int8),
        missing=column("missing", 0, np.int8),
        default_left=column("default_left", False, bool),
        cover=column("cover", 0.0, np.float64),
        value=np.array([node.get("value", np.zeros(n_outputs)) for node in nodes]).reshape(n, -1),
        categories=[node.get("categories") for node in nodes],
    )


def random_ensemble(
    seed=0, n_trees=3, depth=4, n_features=4, n_outputs=1, per_output=False, chain=False
):
    rng = np.random.default_rng(seed)
    outputs = [t % n_outputs if per_output else -1 for t in range(n_trees)]
    trees = [random_tree(rng, depth, n_features, n_outputs, k, chain=chain) for k in outputs]
    return assemble(trees, outputs, rng.normal(size=n_outputs), n_features)


def random_rows(rng, n_rows, n_features):
    """Normal rows with NaN, exact zeros and small integers (categories)."""
    X = rng.normal(size=(n_rows, n_features))
    X[rng.random(X.shape) < 0.15] = 0.0
    integers = rng.random(X.shape) < 0.2
    X[integers] = rng.integers(0, 4, size=int(integers.sum()))
    X[rng.random(X.shape) < 0.1] = np.nan
    return X


CASES = [
    dict(seed=0),
    dict(seed=1, n_outputs=3, per_output=True),  # boosting rounds of a multiclass model
    dict(seed=2, n_outputs=2),  # leaf vectors (a forest classifier)
    dict(seed=3, depth=6, n_trees=2),
]


def test_the_random_tables_use_every_rule():
    ensemble = random_ensemble(seed=5, n_trees=6, depth=5)
    internal = ensemble.left >= 0
    assert {0, 1, 2} <= set(ensemble.decision[internal].tolist())
    assert {0, 1, 2} <= set(ensemble.missing[internal].tolist())
    assert (ensemble.decision == LEFT_IF_IN_CATEGORIES).any()
    assert (ensemble.decision == LEFT_IF_LESS).any()
    assert (ensemble.missing == MISSING_NAN_OR_ZERO).any()
    assert (ensemble.missing == MISSING_AS_ZERO).any()


@pytest.mark.parametrize("case", CASES)
def test_predict_is_the_reference_walk(case):
    ensemble = random_ensemble(**case)
    X = random_rows(np.random.default_rng(9), 50, ensemble.n_features)
    np.testing.assert_allclose(
        core.predict(ensemble, X), predict_margin(ensemble, X), rtol=1e-14, atol=1e-14
    )


@pytest.mark.parametrize("case", CASES)
def test_path_dependent_values_and_interactions_are_brute_force(case):
    ensemble = random_ensemble(**case)
    X = random_rows(np.random.default_rng(case["seed"]), 4, ensemble.n_features)
    values = core.path_dependent(ensemble, X)
    pairs = core.path_dependent(ensemble, X, interactions=True)
    for row, x in enumerate(X):
        game = path_dependent_game(ensemble, x)
        np.testing.assert_allclose(values[row], shapley_values(game), atol=1e-12)
        np.testing.assert_allclose(pairs[row], interaction_values(game), atol=1e-12)
        np.testing.assert_allclose(core.expected_margin(ensemble), game[0], atol=1e-12)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["patterns", "pairs"])
def test_interventional_values_and_interactions_are_brute_force(case, method):
    ensemble = random_ensemble(**case)
    rng = np.random.default_rng(case["seed"] + 10)
    X = random_rows(rng, 3, ensemble.n_features)
    background = random_rows(rng, 7, ensemble.n_features)
    background[3] = background[2]  # repeated rows: one pattern counted twice
    values, used = core.interventional(ensemble, X, background, method=method)
    pairs, _ = core.interventional(ensemble, X, background, method=method, interactions=True)
    assert used == method
    for row, x in enumerate(X):
        game = interventional_game(lambda rows: predict_margin(ensemble, rows), x, background)
        np.testing.assert_allclose(values[row], shapley_values(game), atol=1e-12)
        np.testing.assert_allclose(pairs[row], interaction_values(game), atol=1e-12)


def test_the_memory_budget_picks_the_method_and_not_the_values():
    ensemble = random_ensemble(seed=4, n_trees=5, depth=6)
    rng = np.random.default_rng(4)
    X, background = random_rows(rng, 20, 4), random_rows(rng, 30, 4)
    roomy, used_roomy = core.interventional(ensemble, X, background, memory_budget=1e9)
    tight, used_tight = core.interventional(ensemble, X, background, memory_budget=1.0)
    assert (used_roomy, used_tight) == ("patterns", "pairs")
    np.testing.assert_allclose(roomy, tight, atol=1e-13)


def test_values_do_not_depend_on_the_thread_count():
    ensemble = random_ensemble(seed=6, n_trees=20, depth=7, n_features=6, n_outputs=2)
    rng = np.random.default_rng(6)
    X, background = random_rows(rng, 300, 6), random_rows(rng, 25, 6)
    for compute in (
        lambda jobs: core.path_dependent(ensemble, X, n_jobs=jobs),
        lambda jobs: core.path_dependent(ensemble, X[:60], interactions=True, n_jobs=jobs),
        lambda jobs: core.interventional(ensemble, X, background, n_jobs=jobs)[0],
        lambda jobs: core.predict(ensemble, X, n_jobs=jobs),
    ):
        one = compute(1)
        assert np.array_equal(one, compute(2))
        assert np.array_equal(one, compute(5))


def exact_path_dependent(ensemble, x):
    """The closed form phi_i = sum over leaves of value (o_i - p_i) * integral of prod_{j != i}
    (p_j + t (o_j - p_j)), the polynomials expanded and integrated in rational arithmetic."""
    from shapwise.explainers.tree._table import _goes_left

    n = ensemble.n_features
    phi = [Fraction(0)] * n

    def polynomial_product(factors):
        coefficients = [Fraction(1)]
        for constant, slope in factors:  # times (constant + slope t)
            grown = [Fraction(0)] * (len(coefficients) + 1)
            for k, c in enumerate(coefficients):
                grown[k] += c * constant
                grown[k + 1] += c * slope
            coefficients = grown
        return sum(c / (k + 1) for k, c in enumerate(coefficients))

    def visit(node, path):
        if ensemble.left[node] < 0:
            value = Fraction(float(ensemble.value[node, 0]))
            for i, (p, o) in path.items():
                others = [(q, r - q) for j, (q, r) in path.items() if j != i]
                phi[i] += value * (o - p) * polynomial_product(others)
            return
        f = int(ensemble.feature[node])
        left = bool(_goes_left(ensemble, np.array([node]), np.array([x[f]]))[0])
        for child, satisfied in ((ensemble.left[node], left), (ensemble.right[node], not left)):
            ratio = Fraction(float(ensemble.cover[child])) / Fraction(float(ensemble.cover[node]))
            p, o = path.get(f, (Fraction(1), 1))
            visit(int(child), {**path, f: (p * ratio, o * int(satisfied))})

    for tree in range(ensemble.n_trees):
        visit(int(ensemble.tree_start[tree]), {})
    return np.array([float(v) for v in phi])


def test_a_depth_30_forest_is_exact_and_adds_up():
    """30 distinct features on one path: 15 quadrature points, no cancellation."""
    ensemble = random_ensemble(seed=7, n_trees=4, depth=30, n_features=30, chain=True)
    assert int(np.max(np.diff(ensemble.tree_start))) == 61
    rng = np.random.default_rng(7)
    X = rng.normal(size=(3, 30))
    values = core.path_dependent(ensemble, X)[..., 0]
    outputs = core.predict(ensemble, X)[:, 0]
    base = core.expected_margin(ensemble)[0]
    scale = max(np.abs(outputs).max(), abs(base))
    assert np.abs(values.sum(axis=1) + base - outputs).max() <= 1e-9 * scale
    one_tree = random_ensemble(seed=7, n_trees=1, depth=30, n_features=30, chain=True)
    np.testing.assert_allclose(
        core.path_dependent(one_tree, X[:1])[0, :, 0],
        exact_path_dependent(one_tree, X[0]),
        atol=1e-12,
    )


def test_a_tree_of_more_than_40000_nodes():
    """A scikit-learn tree grown on 25,000 rows; the interventional values are brute force over
    the model's own predictions."""
    from sklearn.tree import DecisionTreeRegressor

    from shapwise.explainers.tree.parse_sklearn import parse_sklearn

    rng = np.random.default_rng(8)
    X = rng.normal(size=(25000, 4))
    y = X[:, 0] * X[:, 1] + rng.normal(size=25000)
    model = DecisionTreeRegressor(random_state=0).fit(X, y)
    ensemble = parse_sklearn(model)
    assert ensemble.n_nodes > 40000
    rows, background = X[:3], X[100:110]
    values, _ = core.interventional(ensemble, rows, background)
    for row, x in enumerate(rows):
        game = interventional_game(model.predict, x, background)
        np.testing.assert_allclose(values[row], shapley_values(game), atol=1e-10)
    path = core.path_dependent(ensemble, rows)[..., 0]
    outputs = model.predict(rows)
    np.testing.assert_allclose(
        path.sum(axis=1) + core.expected_margin(ensemble)[0], outputs, rtol=1e-10
    )


def test_the_core_refuses_broken_tables_and_buffers():
    ensemble = random_ensemble(seed=0)
    X = np.zeros((2, ensemble.n_features))
    fields = list(core.table_fields(ensemble))
    out = np.zeros((2, ensemble.n_features, 1))

    def call(fields, X=X, out=out):
        core._core.path_dependent(tuple(fields), ensemble.n_features, 1, X, out, 1, False)

    wrong_child = fields.copy()
    wrong_child[0] = fields[0].copy()
    wrong_child[0][0] = 10**12
    with pytest.raises(ValueError, match="outside its tree"):
        call(wrong_child)
    cycle = fields.copy()
    cycle[0] = fields[0].copy()
    internal = np.flatnonzero(fields[0] >= 0)
    cycle[0][internal[1]] = fields[0][0]  # two parents for one node
    with pytest.raises(ValueError, match="shared with another node"):
        call(cycle)
    wrong_feature = fields.copy()
    wrong_feature[2] = np.where(fields[0] >= 0, 99, -1).astype(np.int64)
    with pytest.raises(ValueError, match="feature 99"):
        call(wrong_feature)
    as_int32 = fields.copy()
    as_int32[0] = fields[0].astype(np.int32)
    with pytest.raises(TypeError, match="left"):
        call(as_int32)
    with pytest.raises(ValueError, match="out holds"):
        call(fields, out=np.zeros((3, ensemble.n_features, 1)))
    with pytest.raises(ValueError, match="not rows of"):
        call(fields, X=np.zeros(7))
    with pytest.raises(ValueError, match="columns"):
        core.path_dependent(ensemble, np.zeros((2, ensemble.n_features + 1)))
    with pytest.raises(ValueError, match="no rows"):
        core.interventional(ensemble, X, np.zeros((0, ensemble.n_features)))


def _link(transform, labels=None):
    def apply(margin):
        return core.link(np.asarray(margin).reshape(len(margin), -1), transform, labels)

    return apply


@pytest.mark.parametrize(
    "transform, n_outputs",
    [(core.SIGMOID, 1), (core.SOFTMAX, 3), (core.LOGISTIC_LOSS, 1), (core.SOFTMAX_LOSS, 3)],
)
def test_probability_and_log_loss_games_are_brute_force(transform, n_outputs):
    ensemble = random_ensemble(seed=11, n_trees=4, n_outputs=n_outputs, per_output=n_outputs > 1)
    rng = np.random.default_rng(11)
    X, background = random_rows(rng, 3, 4), random_rows(rng, 6, 4)
    labels = rng.integers(0, n_outputs if n_outputs > 1 else 2, size=len(X)).astype(float)
    values, sampled = core.transformed(ensemble, X, background, transform, labels)
    assert sampled == 0
    for row, x in enumerate(X):
        game = interventional_game(
            lambda rows, row=row: _link(transform, np.full(len(rows), labels[row]))(
                predict_margin(ensemble, rows)
            ),
            x,
            background,
        )
        np.testing.assert_allclose(values[row], shapley_values(game), atol=1e-12)


def test_sampled_probability_values_add_up_and_are_close():
    ensemble = random_ensemble(seed=12, n_trees=6, depth=5, n_features=6)
    rng = np.random.default_rng(12)
    X, background = random_rows(rng, 4, 6), random_rows(rng, 5, 6)
    exact, none_sampled = core.transformed(ensemble, X, background, core.SIGMOID)
    estimate, sampled = core.transformed(
        ensemble, X, background, core.SIGMOID, max_exact=1, permutations=400
    )
    assert none_sampled == 0 and sampled > 0
    np.testing.assert_allclose(estimate.sum(axis=1), exact.sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(estimate, exact, atol=0.02)
