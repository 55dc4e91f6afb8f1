"""``shap.actions`` programs with ``import shapwise as shap``: the action optimiser finds a
cheapest set of actions, checked against brute force over every set and against shap 0.51."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import shapwise as shap
from shapwise.utils._exceptions import ConvergenceError, InvalidAction

real_shap = pytest.importorskip("shap")


def _raise_feature(base: type) -> type:
    """An action class on ``base`` (shapwise's or shap's Action): add ``amount`` to a feature."""

    class RaiseFeature(base):
        def __init__(self, feature: int, amount: float, cost: float) -> None:
            super().__init__(cost)
            self.feature, self.amount = feature, amount

        def __call__(self, row: np.ndarray) -> None:
            row[self.feature] += self.amount

        def __str__(self) -> str:
            return f"raise {self.feature} by {self.amount}"

    return RaiseFeature


OurRaise = _raise_feature(shap.actions.Action)


def _problem(seed: int):
    """A linear score that must reach a threshold, and groups of actions raising its features."""
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.5, 2.0, size=4)
    row = rng.normal(size=4)
    threshold = weights @ row + rng.uniform(4.0, 9.0)
    groups = []
    for feature, k in enumerate(rng.integers(1, 4, size=4)):
        amounts, costs = rng.uniform(0.5, 3, k), rng.integers(1, 9, k)
        groups.append([(feature, float(a), float(c)) for a, c in zip(amounts, costs, strict=True)])
    return weights, row, threshold, groups


def _brute_force_cost(weights, row, threshold, groups) -> float | None:
    """The least total cost over every choice of at most one action per group that works."""
    best = None
    for choice in itertools.product(*[[None, *group] for group in groups]):
        changed = row.copy()
        cost = 0.0
        for taken in choice:
            if taken is not None:
                feature, amount, price = taken
                changed[feature] += amount
                cost += price
        if weights @ changed >= threshold and (best is None or cost < best):
            best = cost
    return best


def _actions(base_class, groups):
    return [[base_class(*spec) for spec in group] for group in groups]


@pytest.mark.parametrize("seed", range(6))
def test_the_optimizer_finds_a_cheapest_set_that_brute_force_confirms(seed):
    weights, row, threshold, groups = _problem(seed)
    original = row.copy()
    optimizer = shap.ActionOptimizer(lambda r: weights @ r >= threshold, _actions(OurRaise, groups))
    found = optimizer(row)
    best = _brute_force_cost(weights, row, threshold, groups)
    if best is None:
        assert found is None
        return
    assert found is not None and sum(a.cost for a in found) == best
    changed = row.copy()
    for action in found:
        action(changed)
    assert weights @ changed >= threshold
    assert len({a.feature for a in found}) == len(found)  # at most one action per group
    np.testing.assert_array_equal(row, original)  # the caller's row is never changed


@pytest.mark.parametrize("seed", range(6))
def test_the_cheapest_cost_is_shaps(seed):
    weights, row, threshold, groups = _problem(seed)
    predicate = lambda r: weights @ r >= threshold  # noqa: E731
    ours = shap.ActionOptimizer(predicate, _actions(OurRaise, groups))(row)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's "alpha state" notice
        theirs = real_shap.ActionOptimizer(
            predicate, _actions(_raise_feature(real_shap.actions.Action), groups)
        )(row.copy())
    if theirs is None:
        assert ours is None
    else:
        assert sum(a.cost for a in ours) == sum(a.cost for a in theirs)


def test_a_known_small_problem():
    # approve when income + savings >= 11; income 4, savings 3
    row = np.array([4.0, 3.0])
    income = [OurRaise(0, 2.0, 3.0), OurRaise(0, 5.0, 7.0)]
    savings = OurRaise(1, 1.0, 1.0)
    optimizer = shap.ActionOptimizer(lambda r: r.sum() >= 11, [income, savings])
    found = optimizer(row)
    # +2 and +1 (cost 4) reach 10 only; +5 alone (cost 7) reaches 12; +5 and +1 cost 8
    assert [str(a) for a in found] == ["raise 0 by 5.0"]
    assert optimizer(np.array([9.0, 3.0])) == []  # already approved: nothing to do
    assert optimizer(np.array([0.0, 0.0])) is None  # 6 at most
    assert repr(savings) == "<Action 'raise 1 by 1.0'>"


def test_budget_and_bad_actions_get_clear_errors():
    groups = [[OurRaise(f, 0.1, c) for c in (1, 2, 3)] for f in range(4)]
    optimizer = shap.ActionOptimizer(lambda r: r.sum() > 100, groups)
    with pytest.raises(ConvergenceError, match="max_evals=20"):
        optimizer(np.zeros(4), max_evals=20)
    with pytest.raises(InvalidAction, match="not an Action"):
        shap.ActionOptimizer(lambda r: True, [OurRaise(0, 1.0, 1.0), "raise income"])
    with pytest.raises(InvalidAction, match="not an Action"):
        shap.ActionOptimizer(lambda r: True, [[]])
    with pytest.raises(ValueError, match=">= 0"):
        OurRaise(0, 1.0, -1.0)
    with pytest.raises(NotImplementedError, match="must implement"):
        shap.actions.Action(1.0)(np.zeros(2))


def test_shap_style_actions_on_a_dataframe_row():
    """Actions written as shap's tests write them: the cost set without Action.__init__, a
    pandas row changed in place."""
    pd = pytest.importorskip("pandas")
    rows = pd.DataFrame({"a": np.ones(3), "b": np.ones(3), "c": np.ones(3)})

    def action_on(column: str, price: float) -> type:
        class Raise(shap.actions.Action):
            def __init__(self, amount):
                self.amount, self.cost = amount, price * amount

            def __call__(self, row):
                row[column] += self.amount

            def __str__(self):
                return f"{column} + {self.amount}"

        return Raise

    raise_a, raise_b, raise_c = action_on("a", 5), action_on("b", 3), action_on("c", 4)
    groups = [[raise_a(i) for i in range(1, 10)], raise_b(5), [raise_c(i) for i in range(1, 20)]]
    row = rows.iloc[0]
    found = shap.ActionOptimizer(lambda r: r.sum() > 10, groups)(row)
    # brute force: the cheapest amounts with a + b + c > 10 from 1 + 1 + 1
    best = min(
        5 * i * (i > 0) + 15 * j + 4 * k
        for i in range(10)
        for j in (0, 1)
        for k in range(20)
        if 3 + i + 5 * j + k > 10
    )
    assert sum(a.cost for a in found) == best == 27 and len(found) == 2
    assert row.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ConvergenceError):
        shap.ActionOptimizer(lambda r: r.sum() > 10, groups)(row, max_evals=3)
    short = [[raise_a(i) for i in range(1, 10)], raise_b(5), [raise_c(1)]]
    # with c + 1 its dearest: a + 2, b + 5, c + 1 (cost 29) beats a + 3, b + 5 (30)
    found = shap.ActionOptimizer(lambda r: r.sum() > 10, short)(row)
    assert [str(a) for a in found] == ["a + 2", "b + 5", "c + 1"]
    with pytest.raises(InvalidAction):
        shap.ActionOptimizer(None, [None])
    with pytest.raises(TypeError):
        shap.actions.Action(cost="free")
    assert repr(raise_a(2)) == "<Action 'a + 2'>" and raise_a(1) < raise_a(2)
    assert shap.actions.Action(1.0)._group_index == 0
