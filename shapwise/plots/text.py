"""Text plot: the tokens of one text, each shaded by its attribution (an HTML string)."""

from __future__ import annotations

import html

import numpy as np

from shapwise.explanation import FEATURE, OUTPUT, Explanation
from shapwise.plots._common import format_number, format_signed, local, one_output, scalar


def _limit(values: np.ndarray, cmax: float | None) -> float:
    """The |value| of the strongest shade: ``cmax``, or the largest |value|."""
    if cmax is not None:
        return float(cmax)
    return float(np.max(np.abs(values))) if values.size else 0.0


def _shade(value: float, limit: float) -> str:
    """A background colour: red for positive, blue for negative, opacity by |value| / limit."""
    strength = min(abs(value) / limit, 1.0) if limit > 0 else 0.0
    rgb = "255, 0, 81" if value >= 0 else "0, 139, 251"
    return f"rgba({rgb}, {0.08 + 0.72 * strength:.3f})"


def text(
    explanation: Explanation,
    show: bool = True,
    *,
    display: bool | None = None,
    cmax: float | None = None,
    separator: str | None = None,
    num_starting_labels: int = 0,
    grouping_threshold: float = 0.01,
    xmin: float | None = None,
    xmax: float | None = None,
) -> str:
    """HTML showing each token shaded by its value; hovering a token shows the value.

    Args:
        explanation: texts with one output; ``data`` holds the tokens, e.g. ``exp[:, :, 1]`` for
            all texts or ``exp[0, :, 1]`` for one. One text with several outputs (``exp[0]`` of
            a text-generation explanation) is shown as a table, input tokens by output tokens.
        show: display the HTML in a notebook (when IPython is there); ``display`` is shap's
            name for it.
        cmax: the |value| of the strongest shade (default: the largest |value| shown).
        separator: between tokens (default a space).
        num_starting_labels, grouping_threshold, xmin, xmax: shap's settings of the output
            bar above the text, which this plot does not draw (a warning says so when set).

    Returns:
        The HTML as a string (self-contained, no scripts).
    """
    if display is not None:
        show = bool(display)
    if (num_starting_labels, grouping_threshold, xmin, xmax) != (0, 0.01, None, None):
        import warnings

        warnings.warn(
            "plots.text draws no output bar above the text: num_starting_labels, "
            "grouping_threshold, xmin and xmax are ignored",
            stacklevel=2,
        )
    joiner = " " if separator is None else str(separator)
    if isinstance(explanation, Explanation) and explanation.ragged:
        one_output(explanation, "text", texts=True)
        markup = "".join(_one_text(explanation[i], cmax, joiner) for i in range(len(explanation)))
    elif isinstance(explanation, Explanation) and explanation.axis_kinds == (FEATURE, OUTPUT):
        markup = _input_by_output(explanation, cmax)
    else:
        markup = _one_text(explanation, cmax, joiner)
    if show:
        try:
            from IPython.display import HTML
            from IPython.display import display as show_html
        except ImportError:
            pass
        else:
            show_html(HTML(markup))
    return markup


def _one_text(explanation: Explanation, cmax: float | None = None, joiner: str = " ") -> str:
    """The markup of one text with one output."""
    explanation = local(explanation, "text")
    values = explanation.values.astype(np.float64)
    tokens = explanation.data if explanation.data is not None else explanation.feature_names
    if tokens is None or len(tokens) != len(values):
        raise ValueError("text needs the tokens in the explanation's data (one per value)")
    limit = _limit(values, cmax)
    spans = []
    for token, value in zip(tokens, values, strict=True):
        spans.append(
            f'<span class="shapwise-token" data-value="{value:.6g}" '
            f'title="{format_signed(value, 4)}" '
            f'style="background:{_shade(value, limit)};padding:1px 2px;border-radius:3px;'
            f'margin:0 1px">{html.escape(str(token))}</span>'
        )
    base = scalar(explanation.base_values)
    header = ""
    if base is not None:
        output = base + values.sum()
        header = (
            '<div style="font-size:12px;color:#555">'
            f"base value {format_number(base, 4)} &rarr; f(x) = <b>{format_number(output, 4)}</b>"
            "</div>"
        )
    return (
        '<div class="shapwise-text" style="font-family:sans-serif;line-height:1.9">'
        f"{header}<div>{joiner.join(spans)}</div></div>"
    )


def _input_by_output(explanation: Explanation, cmax: float | None = None) -> str:
    """A table of one text: a row per input token, a column per output (token), each cell
    shaded by the input token's value for that output."""
    values = np.asarray(explanation.values, dtype=np.float64)
    tokens = explanation.data if explanation.data is not None else explanation.feature_names
    if tokens is None or len(tokens) != len(values):
        raise ValueError("text needs the tokens in the explanation's data (one per value)")
    names = explanation.output_names or [str(k) for k in range(values.shape[1])]
    limit = _limit(values, cmax)
    cell = "padding:1px 4px;border-radius:3px"
    header = "".join(
        f'<th class="shapwise-output" style="{cell}">{html.escape(str(name))}</th>'
        for name in names
    )
    rows = []
    for token, row in zip(tokens, values, strict=True):
        cells = "".join(
            f'<td data-value="{value:.6g}" title="{format_signed(value, 4)}" '
            f'style="background:{_shade(value, limit)};{cell}">{format_number(value, 3)}</td>'
            for value in row
        )
        rows.append(
            f'<tr><th class="shapwise-token" style="text-align:left;{cell}">'
            f"{html.escape(str(token))}</th>{cells}</tr>"
        )
    return (
        '<div class="shapwise-text" style="font-family:sans-serif">'
        '<table style="border-collapse:collapse;font-size:12px">'
        f"<tr><th>input \\ output</th>{header}</tr>{''.join(rows)}</table></div>"
    )
