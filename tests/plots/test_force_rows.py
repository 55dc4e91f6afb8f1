"""The force plot of many rows: at every row the stacked red heights less the blue ones are the
row's output less its base value (read back from the SVG's path data and from matplotlib's
polygons), each band is one feature's value, the orderings are the right permutations (scipy's
clustering, the outputs, the data), the ordering script redraws the same paths, and the HTML
fetches nothing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from scipy.cluster import hierarchy
from scipy.spatial.distance import pdist

import shapwise
from shapwise import plots
from shapwise.plots.stacked_force import (
    BY_KEY,
    ORIGINAL,
    OUTPUT_VALUE,
    SIMILARITY,
    StackedForcePlot,
)

NAMES = ["a", "b", "c", "d", "e"]


@pytest.fixture(scope="module")
def rows() -> shapwise.Explanation:
    """12 rows x 5 features of mixed signs (one feature always zero), each row its own base."""
    rng = np.random.default_rng(3)
    values = rng.normal(size=(12, 5)) * np.array([2.0, 1.0, 0.5, 0.0, 1.5])
    data = rng.normal(size=(12, 5))
    base = 1.0 + 0.1 * np.arange(12)
    return shapwise.Explanation(values, base_values=base, data=data, feature_names=NAMES)


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(markup[markup.index("<svg") : markup.index("</svg>") + 6])


def _points(path_data: str) -> np.ndarray:
    numbers = [float(v) for v in re.findall(r"[-+0-9.eE]+", path_data)]
    return np.array(numbers).reshape(-1, 2)


def _band_heights(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions, tops, bottoms) of an area: along the tops left to right, back along the
    bottoms (a closing vertex, if any, left off)."""
    n = len(points) // 2
    upper, lower = points[:n], points[n : 2 * n][::-1]
    np.testing.assert_array_equal(upper[:, 0], lower[:, 0])
    return upper[:, 0], upper[:, 1], lower[:, 1]


def _svg_bands(svg: ET.Element) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    bands = []
    for path in svg.iter("path"):
        if path.get("class") == "band":
            _, tops, bottoms = _band_heights(_points(path.get("d")))
            bands.append((path.get("data-feature"), path.get("data-sign"), tops, bottoms))
    return bands


def _check_stacks(bands, values, base, outputs, order) -> None:
    """At every position the bands are the row's values, stacked from its output."""
    n = len(order)
    red = np.zeros(n)
    blue = np.zeros(n)
    for name, sign, tops, bottoms in bands:
        heights = tops - bottoms
        assert np.all(heights >= -1e-12)
        column = values[order, NAMES.index(name)]
        expected = (
            np.where(column > 0, column, 0)
            if sign == "positive"
            else np.where(column < 0, -column, 0)
        )
        np.testing.assert_allclose(heights, expected, atol=1e-9)
        if sign == "positive":
            red += heights
        else:
            blue += heights
    np.testing.assert_allclose(red - blue, outputs[order] - base[order], atol=1e-9)
    tops_red = np.max([t for _, s, t, _ in bands if s == "positive"], axis=0)
    bottoms_blue = np.min([b for _, s, _, b in bands if s == "negative"], axis=0)
    has_red = np.any(values[order] > 0, axis=1)
    has_blue = np.any(values[order] < 0, axis=1)
    np.testing.assert_allclose(tops_red[has_red], outputs[order][has_red], atol=1e-9)
    np.testing.assert_allclose(bottoms_blue[has_blue], outputs[order][has_blue], atol=1e-9)


def _truth(explanation):
    values = explanation.values.astype(np.float64)
    base = np.asarray(explanation.base_values, dtype=np.float64)
    return values, base, base + values.sum(axis=1)


def test_html_stacks_each_rows_values_at_its_output(rows):
    plot = plots.force(rows, show=False)
    assert isinstance(plot, StackedForcePlot)
    values, base, outputs = _truth(rows)
    for ordering in (SIMILARITY, OUTPUT_VALUE, ORIGINAL, "c"):
        svg = _svg(plot.svg(ordering))
        order = plot.orderings[ordering]
        bands = _svg_bands(svg)
        assert {name for name, _, _, _ in bands} == {"a", "b", "c", "e"}  # d is always zero
        _check_stacks(bands, values, base, outputs, order)
        lines = {p.get("class"): _points(p.get("d")) for p in svg.iter("path")}
        np.testing.assert_array_equal(lines["output"][:, 0], np.arange(len(order)))
        np.testing.assert_allclose(lines["output"][:, 1], outputs[order], atol=1e-9)
        np.testing.assert_allclose(lines["base"][:, 1], base[order], atol=1e-9)
    assert plot._repr_html_() == plot.html()
    page = plot.html()
    assert _svg(page).find("g").get("class") == "axes"
    options = re.findall(r"<option value='([^']*)'", page)
    assert options == [SIMILARITY, OUTPUT_VALUE, ORIGINAL, *NAMES]


def test_orderings_are_the_right_permutations(rows):
    plot = plots.force(rows, show=False)
    values, _, outputs = _truth(rows)
    for order in plot.orderings.values():
        assert sorted(order.tolist()) == list(range(len(values)))
    distances = pdist(values, "sqeuclidean")
    leaves = hierarchy.leaves_list(
        hierarchy.optimal_leaf_ordering(hierarchy.complete(distances), distances)
    )
    if outputs[leaves[0]] < outputs[leaves[-1]]:
        leaves = leaves[::-1]  # the end with the higher output first
    assert plot.orderings[SIMILARITY].tolist() == leaves.tolist()
    assert np.all(np.diff(outputs[plot.orderings[OUTPUT_VALUE]]) <= 0)
    assert plot.orderings[ORIGINAL].tolist() == list(range(len(values)))
    for j, name in enumerate(NAMES):
        assert np.all(np.diff(rows.data[plot.orderings[name], j]) >= 0)


def test_the_html_fetches_nothing(rows):
    page = plots.force(rows, show=False).html()
    assert not re.search(r"(?i)(https?:|ftp:|//[a-z0-9]|\bsrc\s*=|\bhref\s*=|@import|url\()", page)
    assert page.count("<script") == 2  # the data and the ordering script, both inline


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's script")
def test_the_ordering_script_draws_the_same_paths_as_python(rows, tmp_path):
    plot = plots.force(rows, show=False)
    page = plot.html()
    script = re.findall(r"<script>(.*?)</script>", page, re.S)[0]
    functions = script[script.index("function line") : script.index("var root")]
    spec = re.findall(r"<script type='application/json'>(.*?)</script>", page, re.S)[0]
    program = tmp_path / "paths.js"
    program.write_text(
        functions
        + f"var spec = {spec};\n"
        + "var out = {};\n"
        + "for (var name in spec.orderings) { var o = spec.orderings[name];\n"
        + "  out[name] = {bands: spec.bands.map(function(b) { return area(o, b[0], b[1]); }),\n"
        + "               output: 'M ' + line(o, spec.outputs)}; }\n"
        + "console.log(JSON.stringify(out));\n"
    )
    drawn = json.loads(
        subprocess.run(
            ["node", str(program)], capture_output=True, check=True, text=True, timeout=60
        ).stdout
    )
    assert set(drawn) == set(plot.orderings)
    for ordering, paths in drawn.items():
        svg = _svg(plot.svg(ordering))
        python_bands = [p.get("d") for p in svg.iter("path") if p.get("class") == "band"]
        assert len(paths["bands"]) == len(python_bands)
        for from_script, from_python in zip(paths["bands"], python_bands, strict=True):
            np.testing.assert_array_equal(_points(from_script), _points(from_python))
        output = next(p.get("d") for p in svg.iter("path") if p.get("class") == "output")
        np.testing.assert_array_equal(_points(paths["output"]), _points(output))


def test_matplotlib_draws_the_same_stacks(rows, tmp_path):
    ax = plots.force(rows, matplotlib=True, show=False)
    ax.figure.savefig(tmp_path / "rows.png", dpi=40)
    values, base, outputs = _truth(rows)
    order = shapwise.utils.hclust_ordering(values)
    if outputs[order[0]] < outputs[order[-1]]:
        order = order[::-1]
    bands = []
    for polygon in ax.patches:
        positions, tops, bottoms = _band_heights(polygon.get_xy())
        np.testing.assert_array_equal(positions, np.arange(len(values)))
        bands.append((polygon.get_label(), polygon.get_gid(), tops, bottoms))
    assert {gid for _, gid, _, _ in bands} == {"positive", "negative"}
    _check_stacks(bands, values, base, outputs, order)
    (output_line,) = [line for line in ax.get_lines() if line.get_label() == "f(x)"]
    np.testing.assert_allclose(output_line.get_ydata(), outputs[order])
    assert ax.get_xlabel() == SIMILARITY
    by_output = plots.force(rows, show=False).matplotlib(ordering=OUTPUT_VALUE, show=False)
    (line,) = [line for line in by_output.get_lines() if line.get_label() == "f(x)"]
    np.testing.assert_allclose(line.get_ydata(), np.sort(outputs)[::-1])


def test_shaps_array_form_keys_link_colours_and_save_html(rows, tmp_path):
    values = rows.values
    frame = pd.DataFrame(rows.data, columns=NAMES)
    plot = shapwise.force_plot(0.5, values, frame, plot_cmap=["#00aa00", "#aa00aa"])
    assert isinstance(plot, StackedForcePlot) and plot.feature_names == NAMES
    np.testing.assert_allclose(plot.outputs, 0.5 + values.sum(axis=1))
    fills = {p.get("fill") for p in _svg(plot.svg()).iter("path") if p.get("class") == "band"}
    assert fills == {"#00aa00", "#aa00aa"}
    ax = plots.force(0.5, values, frame, matplotlib=True, show=False)
    assert len(ax.patches) == len(plot.bands())

    dates = [f"2024-01-{day:02d}" for day in np.random.default_rng(0).permutation(12) + 1]
    keyed = plots.force(rows, ordering_keys=dates, ordering_keys_time_format="%Y-%m-%d")
    assert next(iter(keyed.orderings)) == BY_KEY
    assert [dates[i] for i in keyed.orderings[BY_KEY]] == sorted(dates)

    logit = plots.force(rows, link="logit", show=False)
    ticks = [t for t in _svg(logit.svg()).iter("text") if t.get("text-anchor") == "end"]
    assert ticks and all(0 <= float(t.text) <= 1 for t in ticks)  # probabilities

    target = tmp_path / "rows.html"
    shapwise.save_html(str(target), plot)
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and plot.html() in page

    with pytest.raises(ValueError, match="one base value, or one per row"):
        plots.force(np.zeros(3), values)
    with pytest.raises(ValueError, match="plot_cmap 'Viridis' is not one of"):
        plots.force(0.0, values, plot_cmap="Viridis")
    with pytest.raises(ValueError, match="finite"):
        plots.force(0.0, np.where(values > 1, np.nan, values))
    with pytest.raises(ValueError, match="one key per row"):
        plots.force(rows, ordering_keys=dates[:3])
