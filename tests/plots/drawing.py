"""Reading back what a plot drew: PNG output, tick labels, texts."""

from __future__ import annotations

import matplotlib.text


def render(figure, path) -> None:
    """Draw to a PNG file and check that something was drawn."""
    figure.savefig(path, format="png", dpi=60)
    assert path.stat().st_size > 1000


def tick_labels(ax, axis: str = "y") -> list[str]:
    """Tick labels in the order of their positions: bottom to top (y) or left to right (x)."""
    ticks = ax.get_yticks() if axis == "y" else ax.get_xticks()
    labels = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    ordered = sorted(zip(ticks, labels, strict=True), key=lambda pair: pair[0])
    return [label.get_text() for _, label in ordered]


def all_texts(figure) -> list[str]:
    return [text.get_text() for text in figure.findobj(matplotlib.text.Text)]
