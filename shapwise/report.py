"""An explanation as HTML: one self-contained report file, and the notebook view of an Explanation.

The report embeds every plot as a base64 PNG and loads nothing from the network (its
Content-Security-Policy forbids it), so the file can be mailed or archived as it is.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from shapwise._files import REPORT_MARKER, write_text_atomically
from shapwise.explanation import FEATURE, OUTPUT, ROW, Explanation
from shapwise.numeric import additivity_tolerance

MAX_IMAGE_ROWS = 4
MAX_OUTPUTS = 2

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table.additivity { border-collapse: collapse; font-size: 0.9em; }
table.additivity th, table.additivity td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
table.additivity th { background: #f4f4f4; } table.additivity td:first-child { text-align: left; }
.ok { color: #0a7d32; font-weight: bold; } .fail { color: #c00; font-weight: bold; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figure img { max-width: 100%; } figcaption { font-size: 0.85em; color: #555; }
.meta { color: #555; font-size: 0.9em; }
"""

# Marks the page once every embedded image has decoded, so a browser test can check them.
_IMAGE_CHECK = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute("data-images-loaded", loaded.length + "/" + images.length);
});
"""

_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


@dataclass
class Additivity:
    """How far values + base value are from the model output, against the dtype's tolerance."""

    max_error: float | None
    tolerance: float | None
    model_dtype: str
    algorithm: str

    @property
    def ok(self) -> bool | None:
        if self.max_error is None or self.tolerance is None:
            return None
        return self.max_error <= self.tolerance


def additivity(explanation: Explanation) -> Additivity:
    """max |sum(values) + base value - output| over rows and outputs, and the tolerance for the
    model's dtype (the same bound the explainers check)."""
    dtype = explanation.model_dtype or "float64"
    algorithm = explanation.algorithm or "unknown"
    if explanation.base_values is None or explanation.output_values is None:
        return Additivity(None, None, dtype, algorithm)
    if explanation.ragged:  # texts: each row's values sum over its own tokens
        sums = np.stack([np.asarray(v, dtype=np.float64).sum(axis=0) for v in explanation.values])
    else:
        values = np.asarray(explanation.values, dtype=np.float64)
        feature_axes = tuple(i for i, kind in enumerate(explanation.axis_kinds) if kind == FEATURE)
        sums = values.sum(axis=feature_axes)
    base = np.asarray(explanation.base_values, dtype=np.float64)
    outputs = np.asarray(explanation.output_values, dtype=np.float64)
    error = float(np.max(np.abs(sums + base - outputs)))
    # the explainers' scale (the driver's additivity_error): outputs and base values
    scale = max(float(np.max(np.abs(outputs))), float(np.max(np.abs(base))))
    return Additivity(error, additivity_tolerance(dtype, scale), dtype, algorithm)


# ------------------------------------------------------------------------------ choosing plots
def _is_text(explanation: Explanation) -> bool:
    data = explanation.data
    return data is not None and np.asarray(data).dtype.kind in "USO"


def _n_feature_axes(explanation: Explanation) -> int:
    return sum(kind == FEATURE for kind in explanation.axis_kinds)


def _outputs(explanation: Explanation) -> list[tuple[str, Explanation]]:
    """(label, single-output explanation) for the first outputs, or the explanation itself."""
    if OUTPUT not in explanation.axis_kinds:
        return [("", explanation)]
    count = explanation.shape[explanation.axis_kinds.index(OUTPUT)]
    names = explanation.output_names or [f"output {k}" for k in range(count)]
    return [(f" — {names[k]}", explanation[..., k]) for k in range(min(count, MAX_OUTPUTS))]


def _panels(explanation: Explanation) -> Iterator[tuple[str, Any]]:
    """(caption, matplotlib Figure or HTML string) for the main plots, drawn one at a time."""
    from shapwise import plots

    has_rows = explanation.axis_kinds[:1] == (ROW,)
    if _n_feature_axes(explanation) >= 2:
        rows = explanation[:MAX_IMAGE_ROWS] if has_rows else explanation
        yield "Attributions per image and output", plots.image(rows, show=False)
        return
    for suffix, single in _outputs(explanation):
        if _is_text(single):
            for i in range(min(len(single), 3) if has_rows else 1):
                one = single[i] if has_rows else single
                yield f"Text {i}{suffix}", plots.text(one, show=False)
        elif has_rows:
            yield f"Global importance{suffix}", plots.bar(single, show=False).figure
            yield f"Every row{suffix}", plots.beeswarm(single, show=False).figure
            yield f"Row 0{suffix}", plots.waterfall(single[0], show=False).figure
        else:
            yield f"This row{suffix}", plots.waterfall(single, show=False).figure


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figures_html(explanation: Explanation) -> str:
    try:
        panels = list(_panels(explanation))
    except ImportError as error:
        return f'<p class="meta">No plots: {html.escape(str(error))}</p>'
    return "\n".join(
        f"<figure>{_panel_html(caption, panel)}"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for caption, panel in panels
    )


def _panel_html(caption: str, panel: Any) -> str:
    """A panel as HTML: a text plot as it is, a figure as an embedded PNG."""
    if isinstance(panel, str):
        return panel
    return f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{_png(panel)}">'


# ------------------------------------------------------------------------------ pieces of HTML
def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _status(check: Additivity) -> str:
    if check.ok is None:
        return '<span class="meta">no output values</span>'
    return '<span class="ok">ok</span>' if check.ok else '<span class="fail">FAILED</span>'


def _shape(explanation: Explanation) -> str:
    """The values' shape; '(3, tokens, 2)' for texts of different lengths."""
    if not explanation.ragged:
        return str(explanation.values.shape)
    return "(" + ", ".join("tokens" if n is None else str(n) for n in explanation.shape) + ")"


def _about(explanation: Explanation, check: Additivity) -> str:
    """'exact values of shape (10, 4); the model computes in float32', escaped."""
    about = (
        f"{html.escape(check.algorithm)} values of shape {_shape(explanation)}; "
        f"the model computes in {html.escape(check.model_dtype)}"
    )
    notes = getattr(explanation, "notes", ())
    if notes:
        about += "; not attributed exactly: " + html.escape("; ".join(notes))
    return about


def additivity_table(named: Mapping[str, Explanation]) -> str:
    """An HTML table with one row per explanation: error, tolerance, dtype, algorithm."""
    rows = []
    for name, explanation in named.items():
        check = additivity(explanation)
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{html.escape(check.algorithm)}</td>"
            f"<td>{html.escape(check.model_dtype)}</td><td>{_shape(explanation)}</td>"
            f"<td>{_number(check.max_error)}</td><td>{_number(check.tolerance)}</td>"
            f"<td>{_status(check)}</td></tr>"
        )
    return (
        '<table class="additivity" id="additivity"><thead><tr><th>explanation</th>'
        "<th>algorithm</th><th>model dtype</th><th>values shape</th>"
        "<th>max |&Sigma; values + base &minus; output|</th><th>tolerance</th><th>additive</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _named(
    explanations: Explanation | Sequence[Explanation] | Mapping[str, Explanation],
) -> dict[str, Explanation]:
    """The explanations by name: as given in a mapping, else numbered with their algorithm."""
    if isinstance(explanations, Explanation):
        explanations = [explanations]
    if isinstance(explanations, Mapping):
        named = {str(k): v for k, v in explanations.items()}
    else:
        named = {
            f"{i + 1}. {getattr(exp, 'algorithm', None) or 'explanation'}": exp
            for i, exp in enumerate(explanations)
        }
    for name, explanation in named.items():
        if not isinstance(explanation, Explanation):
            raise TypeError(f"report takes shapwise.Explanation objects; {name!r} is not one")
    if not named:
        raise ValueError("report needs at least one explanation")
    return named


def report(
    explanations: Explanation | Sequence[Explanation] | Mapping[str, Explanation],
    path: str | Path,
    title: str = "shapwise report",
) -> Path:
    """Write one self-contained HTML file with the main plots and an additivity summary.

    Args:
        explanations: one explanation, a list, or a dict of name -> explanation.
        path: where to write the ``.html`` file (parent folders are created).
        title: the page title.

    Returns:
        The path written.
    """
    named = _named(explanations)
    sections = [
        f"<section><h2>{html.escape(name)}</h2>"
        f'<p class="meta">{_about(explanation, additivity(explanation))}</p>'
        f"{_figures_html(explanation)}</section>"
        for name, explanation in named.items()
    ]
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"{REPORT_MARKER}"
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f"<script>{_IMAGE_CHECK}</script></head><body>"
        f"<h1>{html.escape(title)}</h1><h2>Additivity</h2>"
        "<p class='meta'>Shapley values add up to the model output: for each explanation, the "
        "largest gap between the sum of the values plus the base value and the model's output, "
        "and the tolerance allowed for the model's dtype.</p>"
        f"{additivity_table(named)}{''.join(sections)}</body></html>\n"
    )
    return write_text_atomically(path, page)


def explanation_html(explanation: Explanation) -> str:
    """The notebook view of an explanation: a summary line, additivity, and its main plot."""
    check = additivity(explanation)
    summary = (
        f"<p><b>shapwise.Explanation</b>: {_about(explanation, check)}; additivity: "
        f"max error {_number(check.max_error)} (tolerance {_number(check.tolerance)}) "
        f"{_status(check)}</p>"
    )
    try:
        panels = list(islice(_panels(explanation), 1))
    except (ImportError, ValueError, TypeError):
        # A notebook shows this view for every displayed explanation: it must never raise, so an
        # explanation no plot can draw is shown by its summary alone.
        return f"<div>{summary}</div>"
    body = "".join(_panel_html(caption, panel) for caption, panel in panels)
    return f"<div>{summary}{body}</div>"


Explanation.html_view = staticmethod(explanation_html)  # how a notebook shows an Explanation
