"""Waterfall: bars go from the base value to the model output, small features folded together."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise import plots
from tests.plots.drawing import all_texts, render, tick_labels


def test_waterfall_ends_at_the_model_output(diabetes_explanation, tmp_path):
    row = diabetes_explanation[3]
    ax = plots.waterfall(row, max_display=6, show=False)
    render(ax.figure, tmp_path / "waterfall.png")

    bars = ax.patches
    assert len(bars) == 6
    top = max(bars, key=lambda bar: bar.get_y())
    bottom = min(bars, key=lambda bar: bar.get_y())
    output = float(row.output_values)
    assert top.get_x() + top.get_width() == pytest.approx(output, abs=1e-6)
    assert bottom.get_x() == pytest.approx(float(row.base_values), abs=1e-9)
    labels = tick_labels(ax)
    assert labels[0] == "Sum of 5 other features"
    assert any(f"f(x) = {output:.4g}" == text for text in all_texts(ax.figure))
    assert ax.get_xlabel() == f"E[f(X)] = {float(row.base_values):.4g}"


def test_waterfall_orders_features_by_size_largest_on_top(diabetes_explanation):
    row = diabetes_explanation[0]
    ax = plots.waterfall(row, max_display=20, show=False)
    names = [label.split(" = ")[-1] for label in tick_labels(ax)]
    expected = [row.feature_names[i] for i in np.argsort(np.abs(row.values))]
    assert names == expected


def test_waterfall_needs_one_output(iris_explanation):
    with pytest.raises(ValueError, match=r"3 outputs.*exp\[\.\.\., 0\]"):
        plots.waterfall(iris_explanation[0], show=False)
    ax = plots.waterfall(iris_explanation[0, :, "virginica"], show=False)
    assert len(ax.patches) == 4


def test_waterfall_needs_one_row(diabetes_explanation):
    with pytest.raises(ValueError, match=r"exp\[0\]"):
        plots.waterfall(diabetes_explanation, show=False)


def test_half_precision_model_is_named_and_numbers_stay_short(half_precision_explanation, tmp_path):
    ax = plots.waterfall(half_precision_explanation[0], show=False)
    render(ax.figure, tmp_path / "half.png")
    texts = all_texts(ax.figure)
    assert "model computes in float16; values in float32" in texts
    step_labels = [t for t in texts if t.startswith(("+", "-")) and " = " not in t]
    assert len(step_labels) == 10
    assert all(len(t.lstrip("+-").replace(".", "")) <= 6 for t in step_labels)
