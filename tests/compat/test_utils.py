"""``shap.utils`` programs run with ``import shapwise as shap``: checked against definitions,
closed forms and, where both are deterministic, shap 0.51 itself."""

from __future__ import annotations

from math import comb, factorial

import numpy as np
import pytest

import shapwise as shap
from shapwise.utils._exceptions import DimensionError, InvalidMaskerError

real_shap = pytest.importorskip("shap")


def _merged_sets(linkage: np.ndarray, n: int) -> list[frozenset]:
    """The leaf set of every merge, in the order the clustering made them."""
    members = {i: frozenset([i]) for i in range(n)}
    merged = []
    for k, row in enumerate(linkage):
        members[n + k] = members[int(row[0])] | members[int(row[1])]
        merged.append(members[n + k])
    return merged


def test_shapley_coefficients_are_the_shapley_weights():
    for n in (1, 2, 5, 9):
        weights = shap.utils.shapley_coefficients(n)
        expected = [factorial(s) * factorial(n - 1 - s) / factorial(n) for s in range(n)]
        np.testing.assert_allclose(weights, expected, rtol=1e-13)
        # every coalition of the n-1 others, weighted, sums to one
        assert sum(comb(n - 1, s) * w for s, w in enumerate(weights)) == pytest.approx(1.0)


def test_safe_isinstance_checks_loaded_classes_by_path():
    from sklearn.linear_model import LinearRegression

    model = LinearRegression()
    assert shap.utils.safe_isinstance(model, "sklearn.linear_model.LinearRegression")
    assert shap.utils.safe_isinstance(model, ["xgboost.XGBRegressor", "sklearn.base.BaseEstimator"])
    assert not shap.utils.safe_isinstance(model, "sklearn.svm.SVC")
    assert not shap.utils.safe_isinstance(model, "not_a_loaded_package.Model")
    with pytest.raises(ValueError, match="full path to a class"):
        shap.utils.safe_isinstance(model, "LinearRegression")


def test_assert_import_raises_the_recorded_error():
    shap.utils.assert_import("some_package_never_recorded")  # nothing recorded: no error
    try:
        import some_package_that_is_not_installed  # noqa: F401
    except ImportError as error:
        shap.utils.record_import_error("missing_pkg", "missing_pkg could not be imported", error)
    with pytest.raises(ImportError, match="missing_pkg could not be imported"):
        shap.utils.assert_import("missing_pkg")


def test_sample_takes_shaps_keywords():
    X = np.arange(40.0).reshape(20, 2)
    picked = shap.utils.sample(X, nsamples=5, random_state=1)
    assert picked.shape == (5, 2) and len({tuple(r) for r in picked}) == 5
    assert {tuple(r) for r in picked} <= {tuple(r) for r in X}
    assert shap.utils.sample(X, nsamples=50) is X


def test_hclust_joins_near_copies_first_like_shap():
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, 200))
    X = np.column_stack([a, b, a + 0.01 * c, b + 0.02 * c, c])
    for metric in ("euclidean", "correlation"):
        ours = shap.utils.hclust(X, metric=metric, linkage="average")
        theirs = real_shap.utils.hclust(X, metric=metric, linkage="average")
        assert _merged_sets(ours, 5) == _merged_sets(theirs, 5)
        assert _merged_sets(ours, 5)[:2] == [frozenset({0, 2}), frozenset({1, 3})]
    with pytest.raises(DimensionError, match="2-dimensional"):
        shap.utils.hclust(np.zeros(3))
    with pytest.raises(ValueError, match="Unknown linkage type"):
        shap.utils.hclust(X, linkage="ward")


def test_hclust_with_a_target_joins_redundant_features():
    rng = np.random.default_rng(1)
    x1, x2, x3 = rng.normal(size=(3, 400))
    X = np.column_stack([x1, x2, x1 + 0.001 * x3, x3])
    y = x1 + 0.5 * x2
    clustering = shap.utils.hclust(X, y, linkage="complete")
    assert _merged_sets(clustering, 4)[0] == frozenset({0, 2})
    distances = shap.utils.redundancy_distances(X, y)
    assert distances[0, 2] < 0.05 and distances[0, 1] > 0.9  # x2 says nothing of x1's part
    assert distances[3, 0] > 0.8  # x1 says nothing of what x3 (no signal) predicts
    np.testing.assert_allclose(np.diag(distances), 0.0, atol=1e-12)  # each predicts itself


def test_hclust_ordering_is_shaps_and_keeps_groups_together():
    rng = np.random.default_rng(2)
    rows = np.vstack([rng.normal(0, 0.1, (5, 3)), rng.normal(5, 0.1, (5, 3))])[rng.permutation(10)]
    order = shap.utils.hclust_ordering(rows)
    np.testing.assert_array_equal(order, real_shap.utils.hclust_ordering(rows))
    groups = (rows[order, 0] > 2.5).astype(int)
    assert np.count_nonzero(np.diff(groups)) == 1


def _interaction_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    values = np.column_stack([X[:, 0] * X[:, 2], 0.5 * X[:, 1], 0.8 * X[:, 2] * X[:, 0], -X[:, 3]])
    return X, values


def test_approximate_interactions_find_the_interacting_feature_as_shap_does():
    X, values = _interaction_data()
    order = shap.utils.approximate_interactions(0, values, X)
    assert order[0] == 2
    np.testing.assert_array_equal(order, real_shap.utils.approximate_interactions(0, values, X))
    import pandas as pd

    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    np.testing.assert_array_equal(shap.approximate_interactions("a", values, frame), order)


def test_potential_interactions_of_explanations_match_shaps():
    X, values = _interaction_data()
    ours = shap.Explanation(values, data=X)
    theirs = real_shap.Explanation(values, data=X)
    np.testing.assert_array_equal(
        shap.utils.potential_interactions(ours[:, 0], ours),
        real_shap.utils.potential_interactions(theirs[:, 0], theirs),
    )


def test_masked_model_gives_each_coalition_its_value():
    rng = np.random.default_rng(4)
    background = rng.normal(size=(8, 3))
    weights = np.array([1.0, -2.0, 0.5])
    x = np.array([1.0, 2.0, 3.0])
    masker = shap.maskers.Independent(background)
    model = shap.utils.MaskedModel(lambda rows: rows @ weights, masker, None, False, x)
    assert len(model) == 3
    masks = np.array([[False, False, False], [True, False, True], [True, True, True]])
    mean = background.mean(0)
    expected = [weights @ np.where(mask, x, mean) for mask in masks]  # linear: closed form
    np.testing.assert_allclose(model(masks), expected, rtol=1e-12)
    np.testing.assert_allclose(model.main_effects(), weights * (x - mean), rtol=1e-12)
    with pytest.raises(ValueError, match="boolean masks"):
        model(np.array([0.0, 1.0]))


def test_small_helpers_match_shap():
    for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111):
        assert shap.utils.ordinal_str(n) == real_shap.utils.ordinal_str(n)
    for value in (1.5, -2.25, 3.0, 0.1234):
        assert shap.utils.format_value(value, "%0.03f") == real_shap.utils.format_value(
            value, "%0.03f"
        )
    values = np.array([[1.0, -5.0, 2.0]])
    assert shap.utils.convert_name("rank(0)", values, ["a", "b", "c"]) == 1
    assert shap.utils.convert_name("c", values, ["a", "b", "c"]) == 2
    assert issubclass(InvalidMaskerError, ValueError)


def test_make_masks_match_shaps():
    rng = np.random.default_rng(5)
    clustering = shap.utils.hclust(rng.normal(size=(30, 6)), metric="euclidean")
    ours = shap.utils.make_masks(clustering).toarray()
    np.testing.assert_array_equal(ours, real_shap.utils.make_masks(clustering).toarray())
    assert ours.shape == (11, 6) and ours[-1].all()  # the root holds every feature


def test_partition_tree_is_shaps_and_its_shuffles_keep_every_node_together():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(2, 100))
    X = np.column_stack([a, b, a + 0.1 * rng.normal(size=100), b + 0.1 * rng.normal(size=100)])
    tree = shap.utils.partition_tree(X)
    import pandas as pd

    assert _merged_sets(tree, 4) == _merged_sets(real_shap.utils.partition_tree(pd.DataFrame(X)), 4)
    mask = np.array([True, True, True, False])
    seen = set()
    np.random.seed(0)
    for _ in range(30):
        order = np.zeros(3, dtype=int)
        shap.utils.partition_tree_shuffle(order, mask, tree)
        assert sorted(order) == [0, 1, 2]
        positions = {feature: k for k, feature in enumerate(order)}
        assert abs(positions[0] - positions[2]) == 1  # {0, 2} is a node: adjacent
        seen.add(tuple(order))
    assert len(seen) == 4  # both orders of each node's halves occur


def test_delta_minimization_order_is_shaps():
    masks = np.random.default_rng(7).random((40, 8)) > 0.5
    ours = shap.utils.delta_minimization_order(masks, max_swap_size=10)
    np.testing.assert_array_equal(ours, real_shap.utils.delta_minimization_order(masks, 10))
    steps = np.count_nonzero(masks[ours][1:] ^ masks[ours][:-1])
    assert steps <= np.count_nonzero(masks[1:] ^ masks[:-1])


def test_progress_and_quiet_stderr(capsys):
    import sys

    assert list(shap.utils.show_progress(range(5), total=5, silent=True)) == list(range(5))
    with shap.utils.suppress_stderr():
        print("hidden", file=sys.stderr)
    print("shown", file=sys.stderr)
    assert capsys.readouterr().err == "shown\n"
