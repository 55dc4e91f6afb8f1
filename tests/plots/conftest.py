"""Real explanations to draw (see tests/real_explanations.py); figures closed after each test."""

from __future__ import annotations

import matplotlib
import pytest

import shapwise
from tests import real_explanations

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def diabetes_explanation() -> shapwise.Explanation:
    return real_explanations.diabetes()


@pytest.fixture
def iris_explanation() -> shapwise.Explanation:
    return real_explanations.iris()


@pytest.fixture
def half_precision_explanation() -> shapwise.Explanation:
    return real_explanations.half_precision()


@pytest.fixture
def digits_explanation() -> shapwise.Explanation:
    return real_explanations.digits()
