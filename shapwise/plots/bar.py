"""Bar plot: global importance (mean |value|), one row's values, or cohorts side by side."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.explanation import ROW, Cohorts, Explanation
from shapwise.plots._common import (
    BLUE,
    GREY,
    RED,
    clean_spines,
    displayed_features,
    dtype_note,
    feature_importance,
    feature_names,
    finish,
    format_data,
    format_signed,
    labelled_with_data,
    new_axes,
    one_output,
    wrong_type,
)
from shapwise.plots._dendrogram import cluster_entries, draw_dendrogram, plot_linkage

COHORT_COLORS = ("#008bfb", "#ff0051", "#7a4fd8", "#00a676", "#f39c12", "#555555")


def _bar_values(explanation: Explanation) -> tuple[np.ndarray, bool]:
    """(one value per feature, whether it is a mean |value| over rows)."""
    explanation = one_output(explanation, "bar")
    if explanation.values.ndim == 2 and explanation.axis_kinds[0] == ROW:
        return np.abs(explanation.values.astype(np.float64)).mean(axis=0), True
    if explanation.values.ndim != 1:
        raise ValueError(
            f"bar shows one value per feature; this explanation has shape {explanation.values.shape}"
        )
    return explanation.values.astype(np.float64), False


def bar(
    explanation: Explanation | Cohorts | dict[str, Explanation],
    max_display: int = 10,
    order: Any = None,
    show: bool = True,
    ax: Any = None,
    clustering: Any = None,
    clustering_cutoff: float = 0.5,
    show_data: Any = "auto",
) -> Any:
    """Horizontal bars, one per feature, largest at the top.

    A matrix of rows gives the global importance mean(|value|); one row (``exp[0]``) gives its signed
    values; an already reduced explanation (``exp.abs.mean(0)``) is drawn as given; ``Cohorts``
    (``exp.cohorts(2)``) or a dict of name -> Explanation gives one bar per cohort for each
    feature. ``show_data`` is shap's keyword, accepted (one row's bars are always labelled with its
    data).

    Args:
        clustering: a scipy linkage matrix over the features (``shapwise.utils.hclust(X)``); by
            default the explanation's own (a Partition explainer's), False for none. Features
            merged at a distance up to ``clustering_cutoff`` are kept together, those merges are
            drawn as a dendrogram to the right, and when ``max_display`` would split such a
            cluster its least important features are shown as one bar ("a + b").

    Returns:
        The matplotlib Axes.
    """
    if isinstance(explanation, dict):
        for member in explanation.values():
            if not isinstance(member, Explanation):
                raise wrong_type("bar", member)
        explanation = Cohorts(**{str(name): exp for name, exp in explanation.items()})
    if isinstance(explanation, Cohorts):
        if clustering is not None and clustering is not False:
            raise ValueError(
                "bar draws a clustering for one explanation, not for cohorts; leave clustering "
                "unset, or draw one cohort at a time"
            )
        return _cohort_bars(explanation, max_display, show, ax)
    values, is_global = _bar_values(explanation)
    names = feature_names(explanation)
    importance = feature_importance(order, explanation, values)
    linkage = plot_linkage(clustering, explanation.clustering, len(values))
    if linkage is None:
        if not is_global and explanation.values.ndim == 1:
            names = labelled_with_data(names, explanation.data)
        shown, labels, entries = displayed_features(values, names, importance, max_display)
        single = len(shown)
        lines: list = []
    else:
        clustered = cluster_entries(
            values, names, importance, max_display, linkage, clustering_cutoff
        )
        labels, entries, lines = clustered.labels, clustered.entries, clustered.lines
        single = len(labels) - clustered.summed_rest
        if not is_global and explanation.values.ndim == 1 and explanation.data is not None:
            labels = [
                f"{format_data(explanation.data[group[0]])} = {label}" if len(group) == 1 else label
                for group, label in zip(clustered.members[:single], labels, strict=False)
            ] + labels[single:]
    heights = [float(h) for h in entries]
    colors = [RED if h >= 0 or is_global else BLUE for h in heights[:single]]
    colors += [GREY] * (len(heights) - single)

    ax = new_axes(ax, (8, 0.45 * len(heights) + 1.5))
    positions = np.arange(len(heights))[::-1]
    ax.barh(positions, heights, color=colors, height=0.7)
    span = max(np.max(np.abs(heights)), 1e-12)
    for position, height in zip(positions, heights, strict=True):
        text = format_signed(height) if not is_global else f"{height:.3g}"
        ax.text(
            height + (0.01 if height >= 0 else -0.01) * span,
            position,
            text,
            va="center",
            ha="left" if height >= 0 else "right",
            fontsize=9,
        )
    ax.set_yticks(positions, labels)
    ax.axvline(0, color="#888888", linewidth=0.8)
    ax.set_xlabel("mean(|SHAP value|)" if is_global else "SHAP value")
    clean_spines(ax)
    if linkage is not None:
        draw_dendrogram(ax, lines, float(positions[0]), clustering_cutoff)
    dtype_note(ax, explanation)
    finish(ax.figure, show)
    return ax


def _cohort_bars(cohorts: Cohorts, max_display: int, show: bool, ax: Any) -> Any:
    groups = cohorts.cohorts
    if not groups:
        raise ValueError("bar got no cohorts to draw")
    first = next(iter(groups.values()))
    names = feature_names(one_output(first, "bar"))
    importance = {label: _bar_values(exp)[0] for label, exp in groups.items()}
    overall = np.mean(np.stack(list(importance.values())), axis=0)
    _, labels, _ = displayed_features(overall, names, overall, max_display)

    ax = new_axes(ax, (8, 0.6 * len(labels) * max(len(groups), 2) / 2 + 1.5))
    width = 0.8 / len(groups)
    positions = np.arange(len(labels))[::-1]
    for k, (label, values) in enumerate(importance.items()):
        _, _, heights = displayed_features(values, names, overall, max_display)
        offset = (k - (len(groups) - 1) / 2) * width
        ax.barh(
            positions - offset,
            heights,
            height=width,
            color=COHORT_COLORS[k % len(COHORT_COLORS)],
            label=f"{label} ({len(groups[label].values)} rows)",
        )
    ax.set_yticks(positions, labels)
    ax.set_xlabel("mean(|SHAP value|)")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    clean_spines(ax)
    dtype_note(ax, first)
    finish(ax.figure, show)
    return ax
