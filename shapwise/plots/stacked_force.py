"""The force plot of many rows: every row's force plot turned upright and set side by side.

At each row's place along x, its positive values are stacked down from its output f(x) (red) and
its negative values up from it (blue), so the red height less the blue height is f(x) less the
base value. Each feature keeps its place in the stack from row to row, which makes its values an
area across the rows. The rows can be ordered by similarity (a hierarchical clustering of their
values), by output, in their original order, by a key, or by a feature's value.

The result is self-contained HTML (inline SVG, the data and a few lines of script for the ordering
menu; nothing is fetched) or, with :meth:`StackedForcePlot.matplotlib`, a static chart.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from shapwise.plots._common import BLUE, RED, finish, format_number, new_axes

SIMILARITY = "sample order by similarity"
OUTPUT_VALUE = "sample order by output value"
ORIGINAL = "original sample ordering"
BY_KEY = "sample order by key"

# shap's named colour pairs (positive, negative) of force plots; RdBu is shapwise's red and blue
PLOT_COLORMAPS = {
    "RdBu": (RED, BLUE),
    "GnPR": ("rgb(24, 196, 93)", "rgb(124, 82, 255)"),
    "CyPU": ("#0099C6", "#990099"),
    "PkYg": ("#DD4477", "#66AA00"),
    "DrDb": ("#B82E2E", "#316395"),
    "LpLb": ("#994499", "#22AA99"),
    "YlDp": ("#AAAA11", "#6633CC"),
    "OrId": ("#E67300", "#3E0099"),
}

# the SVG's size and the chart's margins inside it, in pixels
WIDTH, HEIGHT = 960, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 30, 45


@dataclass(frozen=True)
class Band:
    """One feature's stacked area of one sign: its top and bottom edge at every row (in the rows'
    original order; a row where the feature has the other sign has zero height)."""

    feature: int
    positive: bool
    tops: np.ndarray
    bottoms: np.ndarray


@dataclass(frozen=True)
class StackedForcePlot:
    """The force plot of many rows (shap's ``AdditiveForceArrayVisualizer``).

    Shows itself in a notebook (``_repr_html_``), gives its HTML (``html()``), is written to a
    file by ``save_html``, and draws a static chart with ``matplotlib()``.

    Attributes:
        values: (rows, features) attributions, float64.
        base_values: one base value per row.
        feature_names: one name per feature.
        orderings: name -> the rows in that order (the first is shown first).
        colors: (positive, negative) colours.
    """

    values: np.ndarray
    base_values: np.ndarray
    feature_names: list[str]
    orderings: dict[str, np.ndarray]
    link: str = "identity"
    out_name: str = "f(x)"
    colors: tuple[str, str] = (RED, BLUE)

    @property
    def outputs(self) -> np.ndarray:
        """Each row's f(x): its base value plus its values."""
        return self.base_values + self.values.sum(axis=1)

    def stack_order(self) -> np.ndarray:
        """The features from the one nearest f(x) outwards: the largest mean |value| first."""
        return np.argsort(-np.abs(self.values).mean(axis=0), kind="stable")

    def bands(self) -> list[Band]:
        """Every feature's positive and negative area (those not all of zero height)."""
        out: list[Band] = []
        for positive in (True, False):
            edge = self.outputs.copy()
            for feature in self.stack_order():
                column = self.values[:, feature]
                height = (
                    np.where(column > 0, column, 0.0)
                    if positive
                    else np.where(column < 0, -column, 0.0)
                )
                if not np.any(height > 0):
                    continue
                next_edge = edge - height if positive else edge + height
                tops, bottoms = (edge, next_edge) if positive else (next_edge, edge)
                out.append(Band(int(feature), positive, tops, bottoms))
                edge = next_edge
        return out

    def order(self, ordering: str = SIMILARITY) -> np.ndarray:
        if ordering not in self.orderings:
            raise ValueError(f"no ordering named {ordering!r}; known: {list(self.orderings)}")
        return self.orderings[ordering]

    # ------------------------------------------------------------------------------------- HTML
    def svg(self, ordering: str = SIMILARITY) -> str:
        """The chart as an inline SVG element, rows in the given ordering."""
        order = self.order(ordering)
        bands = self.bands()
        low, high = self._value_range(bands)
        n = len(order)
        plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
        sx = plot_width / max(n - 1, 1)
        sy = plot_height / (high - low)
        # the data group draws in (row position, value) units: x = position, y = model output
        transform = f"matrix({_num(sx)} 0 0 {_num(-sy)} {LEFT} {_num(TOP + sy * high)})"
        parts = [
            f"<svg class='shapwise-force-rows' width='{WIDTH}' height='{HEIGHT}' "
            f"viewBox='0 0 {WIDTH} {HEIGHT}' font-family='sans-serif' font-size='11'>",
            self._axes_svg(low, high, sy, ordering),
            f"<g class='data' transform='{transform}'>",
        ]
        for band in bands:
            name = html.escape(self.feature_names[band.feature], quote=True)
            sign = "positive" if band.positive else "negative"
            color = self.colors[0] if band.positive else self.colors[1]
            parts.append(
                f"<path class='band' data-feature='{name}' data-sign='{sign}' fill='{color}' "
                f"fill-opacity='0.85' stroke='none' d='{area_path(order, band.tops, band.bottoms)}'>"
                f"<title>{name} ({sign} values)</title></path>"
            )
        parts.append(
            f"<path class='base' fill='none' stroke='#888888' stroke-dasharray='4 3' "
            f"vector-effect='non-scaling-stroke' d='{line_path(order, self.base_values)}'/>"
        )
        parts.append(
            f"<path class='output' fill='none' stroke='#333333' stroke-width='1' "
            f"vector-effect='non-scaling-stroke' d='{line_path(order, self.outputs)}'/>"
        )
        parts.append("</g></svg>")
        return "".join(parts)

    def html(self, ordering: str = SIMILARITY) -> str:
        """Self-contained HTML: the SVG, a menu of orderings and the script that redraws the rows
        in the chosen order (no external scripts, styles or fonts)."""
        key = hashlib.sha1(self.values.tobytes() + self.base_values.tobytes()).hexdigest()[:12]
        element_id = f"shapwise-force-rows-{key}"
        bands = self.bands()
        spec = {
            "orderings": {name: order.tolist() for name, order in self.orderings.items()},
            "bands": [[_rounded(b.tops), _rounded(b.bottoms)] for b in bands],
            "outputs": _rounded(self.outputs),
            "base": _rounded(self.base_values),
        }
        options = "".join(
            f"<option value='{html.escape(name, quote=True)}'"
            f"{' selected' if name == ordering else ''}>{html.escape(name)}</option>"
            for name in self.orderings
        )
        data = json.dumps(spec, separators=(",", ":")).replace("</", "<\\/")
        return (
            f"<div id='{element_id}' class='shapwise-force-rows-plot'>"
            f"<label style='font-family:sans-serif;font-size:12px'>Order the rows: "
            f"<select>{options}</select></label>"
            f"{self.svg(ordering)}"
            f"<script type='application/json'>{data}</script>"
            f"<script>{_REORDER_SCRIPT.replace('ELEMENT_ID', element_id)}</script>"
            "</div>"
        )

    def _repr_html_(self) -> str:
        return self.html()

    def _value_range(self, bands: list[Band]) -> tuple[float, float]:
        edges = (
            [self.outputs, self.base_values] + [b.tops for b in bands] + [b.bottoms for b in bands]
        )
        low = float(min(np.min(e) for e in edges))
        high = float(max(np.max(e) for e in edges))
        pad = 0.05 * (high - low) if high > low else max(abs(high), 1.0) * 0.05
        return low - pad, high + pad

    def _axes_svg(self, low: float, high: float, sy: float, ordering: str) -> str:
        bottom = HEIGHT - BOTTOM
        parts = [
            f"<g class='axes' stroke='#333333'>"
            f"<line x1='{LEFT}' y1='{TOP}' x2='{LEFT}' y2='{bottom}'/>"
            f"<line x1='{LEFT}' y1='{bottom}' x2='{WIDTH - RIGHT}' y2='{bottom}'/>"
        ]
        for tick in nice_ticks(low, high):
            y = TOP + sy * (high - tick)
            label = format_number(_shown(tick, self.link), 3)
            parts.append(
                f"<line x1='{LEFT - 4}' y1='{_num(y)}' x2='{LEFT}' y2='{_num(y)}'/>"
                f"<text x='{LEFT - 7}' y='{_num(y + 4)}' text-anchor='end' stroke='none' "
                f"fill='#333333'>{html.escape(label)}</text>"
            )
        out_name = html.escape(self.out_name)
        parts.append(
            f"<text class='y-label' x='14' y='{(TOP + bottom) / 2}' stroke='none' fill='#333333' "
            f"transform='rotate(-90 14 {(TOP + bottom) / 2})' text-anchor='middle'>{out_name}"
            f"{' (probability)' if self.link == 'logit' else ''}</text>"
            f"<text class='x-label' x='{(LEFT + WIDTH - RIGHT) / 2}' y='{HEIGHT - 12}' "
            f"stroke='none' fill='#333333' text-anchor='middle'>{html.escape(ordering)}</text>"
            f"<text x='{LEFT}' y='18' stroke='none' fill='{self.colors[0]}'>higher</text>"
            f"<text x='{LEFT + 50}' y='18' stroke='none' fill='{self.colors[1]}'>lower</text>"
            "</g>"
        )
        return "".join(parts)

    # ------------------------------------------------------------------------------- matplotlib
    def matplotlib(
        self,
        ordering: str = SIMILARITY,
        figsize: tuple[float, float] = (20, 3),
        show: bool = True,
        ax: Any = None,
    ) -> Any:
        """The same chart drawn with matplotlib: one filled polygon per band (its label the
        feature's name), the f(x) line and the dashed base value line. Returns the Axes."""
        order = self.order(ordering)
        ax = new_axes(ax, figsize)
        positions = np.arange(len(order))
        for band in self.bands():
            xs = np.concatenate([positions, positions[::-1]])
            ys = np.concatenate([band.tops[order], band.bottoms[order][::-1]])
            (polygon,) = ax.fill(
                xs,
                ys,
                color=self.colors[0] if band.positive else self.colors[1],
                alpha=0.85,
                linewidth=0,
                label=self.feature_names[band.feature],
            )
            polygon.set_gid("positive" if band.positive else "negative")
        ax.plot(positions, self.outputs[order], color="#333333", linewidth=1, label=self.out_name)
        ax.plot(
            positions,
            self.base_values[order],
            color="#888888",
            linestyle="--",
            linewidth=0.8,
            label="base value",
        )
        ax.set_xlabel(ordering)
        ax.set_ylabel(self.out_name)
        ax.set_xlim(0, max(len(order) - 1, 1))
        if self.link == "logit":
            ticks = ax.get_yticks()
            ax.set_yticks(ticks, [format_number(_shown(t, "logit"), 3) for t in ticks])
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        finish(ax.figure, show)
        return ax


def force_rows(
    values: np.ndarray,
    base_values: Any,
    features: Any,
    feature_names: list[str],
    link: str = "identity",
    show: bool = True,
    matplotlib: bool = False,
    figsize: tuple[float, float] = (20, 3),
    out_names: Any = None,
    plot_cmap: Any = "RdBu",
    ordering_keys: Any = None,
    ordering_keys_time_format: str | None = None,
    text_rotation: float = 0,
    contribution_threshold: float = 0.05,
) -> Any:
    """shap's force plot of many rows: a :class:`StackedForcePlot` (HTML), or with
    ``matplotlib=True`` its static chart (the Axes, rows by similarity). ``text_rotation`` and
    ``contribution_threshold`` label one row's plot and are not used here."""
    plot = stacked_force(
        values,
        base_values,
        features,
        feature_names,
        link=link,
        out_names=out_names,
        plot_cmap=plot_cmap,
        ordering_keys=ordering_keys,
        ordering_keys_time_format=ordering_keys_time_format,
    )
    if matplotlib:
        return plot.matplotlib(figsize=figsize, show=show)
    return plot


def stacked_force(
    values: np.ndarray,
    base_values: Any,
    features: np.ndarray | None,
    feature_names: list[str],
    link: str = "identity",
    out_names: Any = None,
    plot_cmap: Any = "RdBu",
    ordering_keys: Any = None,
    ordering_keys_time_format: str | None = None,
) -> StackedForcePlot:
    """The force plot of the rows of ``values`` (rows, features), with its orderings.

    Args:
        base_values: one base value, or one per row.
        features: the rows' feature values (rows, features), or None; each feature with numeric
            values gives an ordering by them.
        link: 'identity', or 'logit' to label the output axis with probabilities.
        out_names: the output's name (default "f(x)").
        plot_cmap: one of shap's colour pair names ('RdBu', 'GnPR', ...) or two colours
            [positive, negative].
        ordering_keys: one key per row for an ordering "sample order by key" (parsed as times
            with ``ordering_keys_time_format``, a ``datetime.strptime`` format).
    """
    values = np.asarray(values, dtype=np.float64)
    n_rows, n_features = values.shape
    base = np.asarray(base_values, dtype=np.float64).reshape(-1)
    if base.size == 1:
        base = np.full(n_rows, base[0])
    if base.shape != (n_rows,):
        raise ValueError(
            f"the force plot of {n_rows} rows needs one base value, or one per row; got "
            f"{base.size}. For several outputs pick one, e.g. (expected_value[0], values[..., 0])"
        )
    if len(feature_names) != n_features:
        raise ValueError(f"got {len(feature_names)} feature names for {n_features} features")
    if link not in ("identity", "logit"):
        raise ValueError(f"link must be 'identity' or 'logit'; got {link!r}")
    if not np.all(np.isfinite(values)) or not np.all(np.isfinite(base)):
        raise ValueError(
            "the force plot needs finite values and base values; leave out the rows with NaN or "
            "infinite ones, e.g. values[np.isfinite(values).all(axis=1)]"
        )
    outputs = base + values.sum(axis=1)
    orderings = {
        SIMILARITY: similarity_order(values, outputs),
        OUTPUT_VALUE: np.argsort(-outputs, kind="stable"),
        ORIGINAL: np.arange(n_rows),
    }
    if ordering_keys is not None:
        keyed = _key_order(ordering_keys, ordering_keys_time_format, n_rows)
        orderings = {BY_KEY: keyed, **orderings}
    if features is not None:
        features = np.asarray(features)
        if features.shape != values.shape:
            raise ValueError(
                f"features has shape {features.shape} but the values have shape {values.shape}; "
                "pass the rows that were explained"
            )
        for j, name in enumerate(feature_names):
            column = _numbers(features[:, j])
            if column is not None and name not in orderings:
                orderings[name] = np.argsort(column, kind="stable")
    out_name = out_names if isinstance(out_names, str) else (out_names or ["f(x)"])[0]
    return StackedForcePlot(
        values,
        base,
        list(feature_names),
        orderings,
        link=link,
        out_name=str(out_name),
        colors=_colors(plot_cmap),
    )


def similarity_order(values: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """The rows in the leaf order of a hierarchical clustering of their values (similar rows side
    by side), the end with the higher output first."""
    from shapwise.utils.clustering import hclust_ordering

    order = np.asarray(hclust_ordering(values), dtype=np.int64)
    if outputs[order[0]] < outputs[order[-1]]:
        order = order[::-1]
    return order


def area_path(order: np.ndarray, tops: np.ndarray, bottoms: np.ndarray) -> str:
    """SVG path data of an area: along the tops left to right, back along the bottoms."""
    n = len(order)
    upper = " L ".join(f"{k} {_num(tops[row])}" for k, row in enumerate(order))
    lower = " L ".join(f"{n - 1 - k} {_num(bottoms[row])}" for k, row in enumerate(order[::-1]))
    return f"M {upper} L {lower} Z"


def line_path(order: np.ndarray, ys: np.ndarray) -> str:
    return "M " + " L ".join(f"{k} {_num(ys[row])}" for k, row in enumerate(order))


def nice_ticks(low: float, high: float, count: int = 5) -> np.ndarray:
    """Round numbers between ``low`` and ``high``, about ``count`` of them."""
    span = high - low
    raw = span / max(count, 1)
    magnitude = 10 ** np.floor(np.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = np.arange(np.ceil(low / step) * step, high + 1e-9 * span, step)
    return np.round(ticks, 12)


# The ordering menu's script: path data as area_path and line_path write it, for the chosen order
# (the two functions come first, before anything that needs the page).
_REORDER_SCRIPT = """(function(){
function line(order,ys){return order.map(function(row,k){return k+' '+ys[row];}).join(' L ');}
function area(order,tops,bottoms){var n=order.length;
return 'M '+line(order,tops)+' L '+order.slice().reverse().map(function(row,k){
return (n-1-k)+' '+bottoms[row];}).join(' L ')+' Z';}
var root=document.getElementById('ELEMENT_ID');
var spec=JSON.parse(root.querySelector("script[type='application/json']").textContent);
root.querySelector('select').addEventListener('change',function(event){
var order=spec.orderings[event.target.value];
root.querySelectorAll('path.band').forEach(function(path,i){
path.setAttribute('d',area(order,spec.bands[i][0],spec.bands[i][1]));});
root.querySelector('path.output').setAttribute('d','M '+line(order,spec.outputs));
root.querySelector('path.base').setAttribute('d','M '+line(order,spec.base));
root.querySelector('text.x-label').textContent=event.target.value;});
})();"""


def _num(value: float) -> str:
    """A number for SVG and the script's data: 12 significant digits."""
    return f"{float(value):.12g}"


def _rounded(values: np.ndarray) -> list[float]:
    return [float(_num(v)) for v in values]


def _shown(value: float, link: str) -> float:
    return float(1.0 / (1.0 + np.exp(-value))) if link == "logit" else float(value)


def _numbers(column: np.ndarray) -> np.ndarray | None:
    try:
        numbers = column.astype(np.float64)
    except (TypeError, ValueError):
        return None
    return numbers if np.all(np.isfinite(numbers)) else None


def _key_order(keys: Any, time_format: str | None, n_rows: int) -> np.ndarray:
    keys = list(keys)
    if len(keys) != n_rows:
        raise ValueError(f"ordering_keys must give one key per row ({n_rows}); got {len(keys)}")
    if time_format is not None:
        keys = [datetime.strptime(str(key), time_format) for key in keys]
    return np.array(sorted(range(n_rows), key=lambda i: keys[i]), dtype=np.int64)


def _colors(plot_cmap: Any) -> tuple[str, str]:
    if isinstance(plot_cmap, str):
        if plot_cmap not in PLOT_COLORMAPS:
            raise ValueError(
                f"plot_cmap {plot_cmap!r} is not one of {list(PLOT_COLORMAPS)}; or pass two "
                "colours, [positive, negative]"
            )
        return PLOT_COLORMAPS[plot_cmap]
    colors = list(plot_cmap)
    if len(colors) < 2 or not all(isinstance(c, str) for c in colors):
        raise ValueError(f"plot_cmap needs two colours, [positive, negative]; got {plot_cmap!r}")
    return html.escape(colors[0], quote=True), html.escape(colors[1], quote=True)
