"""The errors shap users catch or match, raised by shapwise's explainers with shap's types and
words (and shapwise's own reasons after them)."""

from __future__ import annotations

import numpy as np
import pytest

import shapwise as shap
from shapwise.utils._exceptions import InvalidAlgorithmError


def test_an_additivity_failure_is_shaps_assertion_with_shaps_words():
    rng = np.random.default_rng(0)
    background, X = rng.normal(size=(8, 3)), rng.normal(size=(2, 3))
    explainer = shap.explainers.Additive(lambda rows: rows[:, 0] * rows[:, 1], background)
    with pytest.raises(AssertionError, match="do not sum up to the model's output") as caught:
        explainer(X)
    assert isinstance(caught.value, shap.AdditivityError)
    assert isinstance(caught.value, ValueError)  # what shapwise raised before
    values = explainer(X, check_additivity=False).values  # shap's way out works too
    assert values.shape == (2, 3)


def test_an_unknown_algorithm_is_shaps_invalid_algorithm_error():
    background = np.zeros((4, 3))
    with pytest.raises(InvalidAlgorithmError, match="unknown algorithm 'fastest'"):
        shap.Explainer(lambda rows: rows.sum(1), background, algorithm="fastest")
