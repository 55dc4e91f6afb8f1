"""Permutation sampling is exact for additive models and converges to brute-force values."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise.explainers import Permutation, permutation
from shapwise.explainers._coalitions import all_coalitions, shapley_from_table
from shapwise.explainers._control_variate import gaussian_surrogate_values
from shapwise.explainers.permutation import (
    EXACT_STRATA_SHARE,
    _chain_masks,
    _cross_fit_row,
    cross_fit_plan,
    exact_depth,
    permutation_plan,
    plan_permutations,
)
from tests.explainers.models import additive_model, interaction_model
from tests.reference import masked_game, shapley_values


def test_exact_for_additive_models_at_any_budget():
    rng = np.random.default_rng(1)
    model, exact_values = additive_model(12)
    background = rng.normal(size=(10, 12))
    X = rng.normal(size=(3, 12))
    explanation = Permutation(model, background, seed=0)(X, max_evals=60)
    for row, x in enumerate(X):
        np.testing.assert_allclose(explanation.values[row], exact_values(x, background), atol=1e-10)


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_converges_to_brute_force(n_outputs):
    rng = np.random.default_rng(2)
    n = 9
    model = interaction_model(n, n_outputs, seed=3)
    background = rng.normal(size=(8, n))
    x = rng.normal(size=(1, n))
    truth = shapley_values(masked_game(model, x[0], background), n).reshape(n, -1)
    errors = []
    for budget in (40, 200, 2**n):
        values = Permutation(model, background, seed=0)(x, max_evals=budget).values[0]
        errors.append(np.abs(values.reshape(n, -1) - truth).mean())
    assert errors[2] < 1e-12  # the budget covers every coalition: exact
    assert errors[1] < errors[0]


def test_additive_with_sum_to_output_and_logit():
    rng = np.random.default_rng(4)
    model = interaction_model(11, 3)
    background = rng.normal(size=(6, 11))
    X = rng.normal(size=(2, 11))
    explanation = Permutation(model, background, link="logit", seed=1)(X, max_evals=100)
    total = explanation.values.sum(axis=1) + explanation.base_values
    np.testing.assert_allclose(total, np.log(model(X) / (1 - model(X))), atol=1e-10)


def test_budget_counts_distinct_coalitions_and_pairs_are_antithetic():
    rng = np.random.default_rng(0)
    orders, chains = plan_permutations(10, 200, rng)
    assert chains.shape == (len(orders), 11, 10)
    np.testing.assert_array_equal(orders[1], orders[0][::-1])
    prefixes = {frozenset(o[:k]) for o in orders for k in range(1, 10)}
    assert len(prefixes) + 2 <= 200
    # position balance: within a full block every feature takes every position once
    block = orders[: 2 * 10 : 2]
    for position in range(10):
        assert sorted(block[:, position]) == list(range(10))
    model = interaction_model(10)
    background = rng.normal(size=(5, 10))
    explainer = Permutation(model, background, seed=0)
    explainer(background[:1], max_evals=200)
    assert explainer.model.n_evaluations <= 200 * 5


def test_seed_makes_runs_repeatable():
    background = np.random.default_rng(0).normal(size=(5, 12))
    model = interaction_model(12)
    first = Permutation(model, background, seed=7)(background[:2], max_evals=80).values
    second = Permutation(model, background, seed=7)(background[:2], max_evals=80).values
    np.testing.assert_array_equal(first, second)


def test_rows_share_model_calls_without_changing_values():
    rng = np.random.default_rng(5)
    model = interaction_model(8, 2)
    background, X = rng.normal(size=(6, 8)), rng.normal(size=(5, 8))
    for link in ("identity", "logit"):
        explainer = Permutation(model, background, link=link, seed=3)
        default = explainer(X, max_evals=60)
        assert explainer.model.n_calls == 1  # every row's coalitions in one call
        split = Permutation(model, background, link=link, seed=3)(X, max_evals=60, batch_size=7)
        np.testing.assert_allclose(split.values, default.values, atol=1e-12)
        np.testing.assert_allclose(split.base_values, default.base_values, atol=1e-12)


def test_exact_depth_spends_at_most_its_share_of_the_budget():
    # all coalitions of <= k or >= M - k features: 112 for k = 2, 352 for k = 3
    assert [exact_depth(10, budget) for budget in (20, 100, 279, 280, 1000)] == [0, 1, 1, 2, 3]
    assert exact_depth(4, 10**6) == 1  # at least one position is left to sample


@pytest.mark.parametrize("share, exact", [(EXACT_STRATA_SHARE, True), (0.0, False)])
def test_end_strata_are_computed_exactly(monkeypatch, share, exact):
    """A game whose only interactions sit in coalitions of 1 and M - 1 features: the exact end
    strata (two positions at each end at this budget) make the estimate exact; sampling alone
    does not."""
    monkeypatch.setattr(permutation, "EXACT_STRATA_SHARE", share)
    permutation.permutation_plan.cache_clear()
    n = 10
    rng = np.random.default_rng(6)
    a, c, d = rng.normal(size=(3, n))

    def model(S):  # with a zero background and a row of ones, inputs are coalition indicators
        size = S.sum(axis=1)
        return S @ a + np.where(size == 1, S @ c, 0.0) + np.where(size == n - 1, (1 - S) @ d, 0.0)

    background, x = np.zeros((1, n)), np.ones(n)
    truth = shapley_values(masked_game(model, x, background), n).reshape(-1)
    values = Permutation(model, background, seed=0)(x[None], max_evals=300).values[0]
    error = np.abs(values - truth).max()
    permutation.permutation_plan.cache_clear()
    assert (error < 1e-12) if exact else (error > 1e-3)


def test_estimates_are_unbiased():
    rng = np.random.default_rng(7)
    n = 8
    model = interaction_model(n, seed=2)
    background, x = rng.normal(size=(5, n)), rng.normal(size=(1, n))
    truth = shapley_values(masked_game(model, x[0], background), n).reshape(-1)
    runs = np.stack(
        [Permutation(model, background, seed=s)(x, max_evals=60).values[0] for s in range(300)]
    )
    single = np.abs(runs - truth).mean()
    assert np.abs(runs.mean(axis=0) - truth).mean() < 0.15 * single


def test_the_empty_coalition_is_evaluated_once_per_explanation():
    rng = np.random.default_rng(6)
    model = interaction_model(8)
    background, X = rng.normal(size=(6, 8)), rng.normal(size=(3, 8))
    explainer = Permutation(model, background, seed=2)
    explanation = explainer(X, max_evals=60)
    distinct = len(permutation_plan(8, 60).distinct)
    assert explainer.model.n_evaluations == (3 * (distinct - 1) + 1) * 6
    np.testing.assert_array_equal(explanation.base_values, explanation.base_values[0])
    np.testing.assert_allclose(explanation.base_values[0], model(background).mean(), atol=1e-12)


# ------------------------------------------------------------------ the cross-fitted estimator
def _pairwise_game(n: int, seed: int):
    """A 2-additive game of binary inputs (explained at ones against zeros) and its values."""
    rng = np.random.default_rng(seed)
    main, pairs = rng.normal(size=n), np.triu(rng.normal(size=(n, n)), 1)

    def model(Z):
        Z = (np.asarray(Z) != 0).astype(np.float64)
        return Z @ main + np.einsum("ni,nj,ij->n", Z, Z, pairs)

    return model, main + (pairs.sum(axis=0) + pairs.sum(axis=1)) / 2


@pytest.mark.parametrize("n", [8, 10, 12, 14])
def test_plain_estimates_are_exact_on_pairwise_games_at_every_budget(n):
    """Antithetic pairs estimate a 2-additive game exactly, with or without exact end strata:
    at budgets where the strata left a few orders that gave some feature no sampled position
    (e.g. 12 features, 65-76 evaluations), its value was off by up to 3."""
    model, truth = _pairwise_game(n, seed=n)
    x, background = np.ones((1, n)), np.zeros((1, n))
    explainer = Permutation(model, background, seed=0)
    for budget in range(2 * n + 2, 8 * n):
        values = explainer(x, max_evals=budget, silent=True).values[0]
        np.testing.assert_allclose(values, truth, atol=1e-9, err_msg=f"max_evals={budget}")


@pytest.mark.parametrize(("n", "budget"), [(8, 150), (10, 300), (12, 500), (14, 2000), (16, 800)])
def test_cross_fitted_plan_fits_the_budget_and_walks_whole_orders(n, budget):
    plan = cross_fit_plan(n, budget)
    assert plan is not None and plan.n_coalitions <= budget
    masks, folds = _cross_fit_row(plan, np.random.default_rng(0))
    assert len(masks) == plan.n_coalitions
    for chains, who in folds:
        assert len(chains) >= 4 and len(chains) % 2 == 0
        steps = masks[chains[:, 1:]] & ~masks[chains[:, :-1]]  # what each step adds
        assert (masks[chains[:, :-1]] <= masks[chains[:, 1:]]).all()
        np.testing.assert_array_equal(steps.sum(axis=2), 1)
        np.testing.assert_array_equal(np.argmax(steps, axis=2), who)
        np.testing.assert_array_equal(masks[chains[:, 0]].sum(axis=1), plan.positions[0])
        # every order comes with its reverse
        forward, reverse = who[0::2], who[1::2]
        np.testing.assert_array_equal(forward, reverse[:, ::-1])
    # each pair has its own relabelling
    assert len({tuple(order) for order in folds[0][1][0::2]}) == len(folds[0][1]) // 2
    model = interaction_model(n)
    background = np.random.default_rng(1).normal(size=(3, n))
    explainer = Permutation(model, background, seed=0)
    explainer(background[:2] + 1.0, max_evals=budget, control_variate=True)
    assert explainer.model.n_evaluations <= 2 * budget * 3


def test_cross_fitted_plan_keeps_the_deepest_strata_that_leave_two_pairs_a_fold():
    assert cross_fit_plan(12, 45) is None  # one pair of 22 coalitions past the empty and full
    assert len(cross_fit_plan(12, 46).folds) == 2  # one pair a fold, no strata but the ends
    # the default strata at 96 (sizes 0, 1, 11, 12) would leave 3 pairs: the ends alone leave 4
    assert exact_depth(12, 96) == 1
    assert len(cross_fit_plan(12, 96).folds) == 4 and cross_fit_plan(12, 96).positions[0] == 0
    assert len(cross_fit_plan(12, 192).folds) == 9 and cross_fit_plan(12, 192).positions[0] == 1
    assert cross_fit_plan(3, 6) is None and cross_fit_plan(17, 10**4) is None


@pytest.mark.parametrize(("n", "budget"), [(10, 300), (12, 600), (12, 48), (12, 150)])
def test_cross_fitted_estimates_are_exact_on_pairwise_games(n, budget):
    """Antithetic pairs estimate a 2-additive game exactly, and either surrogate reproduces it
    (the pairwise fit, or at 12 features and 48 or 150 evaluations the Gaussian process,
    whose symmetrised game is then additive), so nothing is left for sampling noise."""
    model, truth = _pairwise_game(n, seed=n)
    rows = np.ones((3, n)) + np.arange(3)[:, None]
    explainer = Permutation(model, np.zeros((1, n)), seed=0)
    explanation = explainer(rows, max_evals=budget, control_variate=True)
    np.testing.assert_allclose(explanation.values, np.broadcast_to(truth, (3, n)), atol=1e-9)
    assert explanation.error_std.max() < 1e-9


@pytest.mark.parametrize("budget", [150, 600])  # the Gaussian process; the pair fit and network
def test_surrogate_lowers_the_error_on_a_model_with_higher_order_interactions(budget):
    """A smooth model with three-way terms, against brute force: over 40 rows the cross-fitted
    estimates have a smaller mean error than the plain ones at the same budget."""
    rng = np.random.default_rng(8)
    n = 10
    weights = rng.normal(size=(n, n, n)) / n

    def model(X):
        X = np.tanh(np.asarray(X, dtype=np.float64))
        return np.einsum("ni,nj,nk,ijk->n", X, X, X, weights) + X.sum(axis=1)

    background, X = rng.normal(size=(4, n)), rng.normal(size=(40, n))
    truth = np.stack([shapley_values(masked_game(model, x, background), n) for x in X])
    explainer = Permutation(model, background, seed=0)
    errors = {
        option: np.abs(explainer(X, max_evals=budget, control_variate=option).values - truth).mean()
        for option in (True, False)
    }
    assert errors[True] < errors[False], errors


def test_gaussian_surrogate_values_are_the_shapley_values_of_its_game():
    """phi(g) from the closed form equals brute force over g at all 2^M coalitions, g starts at
    v(empty) and keeps v(S) - v(N \\ S) where it was fitted, and a training set with a coalition but not its complement is refused."""
    n = 7
    rng = np.random.default_rng(3)
    every = all_coalitions(n)
    table = np.tanh(every @ rng.normal(size=n)) * (every @ rng.normal(size=n)) + 2.0
    orders = np.stack([rng.permutation(n) for _ in range(3)])
    chains = _chain_masks(np.concatenate([orders, orders[:, ::-1]])).reshape(-1, n)
    codes = chains @ (1 << np.arange(n))
    phi, at_every = gaussian_surrogate_values(chains, table[codes, None], every)
    np.testing.assert_allclose(phi[:, 0], shapley_from_table(at_every, n)[:, 0], atol=1e-9)
    assert at_every[0, 0] == pytest.approx(table[0])
    # it goes through what the pairs see of v: v(S) - v(N \\ S) at every training coalition
    dual = (1 << n) - 1 - codes
    seen = table[codes] - table[dual]
    np.testing.assert_allclose(at_every[codes, 0] - at_every[dual, 0], seen, atol=1e-6)
    one_way = _chain_masks(orders).reshape(-1, n)
    codes = one_way @ (1 << np.arange(n))
    assert gaussian_surrogate_values(one_way, table[codes, None], every) is None


def test_cross_fitted_estimates_are_additive_and_repeat_by_seed():
    model = interaction_model(12, 2, seed=4)
    background = np.random.default_rng(9).normal(size=(4, 12))
    X = np.random.default_rng(10).normal(size=(3, 12))
    first = Permutation(model, background, seed=5)(X, max_evals=600, control_variate=True)
    again = Permutation(model, background, seed=5)(X[::-1], max_evals=600, control_variate=True)
    np.testing.assert_array_equal(first.values, again.values[::-1])
    total = first.values.sum(axis=1) + first.base_values
    np.testing.assert_allclose(total, model(X), atol=1e-10)
    assert np.isfinite(first.error_std).all() and (first.error_std > 0).all()
