"""Per-row random generators: a row's values depend on its content and the root seed, never on
the other rows of the call, their order or how the rows were split into calls."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise.explainers import Kernel, Partition, Permutation, SamplingExplainer
from shapwise.explainers._seeds import RowSeeds, root_seed, row_generator, row_keys, text_keys
from tests.explainers.models import interaction_model

N_FEATURES = 9


def _problem(n_rows: int = 6):
    rng = np.random.default_rng(11)
    background = rng.normal(size=(8, N_FEATURES))
    X = rng.normal(size=(n_rows, N_FEATURES))
    return interaction_model(N_FEATURES, 2, seed=5), background, X


def _explainers(model, background):
    """Every sampling estimator on the coalition driver, each below 2^M evaluations."""
    return {
        "permutation": (Permutation(model, background, seed=3), {"max_evals": 60}),
        "kernel": (Kernel(model, background, seed=3), {"max_evals": 60}),
        "plain kernel": (
            Kernel(model, background, seed=3, regression_adjustment=False),
            {"max_evals": 60},
        ),
        "sampling": (SamplingExplainer(model, background, seed=3), {"nsamples": 60}),
    }


def _values(explainer, X, options):
    return np.asarray(explainer(X, silent=True, **options).values)


# --------------------------------------------------------------- keys
def test_keys_depend_on_the_row_alone():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6))
    keys = row_keys(X)
    assert keys.dtype == np.uint64 and keys.shape == (50,)
    assert len(set(keys.tolist())) == 50  # distinct rows, distinct keys
    np.testing.assert_array_equal(row_keys(X[::-1]), keys[::-1])
    np.testing.assert_array_equal(row_keys(X[10:20]), keys[10:20])
    # the value counts, not its type or sign of zero
    np.testing.assert_array_equal(row_keys(X.astype(np.float32)), row_keys(X.astype(np.float32)))
    ints = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(row_keys(ints), row_keys(ints.astype(np.float64)))
    np.testing.assert_array_equal(row_keys(np.array([[0.0, 1.0]])), row_keys(np.array([[-0.0, 1]])))
    # one changed bit in any column changes the key
    for column in range(6):
        changed = X[:1].copy()
        changed[0, column] = np.nextafter(changed[0, column], np.inf)
        assert row_keys(changed)[0] != keys[0]
    # the same values in another shape are another row
    assert row_keys(X[:1].reshape(1, 2, 3))[0] == keys[0]  # flattened in order
    assert row_keys(X[:1, :5])[0] != row_keys(X[:1])[0]


def test_keys_of_objects_texts_and_several_inputs():
    table = np.array([["red", 1.5, 3], ["blue", 1.5, 3], ["red", 1.5, 3]], dtype=object)
    keys = row_keys(table)
    assert keys[0] == keys[2] != keys[1]
    np.testing.assert_array_equal(row_keys(table.copy()), keys)  # stable, not by identity
    texts = ["a film", "another film", "a film"]
    text = text_keys(texts)
    assert text[0] == text[2] != text[1]
    np.testing.assert_array_equal(row_keys(np.array(texts)), text)
    a, b = np.arange(6.0).reshape(3, 2), np.ones((3, 4))
    both = row_keys([a, b])
    assert len(set(both.tolist())) == 3
    assert not np.array_equal(both, row_keys([a, b + 1]))  # every part counts
    assert not np.array_equal(both, row_keys(a))


def test_row_generators_and_roots():
    first = row_generator(7, 123).random(5)
    np.testing.assert_array_equal(row_generator(7, 123).random(5), first)
    assert not np.array_equal(row_generator(8, 123).random(5), first)
    assert not np.array_equal(row_generator(7, 124).random(5), first)
    seeds = RowSeeds(7, np.array([5, 123], dtype=np.uint64))
    np.testing.assert_array_equal(seeds.row(1).random(5), first)
    assert root_seed(4) == 4
    assert root_seed(None) != root_seed(None)  # fresh entropy each time
    with pytest.raises(ValueError, match="non-negative"):
        root_seed(-1)
    with pytest.raises(TypeError, match="integer"):
        root_seed(1.5)


# --------------------------------------------------------------- explainers
@pytest.mark.parametrize("name", ["permutation", "kernel", "plain kernel", "sampling"])
def test_values_do_not_depend_on_how_rows_are_grouped(name):
    """The same rows explained together, one at a time, shuffled and in uneven chunks give the
    same values (to rounding: model calls of other sizes may sum in another order)."""
    model, background, X = _problem()
    explainer, options = _explainers(model, background)[name]
    together = _values(explainer, X, options)
    alone = np.concatenate([_values(explainer, X[i : i + 1], options) for i in range(len(X))])
    order = np.random.default_rng(1).permutation(len(X))
    shuffled = np.empty_like(together)
    shuffled[order] = _values(explainer, X[order], options)
    chunks = np.concatenate(
        [_values(explainer, X[a:b], options) for a, b in [(0, 2), (2, 3), (3, 6)]]
    )
    for other in (alone, shuffled, chunks):
        np.testing.assert_allclose(other, together, rtol=1e-12, atol=1e-14)
    # and the rows are really sampled (not exact): another seed gives other values
    reseeded = _values(explainer, X, {**options, "seed": 4})
    assert np.abs(reseeded - together).max() > 1e-6


@pytest.mark.parametrize("name", ["permutation", "kernel"])
def test_identical_rows_get_identical_values(name):
    model, background, X = _problem(3)
    explainer, options = _explainers(model, background)[name]
    values = _values(explainer, np.concatenate([X, X[1:2], X]), options)
    np.testing.assert_array_equal(values[3], values[1])
    np.testing.assert_allclose(values[4:], values[:3], rtol=1e-12, atol=1e-14)
    assert np.abs(values[0] - values[1]).max() > 1e-6


def test_a_call_seed_overrides_a_missing_root():
    """seed=None draws a fresh root every call; a call's seed= fixes it for that call only."""
    model, background, X = _problem(3)
    explainer = Permutation(model, background)
    first, second = (_values(explainer, X, {"max_evals": 60}) for _ in range(2))
    assert np.abs(first - second).max() > 1e-6
    fixed = [_values(explainer, X, {"max_evals": 60, "seed": 21}) for _ in range(2)]
    np.testing.assert_array_equal(fixed[0], fixed[1])
    np.testing.assert_array_equal(
        fixed[0], _values(Permutation(model, background, seed=21), X, {"max_evals": 60})
    )
    assert explainer.seed is None  # the call did not change the explainer


def test_partition_and_exact_take_a_call_seed_and_ignore_it():
    model, background, X = _problem(2)
    explainer = Partition(model, background)
    np.testing.assert_array_equal(
        _values(explainer, X, {"max_evals": 100}),
        _values(explainer, X, {"max_evals": 100, "seed": 9}),
    )


@pytest.mark.parametrize("local_smoothing", [0.0, 0.1])
def test_torch_gradient_values_do_not_depend_on_how_rows_are_grouped(local_smoothing):
    """Expected gradients: each row's background draws, path positions and noise come from its
    own generator and its own model calls (60 draws: calls of 50 and 10 points)."""
    torch = pytest.importorskip("torch")
    from shapwise.explainers import GradientExplainer

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.GELU(), torch.nn.Linear(16, 2))
    rng = np.random.default_rng(2)
    background = rng.normal(size=(20, 5)).astype(np.float32)
    X = rng.normal(size=(9, 5)).astype(np.float32)
    explainer = GradientExplainer(net.eval(), background, local_smoothing=local_smoothing)

    def values(rows, rseed=1):
        return np.asarray(explainer.shap_values(rows, nsamples=60, rseed=rseed))

    together = values(X)
    alone = np.concatenate([values(X[i : i + 1]) for i in range(len(X))])
    order = np.random.default_rng(3).permutation(len(X))
    shuffled = np.empty_like(together)
    shuffled[order] = values(X[order])
    for other in (alone, shuffled):
        np.testing.assert_allclose(other, together, rtol=1e-12, atol=1e-14)
    assert np.abs(values(X, rseed=2) - together).max() > 1e-6  # sampled, by seed


def test_texts_are_keyed_by_their_string():
    """A text's permutations come from (seed, the text): its values are the same alone, among
    other texts in any order, and for a repeated text."""
    from shapwise.maskers import Text
    from tests.explainers.models import sentiment_pipeline

    model = sentiment_pipeline()
    explainer = Permutation(model.predict_proba, Text(), seed=2)
    texts = [
        "the film was great and the music sounded superb but the story is dull",
        "the acting felt awful, the music sounded boring and the film was moving",
    ]

    def values(batch):
        return [np.asarray(e.values) for e in explainer(batch, max_evals=40, silent=True)]

    together = values(texts)
    alone = [values([text])[0] for text in texts]
    swapped = values(texts[::-1])[::-1]
    repeated = values([texts[1], texts[0], texts[1]])
    for i in range(2):
        np.testing.assert_allclose(alone[i], together[i], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(swapped[i], together[i], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(repeated[0], repeated[2])
    reseeded = explainer(texts[:1], max_evals=40, silent=True, seed=3)
    assert np.abs(np.asarray(reseeded[0].values) - together[0]).max() > 1e-6  # sampled
