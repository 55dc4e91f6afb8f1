"""What every plot shares: loading matplotlib, picking one output, names, ordering and colours."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise._optional import require
from shapwise.explanation import FEATURE, OUTPUT, ROW, Explanation, OpChain

# shap's colours, which users read without a legend: red raises the output, blue lowers it.
RED = "#ff0051"
BLUE = "#008bfb"
GREY = "#999999"
REDUCED_PRECISION = ("float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")


def pyplot() -> Any:
    """matplotlib.pyplot, or an ImportError that names the ``plots`` extra."""
    return require("matplotlib.pyplot", "plots")


def red_blue() -> Any:
    """The blue -> red colormap of feature values (low -> high) and of signed attributions."""
    colors = require("matplotlib.colors", "plots")
    return colors.LinearSegmentedColormap.from_list("shapwise_red_blue", [BLUE, "#ffffff", RED])


def red_blue_solid() -> Any:
    """Blue -> purple -> red, for feature values where white would vanish on a white background."""
    colors = require("matplotlib.colors", "plots")
    return colors.LinearSegmentedColormap.from_list("shapwise_feature", [BLUE, "#7a4fd8", RED])


# shap's messages for an input that is not an Explanation, which its users match
WRONG_TYPE_MESSAGES = {
    "bar": "The shap_values argument must be an Explanation object, Cohorts object, or "
    "dictionary of Explanation objects!",
    "scatter": "The shap_values parameter must be a shap.Explanation object!",
}


def wrong_type(plot: str, given: Any) -> TypeError:
    """The error for a plot given something other than an Explanation (shap's words first)."""
    message = WRONG_TYPE_MESSAGES.get(
        plot, f"The {plot} plot requires an `Explanation` object as the `shap_values` argument."
    )
    return TypeError(
        f"{message} Got {type(given).__name__}; explain the rows first (explainer(X)), or use "
        "the legacy function of arrays (e.g. summary_plot, dependence_plot)"
    )


def one_output(explanation: Explanation, plot: str, texts: bool = False) -> Explanation:
    """``explanation`` itself, or a clear error if it still has an output axis to choose from
    (or holds texts of different lengths, which only plots that take ``texts`` show)."""
    if not isinstance(explanation, Explanation):
        raise wrong_type(plot, explanation)
    if explanation.ragged and not texts:
        raise ValueError(
            f"{plot} needs the same features in every row, but these rows are texts with "
            f"different numbers of tokens; show them with plots.text, or pick one text, e.g. "
            f"{plot}(exp[0, :, 0])"
        )
    if OUTPUT in explanation.axis_kinds:
        axis = explanation.axis_kinds.index(OUTPUT)
        count = explanation.shape[axis]
        names = explanation.output_names
        shown = f" ({', '.join(names[:5])}{', ...' if count > 5 else ''})" if names else ""
        raise ValueError(
            f"{plot} shows one output but this explanation has {count} outputs{shown}; "
            "pick one first, e.g. exp[..., 0]" + (f" or exp[..., {names[0]!r}]" if names else "")
        )
    if not explanation.ragged:
        _check_finite_values(explanation, plot)
    return explanation


def _check_finite_values(explanation: Explanation, plot: str) -> None:
    values = np.asarray(explanation.values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{plot} needs finite values, but {int(bad.sum())} of this explanation's values are "
            f"NaN or infinite (the first at index {first}); leave those rows out, e.g. "
            f"{plot}(exp[np.isfinite(exp.values).all(axis=1)])"
        )


def local(explanation: Explanation, plot: str) -> Explanation:
    """One row with one output: values (n_features,), a scalar base value."""
    explanation = one_output(explanation, plot)
    if explanation.values.ndim != 1:
        raise ValueError(
            f"{plot} shows one row; this explanation has shape {explanation.values.shape}. "
            "Pick a row first, e.g. exp[0]"
        )
    return explanation


def matrix(explanation: Explanation, plot: str) -> Explanation:
    """Many rows with one output: values (n_rows, n_features)."""
    explanation = one_output(explanation, plot)
    if explanation.values.ndim != 2 or explanation.axis_kinds[0] != ROW:
        raise ValueError(
            f"{plot} shows many rows of tabular features, values of shape (rows, features); "
            f"this explanation has shape {explanation.values.shape} ({explanation.axis_kinds}). "
            "Pass the whole explanation, not one row"
        )
    return explanation


def feature_names(explanation: Explanation) -> list[str]:
    n_features = explanation.values.shape[explanation.axis_kinds.index(FEATURE)]
    names = explanation.feature_names
    if names is None or len(names) != n_features:
        return [f"Feature {i}" for i in range(n_features)]
    return list(names)


def scalar(array: Any) -> float | None:
    """A single number from a base value / output value that may be a 0-d or 1-element array."""
    if array is None:
        return None
    flat = np.asarray(array, dtype=np.float64).reshape(-1)
    return float(flat[0]) if flat.size else None


def top_features(importance: np.ndarray, max_display: int) -> tuple[np.ndarray, np.ndarray]:
    """(shown, rest): the ``max_display`` most important features, or ``max_display - 1`` of them
    plus the rest folded into one "Sum of N other features" entry when they do not all fit."""
    order = np.argsort(-np.abs(importance), kind="stable")
    if len(order) <= max_display:
        return order, order[:0]
    keep = max(max_display - 1, 1)
    return order[:keep], order[keep:]


def others_label(count: int) -> str:
    return f"Sum of {count} other feature{'s' if count != 1 else ''}"


def feature_importance(order: Any, explanation: Explanation, default: np.ndarray) -> np.ndarray:
    """Per-feature importance from shap's ``order=``, or ``default`` without one.

    ``order`` may be an op chain applied to the explanation (``Explanation.abs.max(0)``), an
    ordering of feature positions, most important first (``exp.abs.mean(0).argsort.flip``), or one
    importance per feature.
    """
    if order is None:
        return default
    if isinstance(order, OpChain):
        order = order.apply(explanation)
    order = np.asarray(getattr(order, "values", order))
    n_features = len(default)
    if order.shape != (n_features,):
        raise ValueError(
            f"order must give one entry per feature ({n_features}); got shape {order.shape}"
        )
    if order.dtype.kind in "iu" and sorted(order.tolist()) == list(range(n_features)):
        importance = np.empty(n_features)
        importance[order] = np.arange(n_features, 0, -1)
        return importance
    return np.abs(order.astype(np.float64))


def displayed_features(
    values: np.ndarray, labels: list[str], importance: np.ndarray, max_display: int
) -> tuple[np.ndarray, list[str], list[np.ndarray]]:
    """The entries a plot draws, most important first: shown features, then the rest summed.

    Args:
        values: attributions with the features on the last axis.
        labels: one label per feature.
        importance: one number per feature; the largest magnitudes are shown.

    Returns:
        (indexes of the shown features, one label per entry, the values of each entry), where a last
        "Sum of N other features" entry sums the features that did not fit in ``max_display``.
    """
    shown, rest = top_features(importance, max_display)
    entry_labels = [labels[f] for f in shown]
    entries = [values[..., f] for f in shown]
    if len(rest):
        entry_labels.append(others_label(len(rest)))
        entries.append(values[..., rest].sum(axis=-1))
    return shown, entry_labels, entries


def labelled_with_data(names: list[str], data: Any) -> list[str]:
    """Labels "value = name" for one row's features, or the names alone without data."""
    if data is None:
        return names
    return [f"{format_data(value)} = {name}" for value, name in zip(data, names, strict=True)]


def format_number(value: float, digits: int = 3) -> str:
    """A short label for a number: a few significant digits, no trailing noise."""
    return f"{value:.{digits}g}"


def format_signed(value: float, digits: int = 3) -> str:
    return f"{value:+.{digits}g}"


def format_data(value: Any) -> str:
    if isinstance(value, (str, np.str_)):
        return str(value)
    try:
        return format_number(float(value), 4)
    except (TypeError, ValueError):
        return str(value)


def as_plot_numbers(values: Any) -> tuple[np.ndarray, list[str] | None]:
    """Feature values to place or colour by: numbers as float64 (and None), or, for strings and
    categories, each value's position among the sorted distinct values (and those values, to
    label the axis with)."""
    array = np.asarray(values)
    try:
        return array.astype(np.float64), None
    except (TypeError, ValueError):
        labels = np.array([str(value) for value in array.reshape(-1)])
        categories, codes = np.unique(labels, return_inverse=True)
        return codes.reshape(array.shape).astype(np.float64), categories.tolist()


def dtype_note(ax: Any, explanation: Explanation) -> None:
    """Say on the plot that the model computed in reduced precision (values are float32/64)."""
    dtype = explanation.model_dtype
    if dtype in REDUCED_PRECISION:
        ax.text(
            1.0,
            -0.12,
            f"model computes in {dtype}; values in float32",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color="#555555",
        )


def new_axes(ax: Any, size: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    plt = pyplot()
    _, ax = plt.subplots(figsize=size)
    return ax


def clean_spines(ax: Any) -> None:
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)


def finish(figure: Any, show: bool) -> None:
    """Lay out the figure and show it (blocking in scripts, inline in notebooks) when asked."""
    figure.tight_layout()
    if show:
        pyplot().show()
