"""The masker call forms shap has beyond one boolean mask: several coalitions per call (boolean
masks (K, features) or shap's delta-encoded integer masks) and ``MaskedModel`` over them.

Every masked row is checked against what the definition says it must be (the row's value where
the coalition keeps a feature, the background row's elsewhere), with the coalitions of a delta
mask decoded here by a plain loop over its entries; and against shap 0.51, whose tabular maskers
and ``MaskedModel`` take the same integer masks.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import shapwise as shap
from shapwise.maskers._delta import NOOP

real_shap = pytest.importorskip("shap")


def _decode(deltas: list[int], n_features: int) -> np.ndarray:
    """The coalitions of a delta mask, read entry by entry (shap's documented encoding)."""
    current = [False] * n_features
    coalitions = []
    for entry in deltas:
        if entry < 0:
            current[-entry - 1] = not current[-entry - 1]
            continue
        if entry != NOOP:
            current[entry] = not current[entry]
        coalitions.append(list(current))
    return np.array(coalitions, dtype=bool)


def _expected_rows(coalitions: np.ndarray, x: np.ndarray, background: np.ndarray) -> np.ndarray:
    """(K * rows, features): coalition k's masked copy of every background row, in order."""
    return np.concatenate([np.where(keep, x, background) for keep in coalitions])


def _expected_varying(coalitions: np.ndarray, x: np.ndarray, background: np.ndarray) -> list:
    """Which masked rows differ from the coalition before's (all of the first's)."""
    varying = [[True] * len(background)]
    for before, now in itertools.pairwise(coalitions):
        changed = before != now
        varying.append([bool((changed & (row != x)).any()) for row in background])
    return varying


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    background = rng.normal(size=(5, 4))
    x = background[2].copy()
    x[[0, 3]] = [7.0, -7.0]  # equal to background row 2 on features 1 and 2
    return background, x


DELTAS = [NOOP, 0, -2, 3, -1, -4, 1, -3, 2]  # five steps


def test_a_delta_mask_gives_every_coalitions_rows_and_which_rows_changed(table):
    background, x = table
    masker = shap.maskers.Independent(background)
    out = masker(np.array(DELTAS), x)
    assert isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], tuple)
    (inputs,), varying = out
    coalitions = _decode(DELTAS, 4)
    assert len(coalitions) == 5 and inputs.shape == (5 * 5, 4) and varying.shape == (5, 5)
    np.testing.assert_array_equal(inputs, _expected_rows(coalitions, x, background))
    assert varying.tolist() == _expected_varying(coalitions, x, background)
    assert not varying[-1].any()  # the last step toggles feature 2 twice back to where it was


def test_boolean_coalitions_give_the_same_as_their_delta_mask(table):
    background, x = table
    masker = shap.maskers.Partition(background)
    coalitions = _decode(DELTAS, 4)
    (by_delta,), delta_varying = masker(np.array(DELTAS), x)
    (by_masks,), mask_varying = masker(coalitions, x)
    np.testing.assert_array_equal(by_masks, by_delta)
    np.testing.assert_array_equal(mask_varying, delta_varying)
    (one,) = masker(coalitions[3], x)  # one boolean mask: shap's single-coalition tuple
    np.testing.assert_array_equal(one, np.where(coalitions[3], x, background))


def test_delta_masks_give_what_shaps_tabular_maskers_give(table):
    background, x = table
    deltas = np.array([NOOP, 0, -2, 3, -1, -4, 1])  # shap reads a no-op only as the first step
    for ours, theirs in [
        (shap.maskers.Independent(background), real_shap.maskers.Independent(background)),
        (shap.maskers.Independent(background[:1]), real_shap.maskers.Independent(background[:1])),
    ]:
        (our_rows,), our_varying = ours(deltas, x)
        (their_rows,), their_varying = theirs(deltas, x)
        np.testing.assert_array_equal(our_rows, their_rows)
        np.testing.assert_array_equal(our_varying, their_varying)
    frame = pd.DataFrame(background, columns=list("abcd"))
    ones = np.ones(4, dtype=int)  # shap's serialization test's mask: steps 1, 1, 1, 1
    np.testing.assert_array_equal(
        shap.maskers.Independent(frame)(ones, x)[1],
        real_shap.maskers.Independent(frame)(ones, x)[1],
    )


def test_a_table_of_mixed_types_reports_its_changed_rows_exactly():
    background = pd.DataFrame({"n": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    masker = shap.maskers.Independent(background)
    x = np.array([2.0, "a"], dtype=object)
    (inputs,), varying = masker(np.array([NOOP, 1, 0]), x)
    assert inputs.shape == (9, 2)
    assert inputs[:3, 1].tolist() == ["a", "b", "a"] and inputs[3:, 1].tolist() == ["a"] * 6
    # showing c changes only row 1 (the others hold "a"); then n changes rows 0 and 2
    assert varying.tolist() == [[True] * 3, [False, True, False], [True, False, True]]


def test_other_maskers_take_several_coalitions_too():
    text = shap.maskers.Text()
    (strings,), varying = text(np.array([0, 2, -1, NOOP, NOOP]), "a good film")
    assert strings.tolist() == ["a ...", "a ... film", "... film", "... film"]
    assert varying.tolist() == [[True], [True], [True], [False]]
    image = np.arange(12.0).reshape(2, 2, 3)
    masker = shap.maskers.Image(-1.0, image.shape)
    masks = np.zeros((2, 12), dtype=bool)
    masks[1, :6] = True
    (images,), _ = masker(masks, image)
    assert images.shape == (2, 2, 2, 3)
    np.testing.assert_array_equal(images[0], np.full((2, 2, 3), -1.0))
    np.testing.assert_array_equal(images[1].ravel(), np.r_[image.ravel()[:6], [-1.0] * 6])


def test_masks_that_do_not_fit_get_clear_errors(table):
    background, x = table
    masker = shap.maskers.Independent(background)
    with pytest.raises(ValueError, match="outside the 4 features"):
        masker(np.array([0, 4]), x)
    with pytest.raises(ValueError, match="ends with -2"):
        masker(np.array([0, -2]), x)
    with pytest.raises(TypeError, match="must be boolean"):
        masker(np.array([0.0, 1.0, 1.0, 0.0]), x)
    with pytest.raises(ValueError, match=r"\(coalitions, 4\)"):
        masker(np.ones((2, 3), dtype=bool), x)
    composite = shap.maskers.Composite(masker, shap.maskers.Fixed())
    assert not composite.supports_delta_masking and masker.supports_delta_masking
    with pytest.raises(TypeError, match="one boolean mask per call"):
        composite(np.array([0, 1]), x, np.array([1.0]))
    with pytest.raises(TypeError, match="FixedComposite takes one boolean mask"):
        shap.maskers.FixedComposite(masker)(np.ones((2, 4), dtype=bool), x)


def _model(rows: np.ndarray) -> np.ndarray:
    weights = np.array([[1.0, -0.5], [2.0, 0.0], [-1.0, 1.5], [0.5, 0.5]])
    return np.tanh(rows @ weights)


def test_masked_model_takes_delta_masks_with_shaps_values(table):
    background, x = table
    ours = shap.utils.MaskedModel(_model, shap.maskers.Independent(background), None, False, x)
    theirs = real_shap.utils.MaskedModel(
        _model, real_shap.maskers.Independent(background), real_shap.links.identity, False, x
    )
    deltas = np.array([NOOP, 0, -2, 3, -1, -4, 1])
    coalitions = _decode(deltas.tolist(), 4)
    expected = np.stack([_model(np.where(keep, x, background)).mean(0) for keep in coalitions])
    values = ours(deltas)
    assert values.shape == (4, 2)
    np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(values, theirs(deltas), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours(coalitions, batch_size=3), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(ours.varying_inputs(), theirs.varying_inputs())
    np.testing.assert_allclose(ours.main_effects(), theirs.main_effects(), rtol=1e-12)


def test_masked_model_evaluates_only_the_rows_a_coalition_changes(table):
    background, x = table
    seen = []

    def model(rows):
        seen.append(len(rows))
        return _model(rows)

    masked = shap.utils.MaskedModel(model, shap.maskers.Independent(background), None, False, x)
    # feature 1 equals background row 2's value: showing it changes the 4 other rows only
    values = masked(np.array([NOOP, 1, 0]))
    assert seen == [5 + 4 + 5]
    coalitions = _decode([NOOP, 1, 0], 4)
    expected = [_model(np.where(keep, x, background)).mean(0) for keep in coalitions]
    np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-15)


def test_masked_model_with_a_masker_function_and_a_composite(table):
    background, x = table

    def zero_out(mask, row):  # shap's custom masker example: one masked row, not a tuple
        return (row * mask).reshape(1, -1)

    masked = shap.utils.MaskedModel(_model, zero_out, None, False, x)
    coalitions = _decode(DELTAS, 4)
    np.testing.assert_allclose(
        masked(np.array(DELTAS)), _model(coalitions * x), rtol=1e-12, atol=1e-15
    )
    labels = np.array([1.0])
    composite = shap.maskers.Composite(shap.maskers.Independent(background), shap.maskers.Fixed())

    def loss(rows, label):
        return (_model(rows)[:, 0] - np.asarray(label, dtype=float).ravel()) ** 2

    masked = shap.utils.MaskedModel(loss, composite, None, False, x, labels)
    expected = [loss(np.where(keep, x, background), labels).mean() for keep in coalitions]
    np.testing.assert_allclose(masked(np.array(DELTAS)), expected, rtol=1e-12, atol=1e-15)


def test_masked_model_reevaluates_rows_that_are_only_close_to_the_background():
    background = np.array([[0.0, 1.0], [2.0, 3.0]])
    x = np.array([1e-9, 5.0])  # np.isclose to background row 0 in feature 0, not equal

    def steep(rows):
        return 1e9 * rows[:, 0] + rows[:, 1]

    masked = shap.utils.MaskedModel(steep, shap.maskers.Independent(background), None, False, x)
    values = masked(np.array([NOOP, 0, 1]))
    expected = [steep(np.where(keep, x, background)).mean() for keep in _decode([NOOP, 0, 1], 2)]
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    assert values[1] - values[0] == pytest.approx(0.5 * (1.0 + (1.0 - 2e9)), rel=1e-9)
    # shap 0.51 carries row 0's output over (its value is np.isclose) and gives 2.5, not 3
    assert values[1] == pytest.approx(3.0, rel=1e-12)


def test_masked_model_over_texts_and_images():
    def lengths(strings):
        return np.array([len(s) for s in strings], dtype=float)

    text = shap.utils.MaskedModel(lengths, shap.maskers.Text(), None, False, "a good film")
    assert len(text) == 3  # the text's tokens
    expected = [len(s) for s in ["a ...", "a good ...", "a good film"]]
    np.testing.assert_array_equal(text(np.array([0, 1, 2])), expected)
    image = np.arange(12.0).reshape(2, 2, 3)

    def total(images):
        return images.reshape(len(images), -1).sum(axis=1)

    masker = shap.maskers.Image(0.0, image.shape)
    pixels = shap.utils.MaskedModel(total, masker, None, False, image)
    coalitions = _decode([0, 5, -12, 1], 12)
    expected = [np.where(keep, image.ravel(), 0.0).sum() for keep in coalitions]
    np.testing.assert_array_equal(pixels(np.array([0, 5, -12, 1])), expected)


def test_masked_model_gives_a_dataframe_backgrounds_model_dataframes():
    background = pd.DataFrame({"n": [1.0, 2.0, 4.0], "c": ["a", "b", "a"]})
    x = np.array([8.0, "b"], dtype=object)

    def model(frame):
        assert list(frame.columns) == ["n", "c"] and frame["n"].dtype == np.float64
        return (frame["n"] * (frame["c"] == "a")).to_numpy()

    masked = shap.utils.MaskedModel(model, shap.maskers.Independent(background), None, False, x)
    coalitions = _decode([NOOP, 0, 1, -1, NOOP], 2)
    expected = []
    for keep in coalitions:
        n = np.where(keep[0], 8.0, background["n"])
        c = np.where(keep[1], "b", background["c"])
        expected.append((n * (c == "a")).mean())
    np.testing.assert_allclose(masked(np.array([NOOP, 0, 1, -1, NOOP])), expected, rtol=1e-12)
