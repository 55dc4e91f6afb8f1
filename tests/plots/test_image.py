"""Image: each image with a symmetric red/blue attribution map per output; HWC and CHW alike."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise import Explanation, plots
from tests.plots.drawing import render


def _attribution_images(figure):
    return [
        image
        for ax in figure.axes
        for image in ax.get_images()
        if image.get_cmap().name == "shapwise_red_blue"
    ]


def test_image_grid_has_an_image_and_a_map_per_output(digits_explanation, tmp_path):
    figure = plots.image(digits_explanation, show=False)
    render(figure, tmp_path / "image.png")
    maps = _attribution_images(figure)
    assert len(maps) == 3 * 3
    for image in maps:
        low, high = image.get_clim()
        assert low == pytest.approx(-high) and high > 0
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == ["zero", "one", "two"]
    first = np.asarray(maps[0].get_array())
    np.testing.assert_allclose(first, digits_explanation.values[0, :, :, 0, 0])
    assert any(ax.get_xlabel() == "SHAP value" for ax in figure.axes)


def _as_rgb(explanation: Explanation, channels_first: bool) -> Explanation:
    values = np.repeat(explanation.values / 3, 3, axis=3)
    data = np.repeat(explanation.data, 3, axis=3)
    if channels_first:
        values, data = np.moveaxis(values, 3, 1), np.moveaxis(data, 3, 1)
    return Explanation(values, explanation.base_values, data, output_names=explanation.output_names)


def test_channels_first_and_last_give_the_same_maps(digits_explanation):
    last = plots.image(_as_rgb(digits_explanation, False), show=False)
    first = plots.image(_as_rgb(digits_explanation, True), show=False)
    for a, b in zip(_attribution_images(last), _attribution_images(first), strict=True):
        np.testing.assert_allclose(np.asarray(a.get_array()), np.asarray(b.get_array()))
    np.testing.assert_allclose(
        np.asarray(_attribution_images(last)[1].get_array()),
        digits_explanation.values[0, :, :, 0, 1],
    )


def test_one_output_and_one_image(digits_explanation):
    figure = plots.image(digits_explanation[..., 1], show=False)
    assert len(_attribution_images(figure)) == 3
    figure = plots.image(digits_explanation[0], show=False)
    assert len(_attribution_images(figure)) == 3
