"""Heatmap: features x rows image, clustered rows, f(x) above, colorbar."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise import plots
from tests.plots.drawing import render, tick_labels


def test_heatmap_image_holds_the_values(diabetes_explanation, tmp_path):
    ax = plots.heatmap(diabetes_explanation, max_display=5, show=False)
    render(ax.figure, tmp_path / "heatmap.png")
    (image,) = ax.get_images()
    table = np.asarray(image.get_array())
    assert table.shape == (5, len(diabetes_explanation))
    order = np.argsort(-np.abs(diabetes_explanation.values).mean(axis=0))
    # Each image row holds one feature's values over all rows (in the clustered row order).
    assert np.sort(table[0]) == pytest.approx(np.sort(diabetes_explanation.values[:, order[0]]))
    rest = diabetes_explanation.values[:, order[4:]].sum(axis=1)
    assert np.sort(table[4]) == pytest.approx(np.sort(rest))
    labels = tick_labels(ax)  # bottom to top; an image's first row is at the top
    assert labels[-1] == "Sum of 6 other features" or labels[0] == "Sum of 6 other features"
    low, high = image.get_clim()
    assert low == pytest.approx(-high)
    assert any(a.get_ylabel() == "SHAP value" for a in ax.figure.axes)


def test_heatmap_top_line_is_the_model_output(diabetes_explanation):
    ax = plots.heatmap(diabetes_explanation, show=False)
    line_axes = [a for a in ax.child_axes if a.get_ylabel() == "f(x)"]
    (line,) = line_axes[0].get_lines()
    assert np.sort(line.get_ydata()) == pytest.approx(np.sort(diabetes_explanation.output_values))
