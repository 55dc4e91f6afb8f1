"""Beeswarm: a row of dots per feature with a feature-value colorbar."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise import plots
from shapwise.plots.beeswarm import swarm_offsets
from tests.plots.drawing import render, tick_labels


def test_beeswarm_rows_dots_and_colorbar(diabetes_explanation, tmp_path):
    ax = plots.beeswarm(diabetes_explanation, max_display=7, show=False)
    render(ax.figure, tmp_path / "beeswarm.png")
    labels = tick_labels(ax)
    assert len(labels) == 7
    assert labels[0] == "Sum of 4 other features"
    order = np.argsort(-np.abs(diabetes_explanation.values).mean(axis=0))
    assert labels[-1] == diabetes_explanation.feature_names[order[0]]
    # Every row of the explanation appears once per displayed feature.
    dots = sum(len(collection.get_offsets()) for collection in ax.collections)
    assert dots == 7 * len(diabetes_explanation)
    colorbars = [a for a in ax.figure.axes if a.get_ylabel() == "Feature value"]
    assert len(colorbars) == 1
    assert [t.get_text() for t in colorbars[0].get_yticklabels()] == ["Low", "High"]


def test_beeswarm_x_positions_are_the_values(diabetes_explanation):
    ax = plots.beeswarm(diabetes_explanation, max_display=20, show=False)
    top = np.asarray(ax.collections[0].get_offsets())[:, 0]
    order = np.argsort(-np.abs(diabetes_explanation.values).mean(axis=0))
    assert np.sort(top) == pytest.approx(np.sort(diabetes_explanation.values[:, order[0]]))


def test_swarm_offsets_separate_equal_values():
    offsets = swarm_offsets(np.zeros(5))
    assert len(set(np.round(offsets, 9))) == 5
    assert np.abs(offsets).max() <= 0.4 + 1e-9


def test_beeswarm_rejects_one_row(diabetes_explanation):
    with pytest.raises(ValueError, match="not one row"):
        plots.beeswarm(diabetes_explanation[0], show=False)


def test_beeswarm_order_as_in_shap(diabetes_explanation):
    from shapwise import Explanation

    names = diabetes_explanation.feature_names
    by_max = np.argsort(-np.abs(diabetes_explanation.values).max(axis=0))
    ax = plots.beeswarm(
        diabetes_explanation, max_display=4, order=Explanation.abs.max(0), show=False
    )
    assert tick_labels(ax)[::-1][:3] == [names[i] for i in by_max[:3]]


@pytest.mark.parametrize("plot", ["beeswarm", "bar", "heatmap"])
def test_nan_values_are_a_clear_error(diabetes_explanation, plot):
    values = diabetes_explanation.values.copy()
    values[2, 1] = np.nan
    broken = diabetes_explanation[:, :]
    broken.values = values
    with pytest.raises(ValueError, match=r"NaN or infinite \(the first at index \(2, 1\)\)"):
        getattr(plots, plot)(broken, show=False)
