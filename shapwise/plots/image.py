"""Image plot: each image next to its attribution map for each chosen output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shapwise.explanation import OUTPUT, ROW, Explanation
from shapwise.plots._common import dtype_note, pyplot, red_blue, wrong_type

CHANNEL_SIZES = (1, 3, 4)


def to_hwc(array: np.ndarray) -> np.ndarray:
    """Images (N, H, W), (N, H, W, C) or (N, C, H, W), plus any trailing axes, as (N, H, W, C, ...).

    The channel axis is the one of size 1, 3 or 4: last when it can be (HWC), else first (CHW).
    """
    if array.ndim == 3:
        return array[..., None]
    if array.shape[3] in CHANNEL_SIZES or array.shape[1] not in CHANNEL_SIZES:
        return array
    return np.moveaxis(array, 1, 3)


def _displayable(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1] for imshow: 0-255 data divided by 255, anything else min-max scaled."""
    images = images.astype(np.float64)
    if images.min() >= 0 and images.max() > 1 and images.max() <= 255:
        return images / 255.0
    low = images.min(axis=(1, 2, 3), keepdims=True)
    high = images.max(axis=(1, 2, 3), keepdims=True)
    return (images - low) / np.where(high > low, high - low, 1.0)


def image(
    explanation: Explanation,
    labels: Sequence[str] | None = None,
    max_rows: int = 8,
    show: bool = True,
) -> Any:
    """A grid: one row per image, the image first, then one attribution map per output.

    Attribution maps sum the values over colour channels and share one symmetric red/blue scale
    (red raises the output, blue lowers it), so maps are comparable across outputs and images.

    Args:
        explanation: values (N, H, W[, C]) or (N, C, H, W) with an optional trailing output axis,
            e.g. from ``explainers.Partition(model, maskers.Image(...))(X, outputs=[0, 1])``.
        labels: a title for each output column (default: the explanation's output names).
        max_rows: the most images to draw.

    Returns:
        The matplotlib Figure.
    """
    if not isinstance(explanation, Explanation):
        raise wrong_type("image", explanation)
    values = np.asarray(explanation.values, dtype=np.float64)
    has_output = OUTPUT in explanation.axis_kinds
    if explanation.axis_kinds[0] != ROW:  # a single image: exp[0]
        values = values[None]
        data = None if explanation.data is None else np.asarray(explanation.data)[None]
    else:
        data = None if explanation.data is None else np.asarray(explanation.data)
    if not has_output:
        values = values[..., None]
    if values.ndim not in (4, 5):
        raise ValueError(
            "image needs values of shape (N, H, W[, C]) or (N, C, H, W), plus an optional output "
            f"axis; got {explanation.values.shape}"
        )
    values = to_hwc(values)
    values, data = values[:max_rows], None if data is None else to_hwc(data[:max_rows])
    n_rows, n_outputs = values.shape[0], values.shape[-1]
    maps = values.sum(axis=3)  # (N, H, W, O)
    limit = max(float(np.nanpercentile(np.abs(maps), 99.9)), 1e-12)
    names = list(labels) if labels is not None else explanation.output_names
    if names is None or len(names) != n_outputs:
        names = [f"Output {k}" for k in range(n_outputs)] if n_outputs > 1 else ["Attribution"]

    plt = pyplot()
    n_columns = n_outputs + (data is not None)
    figure, axes = plt.subplots(
        n_rows, n_columns, figsize=(2.2 * n_columns, 2.2 * n_rows + 0.8), squeeze=False
    )
    shown = _displayable(data) if data is not None else None
    colormap = red_blue()
    mappable = None
    for row in range(n_rows):
        column = 0
        if shown is not None:
            picture = shown[row]
            gray = picture.mean(axis=-1)
            if picture.shape[-1] in (3, 4):
                axes[row, 0].imshow(picture[..., :3])
            else:
                axes[row, 0].imshow(gray, cmap="gray")
            column = 1
        for output in range(n_outputs):
            ax = axes[row, column + output]
            if shown is not None:
                ax.imshow(shown[row].mean(axis=-1), cmap="gray", alpha=0.2)
            mappable = ax.imshow(
                maps[row, :, :, output], cmap=colormap, vmin=-limit, vmax=limit, alpha=0.85
            )
            if row == 0:
                ax.set_title(names[output], fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    colorbar = figure.colorbar(
        mappable, ax=list(axes.flat), orientation="horizontal", aspect=50, shrink=0.8, pad=0.04
    )
    colorbar.set_label("SHAP value")
    colorbar.outline.set_visible(False)
    dtype_note(axes[-1, -1], explanation)
    if show:
        plt.show()
    return figure
