"""Exact values one background pattern at a time (_exact_patterns): against brute force, against
the table of every coalition, and the count of model rows from the definition."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from shapwise import explainers
from shapwise.explainers import _exact_patterns, _game
from shapwise.maskers import Independent
from tests.explainers.models import discrete_table
from tests.reference import masked_game, shapley_values


def _two_outputs(X):
    """Row-wise arithmetic with interactions, two outputs."""
    X = np.asarray(X, dtype=np.float64)
    first = X[:, 0] * X[:, 1] + np.where(X[:, 2] > 1, X[:, 3], -X[:, 4]) + X[:, 5] * X[:, 6]
    second = np.maximum(X[:, 7], X[:, 8]) + X[:, 9] * np.abs(X[:, 10]) - X[:, 11] * X[:, 0]
    return np.column_stack([first, second])


def _table_path(monkeypatch, model, background, rows):
    """The values from the table of v over all 2^M coalitions, every masked row evaluated."""
    with monkeypatch.context() as patch:
        patch.setattr(_game, "FIND_DISTINCT_ROWS", False)
        explainer = explainers.Exact(functools.partial(model), background)
        return explainer(rows, silent=True), explainer.model.n_evaluations


def test_values_are_the_shapley_values_of_the_masked_game(monkeypatch):
    table = discrete_table(40, seed=5)[:, :8]
    background, rows = table[:12], table[12:15].copy()
    rows[1] = background[4]  # a row equal to a background row: one pattern differs nowhere
    model = lambda X: _two_outputs(np.hstack([X, X[:, :4]]))  # noqa: E731
    explanation = explainers.Exact(model, background)(rows, silent=True)
    for x, values in zip(rows, explanation.values, strict=True):
        truth = np.stack(
            [
                shapley_values(masked_game(lambda Z, o=o: model(Z)[:, o], x, background), 8)
                for o in (0, 1)
            ],
            axis=1,
        )
        np.testing.assert_allclose(values, truth, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        explanation.base_values, np.broadcast_to(model(background).mean(axis=0), (3, 2)), atol=1e-12
    )
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_values, model(rows), atol=1e-12
    )


def test_values_equal_the_table_path_and_need_far_fewer_model_rows(monkeypatch):
    table = discrete_table(60, seed=1)
    background, rows = table[:20], table[20:26]
    explainer = explainers.Exact(functools.partial(_two_outputs), background)
    explanation = explainer(rows, silent=True)
    every, all_rows = _table_path(monkeypatch, _two_outputs, background, rows)
    # the table path sums v over 2^12 coalitions, each pattern's game over 2^d: rounding differs
    np.testing.assert_allclose(explanation.values, every.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(explanation.base_values, every.base_values, rtol=1e-14)
    # the definition: every background row once, each row's x once, and for background row b
    # differing from row x in d features its 2^d - 2 other subsets
    differing = (rows[:, None, :] != background[None, :, :]).sum(axis=2)
    expected = len(background) + len(rows) + np.maximum(2**differing - 2, 0).sum()
    assert explainer.model.n_evaluations == expected
    assert expected < 0.06 * all_rows


def test_weighted_background_rows_and_continuous_data(monkeypatch):
    rng = np.random.default_rng(3)
    background, rows = rng.normal(size=(9, 12)), rng.normal(size=(3, 12))
    weights = rng.random(9)
    masker = Independent(background)
    masker.weights = weights
    explanation = explainers.Exact(_two_outputs, masker)(rows, silent=True)
    with monkeypatch.context() as patch:
        patch.setattr(_game, "FIND_DISTINCT_ROWS", False)
        weighted = Independent(background)
        weighted.weights = weights
        every = explainers.Exact(_two_outputs, weighted)(rows, silent=True)
    np.testing.assert_allclose(explanation.values, every.values, rtol=0, atol=1e-12)
    mean = weights @ _two_outputs(background) / weights.sum()
    np.testing.assert_allclose(explanation.base_values[0], mean, rtol=1e-13)


def test_the_values_do_not_depend_on_how_rows_are_grouped(monkeypatch):
    table = discrete_table(50, seed=2)
    background, rows = table[:15], table[15:23]
    whole = explainers.Exact(_two_outputs, background)(rows, silent=True).values
    # groups of one or two rows: room for a little more than the largest row's masked rows
    differing = (rows[:, None, :] != background[None, :, :]).sum(axis=2)
    largest = int((2.0**differing).sum(axis=1).max())
    monkeypatch.setattr(_exact_patterns, "GROUP_OUTPUTS", 2 * largest + 2)
    plans = []
    original = _exact_patterns._Plan
    monkeypatch.setattr(
        _exact_patterns, "_Plan", lambda *a, **k: plans.append(1) or original(*a, **k)
    )
    grouped = explainers.Exact(_two_outputs, background)(rows, silent=True).values
    assert len(plans) >= 4
    np.testing.assert_array_equal(grouped, whole)


@pytest.mark.parametrize("case", ["logit link", "too many rows"])
def test_the_table_path_stands_in_where_patterns_do_not_apply(case, monkeypatch):
    table = discrete_table(30, seed=4)[:, :6]
    background, rows = table[:8], table[8:10]
    calls = []
    original = _exact_patterns._Plan
    monkeypatch.setattr(
        _exact_patterns, "_Plan", lambda *a, **k: calls.append(1) or original(*a, **k)
    )

    def probability(X):
        return 1.0 / (1.0 + np.exp(-(X[:, 0] * X[:, 1] - X[:, 2] + 0.3 * X[:, 5])))

    if case == "logit link":
        explanation = explainers.Exact(probability, background, link="logit")(rows, silent=True)
        link = lambda p: np.log(p / (1 - p))  # noqa: E731
    else:
        monkeypatch.setattr(_exact_patterns, "ROW_OUTPUTS", 8 * 2**6 - 1)
        explanation = explainers.Exact(probability, background)(rows, silent=True)
        link = None
    assert not calls
    for x, values in zip(rows, explanation.values, strict=True):
        truth = shapley_values(masked_game(probability, x, background, link), 6)
        np.testing.assert_allclose(values, truth, rtol=0, atol=1e-12)


def test_the_compiled_and_numpy_paths_give_the_same_values(monkeypatch):
    from shapwise.maskers import tabular

    table = discrete_table(50, seed=6)
    background, rows = table[:12], table[12:16]
    compiled = explainers.Exact(_two_outputs, background)(rows, silent=True, batch_size=1000)
    monkeypatch.setattr(_game, "COMPILED_DISTINCT", False)  # the sums by numpy's bincount
    monkeypatch.setattr(tabular, "_fill", None)  # the rows by numpy
    plain = explainers.Exact(_two_outputs, background)(rows, silent=True, batch_size=1000)
    np.testing.assert_array_equal(plain.values, compiled.values)


@pytest.mark.skipif(_game._distinct is None, reason="the compiled helpers are not built")
def test_the_compiled_helpers_refuse_units_outside_their_arrays():
    from shapwise.maskers import tabular

    masks, owners = np.ones((3, 2), dtype=bool), np.zeros(3, dtype=np.int64)
    rows, background = np.ones((1, 2)), np.zeros((2, 2))
    one = np.ones(1, dtype=np.int64)

    def fill(unit_mask, unit_source, unit_length, n_out=2, skip=0):
        tabular._fill.fill_units(
            np.empty((n_out, 2)), rows, background, masks, owners, unit_mask, unit_source,
            unit_length, skip, 2, 8,
        )  # fmt: skip

    fill(one * 1, one, one * 2)  # masks 1 and 2 over background row 1: in range
    with pytest.raises(ValueError, match="outside"):
        fill(one * 2, one, one * 2)  # masks 2 and 3
    with pytest.raises(ValueError, match="outside"):
        fill(one, one * 2, one)  # background row 2
    with pytest.raises(ValueError, match="fewer rows"):
        fill(one, one, one * 2, skip=1)
    tables = np.zeros((4, 1))
    _game._distinct.unit_sums(tables, np.ones((3, 1)), one * 1, one * 3, np.ones(1), 1)
    np.testing.assert_array_equal(tables[:, 0], [0, 1, 1, 1])
    with pytest.raises(ValueError, match="outside the tables"):
        _game._distinct.unit_sums(tables, np.ones((3, 1)), one * 2, one * 3, np.ones(1), 1)


def test_a_masker_that_writes_rows_its_own_way_keeps_the_table_path():
    """A subclass that clips what it writes is asked for every masked row."""

    class Clipped(Independent):
        def masked_rows(self, masks, rows, owners, out=None):
            return np.minimum(super().masked_rows(masks, rows, owners, out=out), 1.0)

        def masked_pairs(self, masks, rows, owners, background_rows, out, coalition=None):
            written = super().masked_pairs(masks, rows, owners, background_rows, out, coalition)
            np.minimum(written, 1.0, out=written)
            return written

    table = discrete_table(30, seed=8)[:, :6]
    background, rows = table[:8], table[8:10]
    model = lambda X: X[:, 0] * X[:, 1] + X[:, 4]  # noqa: E731
    explanation = explainers.Exact(model, Clipped(background))(rows, silent=True)
    clipped = lambda X: model(np.minimum(X, 1.0))  # noqa: E731
    for x, values in zip(rows, explanation.values, strict=True):
        truth = shapley_values(masked_game(clipped, x, background), 6)
        np.testing.assert_allclose(values, truth, rtol=0, atol=1e-12)


def test_a_first_and_a_second_call_take_the_same_path():
    """The outputs per row are known before the path is chosen (the background rows come
    first), so a model of many outputs gets the same values on every call."""
    table = discrete_table(60, seed=9)
    background, rows = table[:30], table[30:34]

    def many(X):
        return np.column_stack([X[:, i % 12] * X[:, (i + 1) % 12] for i in range(40)])

    explainer = explainers.Exact(many, background)
    first, second = explainer(rows, silent=True), explainer(rows, silent=True)
    np.testing.assert_array_equal(first.values, second.values)
