"""Partial dependence plot: the model's mean output as one feature sweeps a range, with each
row's own curve (ICE) and, for one explained row, its SHAP value drawn against the curve."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shapwise.explanation import Explanation
from shapwise.numeric import feature_names_of
from shapwise.plots._arrays import feature_data, feature_position
from shapwise.plots._common import BLUE, RED, clean_spines, finish, new_axes


def _limit(spec: Any, column: np.ndarray) -> float:
    """A number, or ``"percentile(p)"`` of the column."""
    if isinstance(spec, str):
        if not (spec.startswith("percentile(") and spec.endswith(")")):
            raise ValueError(f"xmin / xmax must be a number or 'percentile(p)'; got {spec!r}")
        return float(np.nanpercentile(column, float(spec[11:-1])))
    return float(spec)


def _predict(model: Any, rows: np.ndarray, frame_like: Any) -> np.ndarray:
    """Model outputs of ``rows``, as a DataFrame when the data came as one."""
    if hasattr(frame_like, "columns"):
        import pandas as pd

        rows = pd.DataFrame(rows, columns=frame_like.columns).astype(frame_like.dtypes.to_dict())
    return np.asarray(model(rows), dtype=np.float64).reshape(len(rows), -1)[:, 0]


def partial_dependence(
    ind: int | str,
    model: Any,
    data: Any,
    xmin: Any = "percentile(0)",
    xmax: Any = "percentile(100)",
    npoints: int | None = None,
    feature_names: Sequence[str] | None = None,
    hist: bool = True,
    model_expected_value: bool = False,
    feature_expected_value: bool = False,
    shap_values: Explanation | None = None,
    ylabel: str | None = None,
    ice: bool = True,
    ace_opacity: float = 1,
    pd_opacity: float = 1,
    pd_linewidth: float = 2,
    ace_linewidth: Any = "auto",
    ax: Any = None,
    show: bool = True,
) -> tuple[Any, Any]:
    """E[f(x) | x_ind = v] over the rows of ``data`` for v on a grid from ``xmin`` to ``xmax``.

    Args:
        ind: the feature (position or name).
        model: a function of rows (array or DataFrame, as ``data``) giving one output per row.
        npoints: grid points (default: 100, or the feature's distinct values when fewer).
        hist: the feature's distribution as a histogram behind the curves.
        model_expected_value / feature_expected_value: lines at E[f(x)] and at E[x_ind].
        shap_values: one row's explanation: its SHAP value for ``ind`` drawn as a segment from
            E[f(x)] at the row's feature value (for an additive model it ends on the curve).
        ice: each row's own curve (individual conditional expectation) in thin lines.

    Returns:
        (figure, axes), as shap returns them.
    """
    names = list(feature_names) if feature_names is not None else feature_names_of(data)
    rows = feature_data(data)
    if rows is None or rows.ndim != 2:
        raise ValueError("partial_dependence needs data of shape (rows, features)")
    position = feature_position(ind, names, np.zeros((1, rows.shape[1])))
    column = rows[:, position].astype(np.float64)
    low, high = _limit(xmin, column), _limit(xmax, column)
    count = npoints or min(100, len(np.unique(column)))
    grid = np.linspace(low, high, max(int(count), 2))
    curves = np.empty((len(rows), len(grid)))
    for k, value in enumerate(grid):
        swept = rows.copy()
        swept[:, position] = value
        curves[:, k] = _predict(model, swept, data)
    mean_curve = curves.mean(axis=0)

    ax = new_axes(ax, (6, 4))
    if hist:
        counts_ax = ax.twinx()
        counts_ax.hist(
            column,
            bins=min(50, max(len(np.unique(column)), 1)),
            range=(low, high),
            density=False,
            color="#cccccc",
            alpha=0.6,
        )
        counts_ax.set_yticks([])
        counts_ax.set_zorder(ax.get_zorder() - 1)
        ax.patch.set_visible(False)
    if ice:
        from matplotlib.collections import LineCollection

        width = min(1.0, 50 / len(rows)) if ace_linewidth == "auto" else ace_linewidth
        segments = [np.column_stack([grid, curve]) for curve in curves]
        ax.add_collection(
            LineCollection(
                segments, colors=BLUE, linewidths=width, alpha=0.3 * ace_opacity, label="ICE"
            )
        )
    ax.plot(
        grid,
        mean_curve,
        color="#000000",
        linewidth=pd_linewidth,
        alpha=pd_opacity,
        label="partial dependence",
    )
    expected = _predict(model, rows, data).mean()
    if model_expected_value:
        ax.axhline(expected, color="#999999", linestyle="--", linewidth=1, label="E[f(x)]")
    if feature_expected_value:
        ax.axvline(
            column.mean(),
            color="#999999",
            linestyle="--",
            linewidth=1,
            label=f"E[{_name(names, position)}]",
        )
    if shap_values is not None:
        _shap_segment(ax, shap_values, position, expected)
    ax.set_xlim(low, high)
    ax.set_xlabel(_name(names, position))
    ax.set_ylabel(ylabel or f"E[f(x) | {_name(names, position)}]")
    clean_spines(ax)
    ax.spines["left"].set_visible(True)
    finish(ax.figure, show)
    return ax.figure, ax


def _name(names: Sequence[str] | None, position: int) -> str:
    return str(names[position]) if names else f"Feature {position}"


def _shap_segment(ax: Any, explanation: Explanation, position: int, expected: float) -> None:
    if not isinstance(explanation, Explanation) or np.ndim(explanation.values) != 1:
        raise ValueError(
            "shap_values must be the explanation of one row, e.g. exp[0]; got "
            f"{type(explanation).__name__}"
        )
    value = float(explanation.values[position])
    x = float(np.asarray(explanation.data, dtype=np.float64)[position])
    ax.plot(
        [x, x],
        [expected, expected + value],
        color=RED if value >= 0 else BLUE,
        linewidth=3,
        label="SHAP value",
    )
    ax.plot([x], [expected + value], marker="o", color=RED if value >= 0 else BLUE)
