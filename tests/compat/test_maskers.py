"""shap-style masker programs (``import shapwise as shap``): the call protocol, the composite
maskers, Impute's conditional means and the tabular maskers' shap attributes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import is_valid_linkage, to_tree

import shapwise as shap
from shapwise.errors import DimensionError, InvalidClusteringError, InvalidMaskerError


@pytest.fixture
def background() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(6, 3))


def test_a_call_returns_a_tuple_and_a_scalar_mask_covers_every_feature(background):
    masker = shap.maskers.Independent(background)
    x = np.array([10.0, 20.0, 30.0])
    (kept,) = masker(True, x)
    np.testing.assert_array_equal(kept, np.tile(x, (6, 1)))
    (hidden,) = masker(False, x)
    np.testing.assert_array_equal(hidden, background)
    (some,) = masker(np.array([True, False, True]), x)
    np.testing.assert_array_equal(some[:, [0, 2]], np.tile(x[[0, 2]], (6, 1)))
    np.testing.assert_array_equal(some[:, 1], background[:, 1])
    (text,) = shap.maskers.Text()(False, "a good film")
    assert text.tolist() == ["..."]


def test_independent_takes_shaps_mean_and_covariance():
    mean, cov = np.array([1.0, 2.0, 3.0]), np.diag([1.0, 2.0, 3.0])
    masker = shap.maskers.Independent({"mean": mean, "cov": cov})
    np.testing.assert_array_equal(masker.data, mean[None])
    np.testing.assert_array_equal(masker.mean, mean)
    np.testing.assert_array_equal(masker.cov, cov)
    (hidden,) = masker(np.array([True, False, False]), np.zeros(3))
    np.testing.assert_array_equal(hidden, [[0.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="needs a 'mean' entry"):
        shap.maskers.Independent({"cov": cov})
    with pytest.raises(ValueError, match=r"must be \(3, 3\)"):
        shap.maskers.Independent({"mean": mean, "cov": np.eye(2)})


def test_invariants_say_which_features_equal_each_background_row(background):
    masker = shap.maskers.Independent(background)
    x = background[2].copy()
    x[0] = 99.0
    invariants = masker.invariants(x)
    assert invariants.shape == (6, 3)
    assert invariants[2].tolist() == [False, True, True]
    expected = np.isclose(x[None, :], background)  # elementwise, by definition
    np.testing.assert_array_equal(invariants, expected)
    with pytest.raises(DimensionError, match=r"shape \(2,\)"):
        masker.invariants(np.zeros(2))
    assert masker.partition is None and masker.clustering is None


def test_partition_takes_a_dataframe_without_clustering_and_refuses_unknown_forms(background):
    frame = pd.DataFrame(background, columns=["a", "b", "c"])
    plain = shap.maskers.Partition(frame, clustering=None)
    assert plain.clustering is None and plain.feature_names == ["a", "b", "c"]
    assert not plain.has_hierarchy
    by_metric = shap.maskers.Partition(frame, clustering="euclidean")
    assert is_valid_linkage(by_metric.clustering)
    given = shap.maskers.Partition(background, clustering=by_metric.clustering)
    np.testing.assert_array_equal(given.clustering, by_metric.clustering)
    with pytest.raises(InvalidClusteringError, match="distance metric name"):
        shap.maskers.Partition(background, clustering=3)


def test_fixed_leaves_its_input_as_it_is():
    fixed = shap.maskers.Fixed()
    labels = np.array([1, 0, 1])
    (out,) = fixed(np.zeros(0, dtype=bool), labels)
    assert len(out) == 1 and out[0] is labels
    assert fixed.shape == (None, 0) and fixed.clustering.shape == (0, 4)
    assert fixed.mask_shapes(labels) == [(0,)]


def test_composite_masks_each_input_with_its_own_masker(background):
    composite = shap.maskers.Composite(shap.maskers.Independent(background), shap.maskers.Fixed())
    x, label = np.array([5.0, 6.0, 7.0]), np.array([1.0])
    assert composite.shape(x, label) == (6, 3)
    masked_x, labels = composite(np.array([False, True, False]), x, label)
    expected = shap.maskers.Independent(background)(np.array([False, True, False]), x)[0]
    np.testing.assert_array_equal(masked_x, expected)
    assert len(labels) == 6 and all(entry is label for entry in labels)  # one row per background
    masked_all, _ = composite(True, x, label)
    np.testing.assert_array_equal(masked_all, np.tile(x, (6, 1)))
    with pytest.raises(InvalidMaskerError, match="takes 2 inputs"):
        composite(True, x)
    with pytest.raises(InvalidMaskerError, match="one input"):
        composite.masked_batch(np.ones((1, 3), bool), x)


def test_composite_joins_the_hierarchies_under_one_root(background):
    rng = np.random.default_rng(1)
    first = shap.maskers.Partition(background)  # 3 features
    second = shap.maskers.Partition(rng.normal(size=(6, 4)))  # 4 features
    composite = shap.maskers.Composite(first, second)
    x, y = np.zeros(3), np.zeros(4)
    joined = composite.clustering(x, y)
    assert joined.shape == (6, 4) and is_valid_linkage(joined)
    root = to_tree(joined)
    assert sorted(root.left.pre_order()) == [0, 1, 2]
    assert sorted(root.right.pre_order()) == [3, 4, 5, 6]
    # each side keeps its own hierarchy: the same leaf sets under every node
    own = {frozenset(n.pre_order()) for n in _nodes(to_tree(second.clustering))}
    shifted = {frozenset(i - 3 for i in n.pre_order()) for n in _nodes(root.right)}
    assert own == shifted
    assert (
        shap.maskers.Composite(shap.maskers.Independent(background), second).clustering(x, y)
        is None
    )


def _nodes(node):
    return [node] if node.is_leaf() else [node, *_nodes(node.left), *_nodes(node.right)]


def test_fixed_and_output_composites_pass_the_original_along(background):
    text = shap.maskers.Text()
    masked, original = shap.maskers.FixedComposite(text)(np.array([True, False]), "good film")
    assert masked.tolist() == ["good ..."] and original.tolist() == ["good film"]
    independent = shap.maskers.Independent(background)
    wrapped = shap.maskers.OutputComposite(independent, lambda x: x.sum())
    x = np.array([1.0, 2.0, 4.0])
    masked_rows, output = wrapped(np.array([True, True, False]), x)
    np.testing.assert_array_equal(masked_rows[:, 2], background[:, 2])
    assert output == 7.0
    assert wrapped.shape == independent.shape and wrapped.clustering is None


def _conditional_mean(mean, cov, visible, x):
    """E[x_H | x_V] of a Gaussian through its precision matrix P = cov^-1:
    mean_H - P_HH^-1 P_HV (x_V - mean_V) (the Schur-complement form)."""
    precision = np.linalg.inv(cov)
    hidden = [i for i in range(len(mean)) if i not in visible]
    out = np.array(x, dtype=float)
    shift = np.linalg.solve(
        precision[np.ix_(hidden, hidden)], precision[np.ix_(hidden, visible)] @ (x - mean)[visible]
    )
    out[hidden] = mean[hidden] - shift
    return out


def test_impute_fills_hidden_features_with_their_gaussian_conditional_mean():
    mean = np.array([1.0, -1.0, 0.5, 2.0])
    root = np.random.default_rng(2).normal(size=(4, 4))
    cov = root @ root.T + 0.5 * np.eye(4)
    masker = shap.maskers.Impute({"mean": mean, "cov": cov})
    x = np.array([2.0, 0.0, -1.0, 3.0])
    for visible in ([0], [1, 3], [0, 2, 3], [2]):
        mask = np.zeros(4, dtype=bool)
        mask[visible] = True
        (row,) = masker(mask, x)
        np.testing.assert_allclose(row[0], _conditional_mean(mean, cov, visible, x), atol=1e-12)
    (empty,) = masker(False, x)
    np.testing.assert_allclose(empty[0], mean)
    (full,) = masker(True, x)
    np.testing.assert_array_equal(full[0], x)


def test_impute_from_rows_uses_their_moments_and_handles_collinear_features():
    rng = np.random.default_rng(3)
    first = rng.normal(size=200)
    rows = np.column_stack([first, 2.0 * first + 1.0, rng.normal(size=200)])  # collinear pair
    masker = shap.maskers.Impute(pd.DataFrame(rows, columns=["a", "b", "c"]))
    assert masker.feature_names == ["a", "b", "c"] and masker.shape == (1, 3)
    np.testing.assert_allclose(masker.mean, rows.mean(0))
    (row,) = masker(np.array([True, False, False]), np.array([0.7, 0.0, 0.0]))
    assert row[0, 1] == pytest.approx(2.0 * 0.7 + 1.0)  # b is known exactly from a
    with pytest.raises(ValueError, match="method='linear' only"):
        shap.maskers.Impute(rows, method="knn")
