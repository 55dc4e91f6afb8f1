"""The coalition game: v(S) of masks, the empty coalition evaluated once, the linearised link."""

from __future__ import annotations

import functools
import shutil

import numpy as np
import pytest

from shapwise.explainers import _game
from shapwise.explainers._game import CoalitionGame
from shapwise.links import logit
from shapwise.maskers import Independent
from shapwise.models import as_model
from tests.explainers.models import discrete_labels, discrete_table


def _probabilities(X):
    return 1.0 / (1.0 + np.exp(-X.sum(axis=1)))


def test_values_of_masks_that_are_all_empty():
    rng = np.random.default_rng(0)
    background, x = rng.normal(size=(7, 3)), rng.normal(size=3)
    mean = _probabilities(background).mean()
    empty = np.zeros((2, 3), dtype=bool)
    for linearize in (False, True):
        model = as_model(_probabilities)
        game = CoalitionGame(
            model, Independent(background), x[None], logit, linearize_link=linearize
        )
        np.testing.assert_allclose(game.values(empty)[:, 0], np.log(mean / (1 - mean)), rtol=1e-12)
        # asked again in the same explanation: no new model call
        evaluations = model.n_evaluations
        np.testing.assert_allclose(game.values(empty[:1]), game.values(empty)[:1], rtol=0)
        assert model.n_evaluations == evaluations


def test_values_of_masks_of_several_rows_in_one_list():
    """``values_of`` (masks with their rows, as rows refined in rounds give them) equals each
    row's own ``values``, in one model call."""
    rng = np.random.default_rng(1)
    background, X = rng.normal(size=(5, 4)), rng.normal(size=(3, 4))
    masks = rng.random((7, 4)) < 0.5
    masks[2] = False  # an empty coalition among them
    owners = np.array([0, 0, 1, 1, 1, 2, 2])
    model = as_model(_probabilities)
    game = CoalitionGame(model, Independent(background), X, logit)
    together = game.values_of(masks, owners)
    assert model.n_calls == 1
    for row in range(3):
        alone = CoalitionGame(as_model(_probabilities), Independent(background), X, logit)
        np.testing.assert_array_equal(
            together[owners == row], alone.values(masks[owners == row], row)
        )


# ------------------------------------------------------------------ each distinct masked row once
def _row_wise_model(X):
    """Elementwise arithmetic only, so a row's output does not depend on the rows beside it."""
    X = np.asarray(X, dtype=np.float64)
    return (
        X[:, 0] * X[:, 1]
        + np.where(X[:, 2] > 1, X[:, 3], -X[:, 4])
        + X[:, 5] * X[:, 6] * X[:, 7]
        + np.maximum(X[:, 8], X[:, 9])
        + X[:, 10] * np.abs(X[:, 11])
    )


def _explain(kind, model, background, rows, dedup, monkeypatch):
    """Values and model rows of one explanation; ``dedup`` True / False: distinct masked rows
    always / never looked for, None: as the rule decides. The model is new to each
    explanation (nothing learnt about it before, the same model calls each time)."""
    from shapwise import explainers, maskers

    monkeypatch.setattr(_game, "FIND_DISTINCT_ROWS", dedup)
    model = functools.partial(model)
    masker = (maskers.Partition if kind == "partition" else Independent)(background)
    if kind == "exact":
        explainer = explainers.Exact(model, masker)
        explanation = explainer(rows, silent=True)
    elif kind == "permutation":
        explainer = explainers.Permutation(model, masker, seed=3)
        explanation = explainer(rows, max_evals=300, silent=True)
    elif kind == "partition":
        explainer = explainers.Partition(model, masker)
        explanation = explainer(rows, max_evals=200, silent=True)
    else:
        explainer = explainers.KernelExplainer(model, masker, seed=3)
        explanation = explainer(rows, max_evals=300, silent=True)
    return explanation.values, explainer.model.n_evaluations


def _mostly_continuous(n_rows, seed):
    """12 continuous features but one binary column (as diabetes' sex)."""
    table = np.random.default_rng(seed).normal(size=(n_rows, 12))
    table[:, 2] = table[:, 2] > 0
    return table


def _same_values(kind, values, every_pair):
    """Bit for bit; Exact's values come one background pattern at a time where every masked
    row is not asked for (``_exact_patterns``), a sum in another order than the table of all
    coalitions that FIND_DISTINCT_ROWS = False gives."""
    if kind == "exact":
        np.testing.assert_allclose(values, every_pair, rtol=0, atol=1e-12)
    else:
        np.testing.assert_array_equal(values, every_pair)


@pytest.mark.parametrize("kind", ["exact", "permutation", "partition", "kernel"])
def test_distinct_masked_rows_evaluated_once_give_the_same_values_bit_for_bit(kind, monkeypatch):
    table = discrete_table(60, seed=1)
    background, rows = table[:20], table[20:24]
    values, evaluated = _explain(kind, _row_wise_model, background, rows, True, monkeypatch)
    every_pair, all_evaluated = _explain(
        kind, _row_wise_model, background, rows, False, monkeypatch
    )
    _same_values(kind, values, every_pair)
    # discrete features: many masked rows repeat (Partition's rounds are small, and a row
    # repeats only within one round)
    assert evaluated < (0.8 if kind == "partition" else 0.6) * all_evaluated
    # continuous but for one binary column: fewer repeat (Exact: a quarter, as half the pairs
    # share that value; Partition's rounds: none), the same values
    mostly = _mostly_continuous(24, seed=3)
    values, evaluated = _explain(kind, _row_wise_model, mostly[:20], mostly[20:], True, monkeypatch)
    every_pair, all_evaluated = _explain(
        kind, _row_wise_model, mostly[:20], mostly[20:], False, monkeypatch
    )
    _same_values(kind, values, every_pair)
    assert evaluated <= {"exact": 0.8, "permutation": 0.95, "kernel": 0.98}.get(kind, 1) * (
        all_evaluated
    )
    # continuous data: no value is shared, nothing to leave out but a mask an estimator asks
    # for twice, and the same values
    continuous = np.random.default_rng(2).normal(size=(24, 12))
    values, evaluated = _explain(
        kind, _row_wise_model, continuous[:20], continuous[20:], True, monkeypatch
    )
    every_pair, all_evaluated = _explain(
        kind, _row_wise_model, continuous[:20], continuous[20:], False, monkeypatch
    )
    _same_values(kind, values, every_pair)
    assert evaluated <= all_evaluated


def test_exact_evaluates_each_distinct_masked_row_once(monkeypatch):
    """The count from the definition: for row r and background row b differing in d features,
    the coalitions give 2^d distinct masked rows (the empty coalition once per explanation).
    The table path's count; one background pattern at a time, Exact needs fewer
    (test_exact_patterns)."""
    from shapwise import explainers
    from shapwise.explainers import _exact_patterns

    monkeypatch.setattr(_game, "FIND_DISTINCT_ROWS", True)  # the count, whatever the model costs
    monkeypatch.setattr(_exact_patterns, "pattern_exact_estimate", lambda game, done: None)
    table = discrete_table(40, seed=4)[:, :8]
    background, rows = table[:15], table[15:18]
    explainer = explainers.Exact(lambda X: X.sum(axis=1) ** 2, background)
    explainer(rows, silent=True, batch_size=10**5)  # one model call: rows repeat within one
    differing = (rows[:, None, :] != background[None, :, :]).sum(axis=2)  # (rows, background)
    expected = (2 ** differing[0]).sum()  # the first row: every coalition, the empty one too
    for d in differing[1:]:  # later rows: the empty coalition is known; a nonempty coalition
        # of features all equal to b's gives b's own row unless every feature differs
        expected += np.where(d == 8, 2**8 - 1, 2**d).sum()
    assert explainer.model.n_evaluations == expected
    assert expected < 0.25 * (2**8 + 2 * (2**8 - 1)) * 15


FINDERS = [
    "numpy",
    pytest.param(
        "compiled",
        marks=pytest.mark.skipif(_game._distinct is None, reason="the C finder is not built"),
    ),
]


@pytest.mark.parametrize("finder", FINDERS)
def test_patterns_find_every_distinct_masked_row_within_their_bounds(finder, monkeypatch):
    """Brute force: the distinct (row, background row, mask bits where they differ) triples
    are the distinct masked rows; every (mask, background row) entry points to one that is
    the same masked row; the bounds hold the count. Both finders; the compiled one's dense
    tables (few differing features) and hashed ones (many, up to 64) both."""
    monkeypatch.setattr(_game, "COMPILED_DISTINCT", finder == "compiled")
    rng = np.random.default_rng(7)
    for n_features, n_masks in ((6, 40), (10, 300), (14, 50), (40, 200), (64, 30)):
        rows = rng.integers(0, 2, size=(3, n_features)).astype(np.float64)
        background = rng.integers(0, 2, size=(9, n_features)).astype(np.float64)
        background[:, 0] = rng.normal(size=9)  # one continuous column
        masks = np.unique(rng.random((n_masks, n_features)) < 0.5, axis=0)
        owners = np.sort(rng.integers(0, 3, size=len(masks)))
        differs = rows[:, None, :] != background[None, :, :]
        patterns = _game._Patterns(differs)
        masks_per_row = np.bincount(owners, minlength=3)
        coalition, background_row, spread = patterns.distinct_rows(masks, owners, masks_per_row)
        distinct = {
            (owners[k], b, tuple(masks[k] & differs[owners[k], b]))
            for k in range(len(masks))
            for b in range(9)
        }
        assert len(coalition) == len(distinct)
        masked = np.where(masks[:, None, :], rows[owners][:, None, :], background[None])
        written = np.where(masks[coalition], rows[owners[coalition]], background[background_row])
        np.testing.assert_array_equal(spread(written), masked.reshape(-1, n_features))
        np.testing.assert_array_equal(  # one output per row, as most models give
            spread(written[:, :1]), masked.reshape(-1, n_features)[:, :1]
        )
        fewest, most = patterns.distinct_bounds(masks_per_row)
        assert fewest <= len(distinct) <= most


@pytest.mark.skipif(_game._distinct is None, reason="the C finder is not built")
def test_the_compiled_finder_refuses_a_layout_that_would_reach_outside_its_arrays():
    differs = np.random.default_rng(0).random((2, 5, 4)) < 0.5
    patterns = _game._Patterns(differs)
    masks = np.ones((3, 4), dtype=bool)
    first_of_row = patterns.first_of_row.astype(np.int64)
    n_places = int(np.diff(first_of_row)[[0, 0, 1]].sum())
    places = np.empty(n_places, dtype=np.int64)

    def find(owners=(0, 0, 1), members=patterns.members, n_features=4, n_places=n_places):
        return _game._distinct.distinct(
            places if n_places == len(places) else np.empty(n_places, dtype=np.int64),
            np.empty(15, dtype=np.int64),
            np.empty(15, dtype=np.int64),
            masks,
            np.array(owners, dtype=np.int64),
            first_of_row,
            patterns.differing,
            patterns.start.astype(np.int64),
            patterns.size.astype(np.int64),
            np.asarray(members, dtype=np.int64),
            5,
            n_features,
        )

    def spread(places, n_values):
        _game._distinct.spread(
            np.empty((15, 1)),
            np.zeros((n_values, 1)),
            places,
            np.array([0, 0, 1], dtype=np.int64),
            first_of_row,
            (patterns.pattern - patterns.first_of_row[:-1, None]).astype(np.int64),
            patterns.rank.astype(np.int64),
            5,
            1,
        )

    n_distinct = find()
    assert n_distinct == len(patterns.distinct_rows(masks, np.array([0, 0, 1]), [2, 1])[0])
    spread(places, n_distinct)
    with pytest.raises(ValueError, match="a place is not a row of values"):
        spread(places, n_distinct - 1)
    with pytest.raises(ValueError, match="owner 1 is not a row index in order"):
        find(owners=(1, 0, 1))
    with pytest.raises(ValueError, match="owner 2 is not a row index"):
        find(owners=(0, 0, 2))
    with pytest.raises(ValueError, match="member 3 is not a background row"):
        find(members=np.where(np.arange(10) == 3, 5, patterns.members))
    with pytest.raises(ValueError, match=f"places holds 8 bytes, expected {8 * n_places}"):
        find(n_places=1)
    with pytest.raises(ValueError, match="n_features must be 1 to 64"):
        find(n_features=65)


def _expensive_model(X):
    """A random-feature network of 1,024 tanh units: several microseconds per row."""
    weights = np.random.default_rng(0).normal(size=(X.shape[1], 1024)) / 4
    return np.tanh(np.asarray(X, dtype=np.float64) @ weights).sum(axis=1)


@pytest.mark.parametrize("kind", ["exact", "permutation"])
def test_the_rule_looks_for_distinct_rows_where_the_model_costs_more_than_finding(
    kind, monkeypatch
):
    """A model of microseconds per row on discrete features: looking for distinct rows
    spares most model rows, and a fresh explainer does it (the same rows as always)."""
    table = discrete_table(60, seed=1)
    background, rows = table[:20], table[20:22]
    values, evaluated = _explain(kind, _expensive_model, background, rows, None, monkeypatch)
    always, evaluated_always = _explain(kind, _expensive_model, background, rows, True, monkeypatch)
    _, evaluated_never = _explain(kind, _expensive_model, background, rows, False, monkeypatch)
    np.testing.assert_array_equal(values, always)
    assert evaluated == evaluated_always < 0.6 * evaluated_never


def test_the_rule_stops_looking_where_the_saving_is_smaller_than_the_cost(monkeypatch):
    """A model of nanoseconds per row, one binary column among continuous ones: at most a
    quarter of the masked rows repeat, sparing less model time than finding them costs, so
    after the first model call (whose cost is not known before) they are not looked for."""
    from shapwise.explainers import _exact_patterns

    # Exact's table path, which looks for them (one background pattern at a time it need not)
    monkeypatch.setattr(_exact_patterns, "pattern_exact_estimate", lambda game, done: None)
    mostly = _mostly_continuous(24, seed=3)[:, :10]
    background, rows = mostly[:20], mostly[20:24]

    def cheap(X):
        return X.sum(axis=1) ** 2

    values, evaluated = _explain("exact", cheap, background, rows, None, monkeypatch)
    always, evaluated_always = _explain("exact", cheap, background, rows, True, monkeypatch)
    never, evaluated_never = _explain("exact", cheap, background, rows, False, monkeypatch)
    np.testing.assert_array_equal(values, never)
    np.testing.assert_array_equal(values, always)
    assert evaluated_always < 0.8 * evaluated_never
    assert evaluated > 0.9 * evaluated_never


def test_exact_xgboost_classifier_on_a_census_like_table(monkeypatch):
    """shap's own case (Exact, xgboost classifier, 12 mostly discrete features, 100 background
    rows): the same values as with every pair evaluated, from far fewer model rows, and
    additive."""
    xgboost = pytest.importorskip("xgboost")
    table = discrete_table(600, seed=5)
    model = xgboost.XGBClassifier(n_estimators=30, max_depth=4, n_jobs=1)
    model.fit(table[200:], discrete_labels(table[200:]))

    def predict(X):
        return model.predict_proba(X)[:, 1]

    background, rows = table[:100], table[100:103]
    values, evaluated = _explain("exact", predict, background, rows, None, monkeypatch)
    every_pair, all_evaluated = _explain("exact", predict, background, rows, False, monkeypatch)
    _same_values("exact", values, every_pair)
    assert evaluated < all_evaluated / 5
    mean = predict(background).mean()
    np.testing.assert_allclose(values.sum(axis=1) + mean, predict(rows), atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_masked_pairs_are_the_masked_rows_of_their_background_rows(dtype):
    """The single masked rows the game writes (compiled writer, and numpy where the output is
    not contiguous) equal the full masked rows' entries of their background rows."""
    rng = np.random.default_rng(5)
    background, rows = rng.normal(size=(7, 5)), rng.normal(size=(3, 5))
    masker = Independent(background)
    masks = rng.random((40, 5)) < 0.5
    owners = np.sort(rng.integers(0, 3, size=40))
    sources = rng.integers(0, 7, size=40)
    full = masker.masked_rows(masks, rows, owners, out=np.empty((40, 7, 5), dtype=dtype))
    expected = full[np.arange(40), sources]
    contiguous = masker.masked_pairs(masks, rows, owners, sources, out=np.empty((40, 5), dtype))
    np.testing.assert_array_equal(contiguous, expected)
    strided = np.empty((40, 10), dtype=dtype)[:, ::2]
    masker.masked_pairs(masks, rows, owners, sources, out=strided)
    np.testing.assert_array_equal(strided, expected)
    # pairs naming their masks by index (the masks and owners one per mask), both writers
    coalition = rng.integers(0, 40, size=25)
    expected = full[coalition, sources[:25]]
    for out in (np.empty((25, 5), dtype), np.empty((25, 10), dtype)[:, ::2]):
        masker.masked_pairs(masks, rows, owners, sources[:25], out=out, coalition=coalition)
        np.testing.assert_array_equal(out, expected)
    from shapwise.maskers import tabular

    if tabular._fill is not None:  # the compiled writer checks what it is given
        with pytest.raises(ValueError, match="pair 3 names no mask or no background row"):
            tabular._fill.fill_pairs(
                np.empty((25, 5), dtype),
                rows.astype(dtype),
                background.astype(dtype),
                masks,
                owners.astype(np.int64),
                np.where(np.arange(25) == 3, 40, coalition).astype(np.int64),
                sources[:25].astype(np.int64),
                5,
                np.dtype(dtype).itemsize,
            )


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to build it")
def test_the_compiled_finder_is_built_where_a_compiler_is_present():
    assert _game._distinct is not None
