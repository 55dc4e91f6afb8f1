"""Scatter: value against attribution, coloured by a given or automatically chosen feature."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise import Explanation, plots
from shapwise.plots.scatter import interaction_strengths
from tests.plots.drawing import render


def test_scatter_plots_data_against_values(diabetes_explanation, tmp_path):
    column = diabetes_explanation[:, "bmi"]
    ax = plots.scatter(column, color=diabetes_explanation[:, "bp"], show=False)
    render(ax.figure, tmp_path / "scatter.png")
    points = np.asarray(ax.collections[0].get_offsets())
    assert points[:, 0] == pytest.approx(column.data)
    assert points[:, 1] == pytest.approx(column.values)
    assert [a.get_label() for a in ax.figure.axes if a is not ax] == ["<colorbar>", "histogram"]
    colours = np.asarray(ax.collections[0].get_array())
    assert colours == pytest.approx(diabetes_explanation[:, "bp"].data)


def test_auto_colour_picks_the_interacting_feature(tmp_path):
    # f = x0 * x2 + x1: the attribution of x0 (x0 * x2 with a zero background) moves with x2.
    rng = np.random.default_rng(0)
    data = rng.normal(size=(300, 3))
    values = np.stack([data[:, 0] * data[:, 2], data[:, 1], data[:, 0] * data[:, 2]], axis=1)
    explanation = Explanation(values, np.zeros(300), data, feature_names=["a", "b", "c"])
    strengths = interaction_strengths(explanation[:, "a"], explanation)
    assert np.argmax(strengths) == 2
    assert strengths[0] == -np.inf  # never itself
    ax = plots.scatter(explanation[:, "a"], color=explanation, show=False)
    render(ax.figure, tmp_path / "auto.png")
    assert [a.get_ylabel() for a in _colorbars(ax)] == ["c"]
    assert ax.get_xlabel() == "a"


def test_scatter_on_a_real_model_colours_by_some_other_feature(diabetes_explanation):
    ax = plots.scatter(diabetes_explanation[:, "s5"], color=diabetes_explanation, show=False)
    (colorbar,) = _colorbars(ax)
    assert colorbar.get_ylabel() in diabetes_explanation.feature_names
    assert colorbar.get_ylabel() != "s5"


def _colorbars(ax) -> list:
    return [a for a in ax.figure.axes if a.get_label() == "<colorbar>"]


def test_scatter_wants_one_column(diabetes_explanation, iris_explanation):
    with pytest.raises(ValueError, match="exp\\[:, 'age'\\]"):
        plots.scatter(diabetes_explanation[0], show=False)
    with pytest.raises(ValueError, match="3 outputs"):
        plots.scatter(iris_explanation[:, 0], show=False)
