"""shap's notebook helpers. shapwise's plots are static (matplotlib or self-contained HTML), so
there is no JavaScript to load: ``initjs`` does nothing, ``getjs`` gives no script."""

from __future__ import annotations

import base64
import importlib.util
import io
from pathlib import Path
from typing import Any

# shap's flag; found without importing matplotlib
have_matplotlib = importlib.util.find_spec("matplotlib") is not None


def initjs() -> None:
    """Nothing to load: shapwise's force plot needs no JavaScript (kept for shap's code)."""
    return None


def getjs() -> str:
    """The JavaScript a plot needs: none."""
    return ""


def plot_html(plot: Any) -> str:
    """A plot as HTML: an HTML plot (a string, or an object with ``html()`` such as the force
    plot of many rows) as it is, a matplotlib figure or axes as a PNG."""
    if isinstance(plot, str):
        return plot
    if callable(getattr(plot, "html", None)):
        return plot.html()
    figure = getattr(plot, "figure", plot)
    if not hasattr(figure, "savefig"):
        raise TypeError(
            f"save_html takes an HTML string or a matplotlib Figure / Axes; got {type(plot).__name__}"
        )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img src='data:image/png;base64,{encoded}'/>"


def save_html(out_file: Any, plot: Any, full_html: bool = True) -> None:
    """Write a plot to an HTML file (a path or an open text file)."""
    body = plot_html(plot)
    if full_html:
        body = f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{body}</body></html>"
    if hasattr(out_file, "write"):
        out_file.write(body)
    else:
        Path(out_file).write_text(body, encoding="utf-8")
