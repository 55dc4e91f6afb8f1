"""shap's older plotting functions, for code that still calls them, drawn by the Explanation plots.

They take arrays as shap's did (values, a features matrix or DataFrame, names) and hand an
:class:`~shapwise.Explanation` to ``beeswarm`` / ``bar`` / ``violin``, ``scatter``, ``force``,
``decision`` and ``image``. The other ``*_plot`` names are the Explanation plots themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shapwise.explanation import Explanation
from shapwise.numeric import feature_names_of, to_numpy
from shapwise.plots._arrays import feature_data, feature_position, rows_explanation
from shapwise.plots._common import clean_spines, finish, new_axes, pyplot
from shapwise.plots.bar import COHORT_COLORS, bar
from shapwise.plots.beeswarm import beeswarm
from shapwise.plots.decision import decision
from shapwise.plots.embedding import embedding as embedding_plot
from shapwise.plots.force import force
from shapwise.plots.group_difference import group_difference as group_difference_plot
from shapwise.plots.heatmap import heatmap as heatmap_plot
from shapwise.plots.image import image
from shapwise.plots.monitoring import monitoring as monitoring_plot
from shapwise.plots.partial_dependence import partial_dependence as partial_dependence_plot
from shapwise.plots.scatter import scatter
from shapwise.plots.stacked_force import force_rows
from shapwise.plots.text import text as text_plot
from shapwise.plots.violin import violin
from shapwise.plots.waterfall import waterfall as waterfall_plot

SUMMARY_TYPES = ("dot", "bar", "violin", "layered_violin", "compact_dot")


def _names(feature_names: Sequence[str] | None, features: Any, n: int) -> list[str]:
    names = list(feature_names) if feature_names is not None else feature_names_of(features)
    return [str(v) for v in names] if names is not None else [f"Feature {i}" for i in range(n)]


def summary_plot(
    shap_values: Any,
    features: Any = None,
    feature_names: Sequence[str] | None = None,
    max_display: int | None = None,
    plot_type: str | None = None,
    color: Any = None,
    axis_color: str = "#333333",
    title: str | None = None,
    alpha: float = 1,
    show: bool = True,
    sort: bool = True,
    color_bar: bool = True,
    plot_size: Any = "auto",
    layered_violin_max_num_bins: int = 20,
    class_names: Sequence[str] | None = None,
    class_inds: Any = None,
    color_bar_label: str = "Feature value",
    cmap: Any = None,
    show_values_in_legend: bool = False,
    use_log_scale: bool = False,
    rng: Any = None,
) -> Any:
    """shap's summary plot.

    - values (rows, features): a beeswarm ('dot', the default), global bars ('bar'), or a
      violin ('violin', 'layered_violin');
    - a list of per-class arrays: bars of mean |value| stacked by class (the default), with each
      class's total in the legend when ``show_values_in_legend``;
    - interaction values (rows, features, features): a grid of beeswarms, one per pair, or with
      'compact_dot' one beeswarm of the main effects and the largest interactions;
    - values of several outputs (rows, features, outputs), as an Explanation, as an array that
      is not square in its last two axes, or with plot_type='bar' and more than two outputs (as
      shap reads them): as the list of per-class arrays.

    Returns:
        The matplotlib Axes (the Figure for the grid of interactions).
    """
    if plot_type is not None and plot_type not in SUMMARY_TYPES:
        raise ValueError(f"plot_type must be one of {SUMMARY_TYPES}; got {plot_type!r}")
    shown = max_display or 20
    if isinstance(shap_values, Explanation):
        features = shap_values.data if features is None else features
        feature_names = feature_names or shap_values.feature_names
        outputs = shap_values.values.ndim == 3 and shap_values.axis_kinds[-1] == "output"
        shap_values = (
            list(np.moveaxis(shap_values.values, -1, 0)) if outputs else shap_values.values
        )
    shap_values = _as_classes(shap_values, plot_type)
    if isinstance(shap_values, list):
        if plot_type not in (None, "bar"):
            raise ValueError(
                f"a list of per-class values is drawn as stacked bars (plot_type='bar'); for "
                f"plot_type={plot_type!r} pass one class, e.g. shap_values[1]"
            )
        return _class_bars(
            shap_values,
            features,
            feature_names,
            shown,
            class_names,
            class_inds,
            show_values_in_legend,
            sort,
            title,
            show,
        )
    values = to_numpy(shap_values, name="shap_values")
    if values.ndim == 3:
        return _interaction_summary(values, features, feature_names, shown, plot_type, show)
    explanation = rows_explanation(values, features, feature_names, "summary_plot")
    order = None if sort else np.arange(values.shape[1])
    if plot_type in ("violin", "layered_violin"):
        ax = violin(
            explanation,
            max_display=shown,
            plot_type=plot_type,
            sort=sort,
            color_bar=color_bar,
            layered_violin_max_num_bins=layered_violin_max_num_bins,
            cmap=cmap,
            color_bar_label=color_bar_label,
            use_log_scale=use_log_scale,
            title=title,
            alpha=alpha,
            color=color,
            show=False,
        )
    elif plot_type == "bar":
        ax = bar(explanation, max_display=shown, order=order, show=False)
    else:
        ax = beeswarm(explanation, max_display=shown, order=order, show=False)
        if use_log_scale:
            ax.set_xscale("symlog")
    if title:
        ax.set_title(title)
    finish(ax.figure, show)
    return ax


def _class_bars(
    shap_values: list,
    features: Any,
    feature_names: Sequence[str] | None,
    max_display: int,
    class_names: Sequence[str] | None,
    class_inds: Any,
    show_values_in_legend: bool,
    sort: bool,
    title: str | None,
    show: bool,
) -> Any:
    """Mean |value| of each feature for each class, stacked; the most important at the top."""
    per_class = [np.abs(to_numpy(v, name="shap_values")).mean(axis=0) for v in shap_values]
    if any(np.ndim(v) != 1 or len(v) != len(per_class[0]) for v in per_class):
        raise ValueError("each class's values must have the same shape (rows, features)")
    importance = np.stack(per_class)  # (classes, features)
    names = _names(feature_names, features, importance.shape[1])
    labels = (
        list(class_names)
        if class_names is not None
        else [f"Class {k}" for k in range(len(importance))]
    )
    if len(labels) != len(importance):
        raise ValueError(f"class_names has {len(labels)} names for {len(importance)} classes")
    total = importance.sum(axis=0)
    order = np.argsort(-total, kind="stable") if sort else np.arange(len(total))
    order = order[:max_display]
    if class_inds is None:
        classes = np.argsort(-importance.sum(axis=1), kind="stable")  # largest class first
    elif isinstance(class_inds, str) and class_inds == "original":
        classes = np.arange(len(importance))
    else:
        classes = np.asarray(class_inds, dtype=np.int64)

    ax = new_axes(None, (8, 0.45 * len(order) + 1.5))
    positions = np.arange(len(order))[::-1]
    left = np.zeros(len(order))
    for k in classes:
        widths = importance[k, order]
        label = labels[k]
        if show_values_in_legend:
            label = f"{label} ({np.round(importance[k].sum(), 3)})"
        ax.barh(
            positions,
            widths,
            left=left,
            height=0.7,
            label=label,
            color=COHORT_COLORS[int(k) % len(COHORT_COLORS)],
        )
        left += widths
    ax.set_yticks(positions, [names[f] for f in order])
    ax.set_xlabel("mean(|SHAP value|) (average impact on model output magnitude)")
    ax.legend(loc="lower right", frameon=False, fontsize=9)
    if title:
        ax.set_title(title)
    clean_spines(ax)
    finish(ax.figure, show)
    return ax


def _as_classes(shap_values: Any, plot_type: str | None) -> Any:
    """Values of several outputs (rows, features, outputs) as shap's list of per-class arrays;
    anything else unchanged."""
    if isinstance(shap_values, list) or getattr(shap_values, "ndim", 0) != 3:
        return shap_values
    values = to_numpy(shap_values, name="shap_values")
    square = values.shape[1] == values.shape[2]
    if not square or (plot_type == "bar" and values.shape[2] > 2):
        return [values[:, :, k] for k in range(values.shape[2])]
    return shap_values


def _interaction_summary(
    values: np.ndarray,
    features: Any,
    feature_names: Sequence[str] | None,
    max_display: int,
    plot_type: str | None,
    show: bool,
) -> Any:
    """Interaction values (rows, M, M): pairs drawn as beeswarms; off the diagonal each pair's
    value counts twice (the (i, j) and (j, i) halves), as in shap."""
    _, n_features, other = values.shape
    if n_features != other:
        raise ValueError(f"interaction values must be (rows, M, M); got {values.shape}")
    names = _names(feature_names, features, n_features)
    data = feature_data(features)
    order = np.argsort(-np.abs(values).sum(axis=(0, 2)), kind="stable")
    if plot_type == "compact_dot":
        entries, labels, colours = [], [], []
        for i in order:
            for j in order:
                if j < i:
                    continue
                entries.append(values[:, i, i] if i == j else 2 * values[:, i, j])
                labels.append(names[i] if i == j else f"{names[i]} * {names[j]}")
                colours.append(None if data is None else data[:, i])
        entries_matrix = np.stack(entries, axis=1)
        colour_data = None
        if data is not None:
            colour_data = np.stack(colours, axis=1)
        explanation = Explanation(
            entries_matrix, data=colour_data, feature_names=labels, axis_kinds=("row", "feature")
        )
        ax = beeswarm(explanation, max_display=max_display, show=False)
        ax.set_xlabel("SHAP interaction value")
        finish(ax.figure, show)
        return ax
    if plot_type not in (None, "dot"):
        raise ValueError(
            f"interaction values are drawn as plot_type 'dot' or 'compact_dot'; got {plot_type!r}"
        )
    shown = order[: min(max_display, 7)]
    plt = pyplot()
    figure, axes = plt.subplots(
        len(shown),
        len(shown),
        figsize=(1.8 * len(shown) + 1, 1.6 * len(shown)),
        squeeze=False,
        sharex=True,
    )
    for row, i in enumerate(shown):
        for column, j in enumerate(shown):
            pair = values[:, i, j] * (1 if i == j else 2)
            explanation = Explanation(
                pair[:, None],
                data=None if data is None else np.asarray(data)[:, [i]],
                feature_names=[names[i]],
                axis_kinds=("row", "feature"),
            )
            beeswarm(explanation, max_display=1, show=False, ax=axes[row, column])
            axes[row, column].set_yticks([])
            axes[row, column].set_xlabel("")
            if row == 0:
                axes[row, column].set_title(names[j], fontsize=9)
        axes[row, 0].set_ylabel(names[i], fontsize=9, rotation=0, ha="right")
    # the colorbars each beeswarm adds would crowd the grid; one would say the same
    for extra in [a for a in figure.axes if a.get_label() == "<colorbar>"]:
        extra.remove()
    finish(figure, show)
    return figure


def dependence_plot(
    ind: int | str | tuple,
    shap_values: Any = None,
    features: Any = None,
    feature_names: Sequence[str] | None = None,
    display_features: Any = None,
    interaction_index: int | str | None = "auto",
    color: str = "#1E88E5",
    axis_color: str = "#333333",
    cmap: Any = None,
    dot_size: float = 16,
    x_jitter: float = 0,
    alpha: float = 1,
    title: str | None = None,
    xmin: Any = None,
    xmax: Any = None,
    ax: Any = None,
    show: bool = True,
    ymin: Any = None,
    ymax: Any = None,
) -> Any:
    """shap's dependence plot: a feature's value against its attribution, coloured by another.

    Args:
        ind: the feature: a position, a name or ``"rank(k)"``; for interaction values
            (rows, M, M) a pair ``(i, j)`` draws that pair's value against feature i.
        display_features: the values to show on the x axis (e.g. strings), when they differ from
            ``features``.
        interaction_index: the colouring feature: "auto" (the one that seems to interact most),
            a position, a name, ``"rank(k)"``, or None.
        xmin, xmax, ymin, ymax: axis limits, numbers or ``"percentile(p)"``.

    Returns:
        The matplotlib Axes.
    """
    if isinstance(shap_values, Explanation):
        features = shap_values.data if features is None else features
        feature_names = feature_names or shap_values.feature_names
        shap_values = shap_values.values
    values = to_numpy(shap_values, name="shap_values")
    names = _names(feature_names, features, values.shape[1])
    data = feature_data(display_features if display_features is not None else features)
    if data is None:
        raise ValueError("dependence_plot needs the features (the explained rows) to plot against")
    if values.ndim == 3:
        return _interaction_dependence(ind, values, data, names, show, ax)
    explanation = Explanation(values, data=data, feature_names=names, axis_kinds=("row", "feature"))
    position = feature_position(ind, names, values)
    if interaction_index == "auto":
        from shapwise.utils.interactions import approximate_interactions

        colour_by = int(approximate_interactions(position, values, data)[0])
    elif interaction_index is None:
        colour_by = None
    else:
        colour_by = feature_position(interaction_index, names, values)
    colour = None if colour_by is None else explanation[:, colour_by]
    ax = scatter(explanation[:, position], color=colour, show=False, ax=ax, hist=False)
    _limits(ax, xmin, xmax, np.asarray(_numeric(data[:, position])), "x")
    _limits(ax, ymin, ymax, values[:, position], "y")
    if title:
        ax.set_title(title)
    finish(ax.figure, show)
    return ax


def _numeric(column: np.ndarray) -> np.ndarray:
    try:
        return column.astype(np.float64)
    except (TypeError, ValueError):
        return np.arange(len(np.unique(column.astype(str)))).astype(np.float64)


def _limits(ax: Any, low: Any, high: Any, column: np.ndarray, axis: str) -> None:
    def resolve(spec: Any) -> float | None:
        if spec is None:
            return None
        if isinstance(spec, str) and spec.startswith("percentile(") and spec.endswith(")"):
            return float(np.nanpercentile(column, float(spec[11:-1])))
        return float(spec)

    low, high = resolve(low), resolve(high)
    if low is not None or high is not None:
        (ax.set_xlim if axis == "x" else ax.set_ylim)(low, high)


def _interaction_dependence(
    ind: Any, values: np.ndarray, data: np.ndarray, names: list[str], show: bool, ax: Any
) -> Any:
    pair = ind if isinstance(ind, tuple) else (ind, ind)
    i, j = (feature_position(k, names, values.sum(axis=2)) for k in pair)
    pair_values = values[:, i, j] * (1 if i == j else 2)
    explanation = Explanation(
        np.column_stack([pair_values, values[:, j, j]]),
        data=np.column_stack([data[:, i], data[:, j]]),
        feature_names=[names[i], names[j]],
        axis_kinds=("row", "feature"),
    )
    colour = None if i == j else explanation[:, 1]
    ax = scatter(explanation[:, 0], color=colour, show=False, ax=ax, hist=False)
    label = names[i] if i == j else f"{names[i]} * {names[j]}"
    ax.set_ylabel(f"SHAP interaction value for\n{label}")
    finish(ax.figure, show)
    return ax


def force_plot(
    base_value: Any,
    shap_values: Any = None,
    features: Any = None,
    feature_names: Sequence[str] | None = None,
    out_names: str | None = None,
    link: str = "identity",
    plot_cmap: Any = "RdBu",
    matplotlib: bool = False,
    show: bool = True,
    figsize: tuple[float, float] = (20, 3),
    ordering_keys: Any = None,
    ordering_keys_time_format: Any = None,
    text_rotation: float = 0,
    contribution_threshold: float = 0.05,
) -> Any:
    """shap's force plot for one row, drawn statically (as shap's ``matplotlib=True`` form), or
    for many rows the stacked force plot (HTML, or its static chart with ``matplotlib=True``).

    Takes ``force_plot(base_value, values, row)`` or ``force_plot(exp[0])``; ``link="logit"``
    shows the base value, f(x) and the axis as probabilities (values stay in log-odds).
    """
    many_rows = {
        "link": link,
        "show": show,
        "matplotlib": matplotlib,
        "figsize": figsize,
        "out_names": out_names,
        "plot_cmap": plot_cmap,
        "ordering_keys": ordering_keys,
        "ordering_keys_time_format": ordering_keys_time_format,
    }
    if isinstance(base_value, Explanation) and base_value.values.ndim == 2:
        return force(base_value, **many_rows)
    if isinstance(base_value, Explanation):
        explanation = base_value
    elif shap_values is None:
        raise TypeError(
            "force_plot takes an Explanation of one row (force_plot(exp[0])) or a base value "
            f"with that row's shap_values; got a {type(base_value).__name__} and no shap_values"
        )
    else:
        values = to_numpy(shap_values, name="shap_values")
        if values.ndim == 2 and len(values) == 1:
            values = values[0]
        if values.ndim == 2:  # many rows: the stacked force plot
            return force_rows(
                values,
                to_numpy(base_value, name="base_value"),
                feature_data(features),
                _names(feature_names, features, values.shape[1]),
                **many_rows,
            )
        if values.ndim != 1:
            raise ValueError(
                f"force_plot draws one row, or many rows (rows, features); got values of shape "
                f"{values.shape}. For several outputs pass one, e.g. shap_values[..., 0]"
            )
        if (
            feature_names is None
            and getattr(features, "ndim", 0) == 1
            and hasattr(features, "index")
        ):
            feature_names = [str(name) for name in features.index]  # a row as a pandas Series
        names = _names(feature_names, features, len(values))
        data = feature_data(features)
        data = None if data is None else data.reshape(-1)
        base = float(np.asarray(to_numpy(base_value, name="base_value")).reshape(-1)[0])
        explanation = Explanation(values, base_values=base, data=data, feature_names=names)
    return force(explanation, min_label_share=contribution_threshold, link=link, show=show)


@dataclass(frozen=True)
class DecisionPlotResult:
    """What ``decision_plot(..., return_objects=True)`` drew (shap's fields)."""

    base_value: float
    shap_values: np.ndarray
    feature_names: list[str]
    feature_idx: np.ndarray
    xlim: tuple[float, float]


def _decision_order(feature_order: Any, values: np.ndarray) -> np.ndarray | None:
    """shap's ``feature_order`` (its last feature drawn on top) as ``decision``'s order (its
    first on top); None for importance."""
    n_features = values.shape[1]
    if isinstance(feature_order, str) and feature_order == "importance":
        return None
    if feature_order is None or (isinstance(feature_order, str) and feature_order == "none"):
        return np.arange(n_features)[::-1].copy()
    if isinstance(feature_order, str) and feature_order == "hclust":
        from scipy.cluster import hierarchy
        from scipy.spatial.distance import pdist

        if n_features < 2:
            return np.arange(n_features)
        distances = pdist(values.T, "sqeuclidean")
        tree = hierarchy.optimal_leaf_ordering(hierarchy.complete(distances), distances)
        return hierarchy.leaves_list(tree)[::-1].copy()
    if isinstance(feature_order, str):
        raise ValueError(
            f"feature_order must be 'importance', 'hclust', 'none', None or feature positions; "
            f"got {feature_order!r}"
        )
    positions = np.asarray(feature_order)
    if positions.dtype.kind not in "iu" or sorted(positions.tolist()) != list(range(n_features)):
        raise ValueError(
            f"feature_order must order all {n_features} feature positions once each; got "
            f"{positions.tolist()}"
        )
    return positions[::-1].copy()


def decision_plot(
    base_value: Any,
    shap_values: Any,
    features: Any = None,
    feature_names: Sequence[str] | None = None,
    feature_order: str | None = "importance",
    feature_display_range: Any = None,
    highlight: Any = None,
    link: str = "identity",
    plot_color: Any = None,
    axis_color: str = "#333333",
    y_demarc_color: str = "#333333",
    alpha: float | None = None,
    color_bar: bool = True,
    auto_size_plot: bool = True,
    title: str | None = None,
    xlim: Any = None,
    show: bool = True,
    return_objects: bool = False,
    ignore_warnings: bool = False,
    new_base_value: Any = None,
    legend_labels: Any = None,
    legend_location: str = "best",
) -> Any:
    """shap's decision plot: each row's path from the base value to its output.

    ``feature_order``: 'importance' (mean |value|, the default), 'hclust' (the leaf order of a
    hierarchical clustering of the features' values, similar features side by side), None /
    'none' (as given), or feature positions; as in shap, the last of an order is drawn on top.

    Returns:
        The matplotlib Axes, or a :class:`DecisionPlotResult` with ``return_objects=True``.
    """
    if isinstance(shap_values, list):
        raise ValueError(
            "decision_plot draws one output; for a list of per-output values use "
            "multioutput_decision_plot(base_values, shap_values, row_index)"
        )

    if link != "identity":
        raise ValueError(f"decision_plot draws link='identity' only; got {link!r}")
    values = to_numpy(shap_values, name="shap_values")
    values = values[None] if values.ndim == 1 else values
    names = _names(feature_names, features, values.shape[1])
    base = np.broadcast_to(np.asarray(base_value, dtype=np.float64).reshape(-1), (len(values),))
    data = feature_data(features)
    if data is not None:
        data = data.reshape(values.shape)
    explanation = Explanation(
        values,
        base_values=np.array(base),
        data=data,
        feature_names=names,
        axis_kinds=("row", "feature"),
    )
    order = _decision_order(feature_order, values)
    shown = range(values.shape[1])
    if feature_display_range is not None:
        shown = shown[feature_display_range]
    ax = decision(explanation, max_display=len(shown), order=order, show=False)
    if xlim is not None:
        ax.set_xlim(*xlim)
    if title:
        ax.set_title(title)
    if legend_labels is not None:
        ax.legend(ax.get_lines()[: len(legend_labels)], legend_labels, loc=legend_location)
    finish(ax.figure, show)
    if return_objects:
        importance = np.abs(values).mean(axis=0)
        # shap's feature_idx: the order from the bottom of the plot up
        index = order[::-1] if order is not None else np.argsort(importance)
        return DecisionPlotResult(float(base[0]), values, names, index, ax.get_xlim())
    return ax


def multioutput_decision_plot(
    base_values: Sequence[float], shap_values: list, row_index: int, **kwargs: Any
) -> Any:
    """One row's decision paths, one line per output (shap_values: one array per output)."""
    if not isinstance(shap_values, list):
        raise ValueError("multioutput_decision_plot takes a list of per-output values")
    per_output = np.stack([to_numpy(v, name="shap_values")[row_index] for v in shap_values])
    features = kwargs.pop("features", None)
    if features is not None:
        rows = feature_data(features)
        features = np.tile(rows[row_index], (len(per_output), 1))
    return decision_plot(np.asarray(base_values, dtype=np.float64), per_output, features, **kwargs)


def bar_plot(
    shap_values: Any,
    features: Any = None,
    feature_names: Sequence[str] | None = None,
    max_display: int | None = None,
    show: bool = True,
) -> Any:
    """shap's older bar plot of one row's values (or of mean |value| for many rows)."""
    values = to_numpy(shap_values, name="shap_values")
    names = _names(feature_names, features, values.shape[-1])
    data = feature_data(features)
    if values.ndim == 1:
        explanation = Explanation(
            values,
            data=None if data is None else data.reshape(-1),
            feature_names=names,
            axis_kinds=("feature",),
        )
    else:
        explanation = rows_explanation(values, features, names, "bar_plot")
    return bar(explanation, max_display=max_display or 10, show=show)


def image_plot(
    shap_values: Any,
    pixel_values: Any = None,
    labels: Sequence[str] | None = None,
    true_labels: Sequence[str] | None = None,
    width: int | None = 20,
    aspect: float | None = 0.2,
    hspace: Any = 0.2,
    labelpad: float | None = None,
    cmap: Any = None,
    vmax: float | None = None,
    show: bool = True,
) -> Any:
    """shap's image plot: values as a list with one array per output, or one array; images
    (N, H, W, C) or, without a channel axis, (N, H, W). ``true_labels`` name each image's row."""
    if isinstance(shap_values, Explanation):
        figure = image(shap_values, labels=labels, show=False)
    else:
        arrays = shap_values if isinstance(shap_values, list) else [shap_values]
        arrays = [to_numpy(v, name="shap_values") for v in arrays]
        if arrays[0].ndim == 3:  # no channel axis: one channel
            arrays = [v[..., None] for v in arrays]
        values = np.stack(arrays, axis=-1)
        data = None if pixel_values is None else np.asarray(pixel_values)
        if data is not None and data.ndim == 3:
            data = data[..., None]
        explanation = Explanation(
            values, data=data, axis_kinds=("row",) + ("feature",) * (values.ndim - 2) + ("output",)
        )
        figure = image(explanation, labels=labels, show=False)
    if true_labels is not None:
        first_column = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
        columns = max(len(first_column) // max(len(true_labels), 1), 1)
        for row, label in enumerate(true_labels):
            if row * columns < len(first_column):
                first_column[row * columns].set_title(str(label), fontsize=9)
    if show:
        pyplot().show()
    return figure


violin_plot = violin

__all__ = [
    "DecisionPlotResult",
    "bar_plot",
    "decision_plot",
    "dependence_plot",
    "embedding_plot",
    "force_plot",
    "group_difference_plot",
    "heatmap_plot",
    "image_plot",
    "monitoring_plot",
    "multioutput_decision_plot",
    "partial_dependence_plot",
    "summary_plot",
    "text_plot",
    "violin_plot",
    "waterfall_plot",
]
