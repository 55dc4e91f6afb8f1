"""The HTML report, read back from a real headless Chromium, and the notebook view."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import matplotlib
import numpy as np
import pytest

import shapwise
from shapwise.report import additivity
from tests import real_explanations

matplotlib.use("Agg")

SETUP = Path(__file__).with_name("setup_chromium.sh")


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium binary, installed with apt-get by tests/setup_chromium.sh when missing."""
    found = shutil.which("chromium")
    if found is None:
        result = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=600)
        found = shutil.which("chromium")
        if found is None:
            pytest.skip(f"chromium is not installed and could not be: {result.stderr.strip()}")
    return found


def rendered_dom(chromium: str, page: Path, profile: Path) -> str:
    """The page's DOM after load and its scripts ran, as headless Chromium sees it."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    explanations = {
        "diabetes, gradient boosting": real_explanations.diabetes(),
        "iris, random forest": real_explanations.iris(),
        "diabetes, float16 linear model": real_explanations.half_precision(),
        "digits, logistic regression": real_explanations.digits(),
    }
    path = tmp_path_factory.mktemp("report") / "sub" / "report.html"
    written = shapwise.report(explanations, path, title="Test report")
    assert written == path
    return path


def test_report_is_self_contained(report_file):
    page = report_file.read_text()
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page)  # nothing fetched from the web
    assert "default-src 'none'" in page
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    # diabetes: bar, beeswarm, waterfall; iris: 3 for each of 2 outputs; float16: 3; digits: 1
    assert len(images) == 3 + 6 + 3 + 1
    assert all(src.startswith("data:image/png;base64,") for src in images)


def test_report_renders_in_chromium(chromium, report_file, tmp_path):
    dom = rendered_dom(chromium, report_file, tmp_path / "profile")
    assert 'data-images-loaded="13/13"' in dom
    table = re.search(r'<table class="additivity" id="additivity">(.*?)</table>', dom, re.S)
    assert table is not None
    rows = re.findall(r"<tr><td>(.*?)</td>", table.group(1))
    assert rows == [
        "diabetes, gradient boosting",
        "iris, random forest",
        "diabetes, float16 linear model",
        "digits, logistic regression",
    ]
    assert table.group(1).count('class="ok"') == 4
    assert "<td>float16</td>" in table.group(1)
    assert "<title>Test report</title>" in dom


def test_additivity_summary_matches_a_direct_computation():
    explanation = real_explanations.iris()
    check = additivity(explanation)
    totals = explanation.values.sum(axis=1) + explanation.base_values
    assert check.max_error == pytest.approx(np.abs(totals - explanation.output_values).max())
    assert check.ok and check.algorithm == "tree"  # Explainer picks Tree SHAP for boosting
    broken = real_explanations.diabetes()._with(values=real_explanations.diabetes().values + 1.0)
    assert additivity(broken).ok is False
    assert additivity(broken).max_error == pytest.approx(10.0)


def test_failed_additivity_is_marked_in_the_report(tmp_path):
    exp = real_explanations.diabetes()
    broken = exp._with(values=exp.values * 1.1)
    page = shapwise.report([exp, broken], tmp_path / "r.html").read_text()
    assert page.count('class="ok"') == 1 and page.count('class="fail"') == 1


def test_notebook_view_has_summary_and_a_plot():
    markup = real_explanations.diabetes()._repr_html_()
    assert "shapwise.Explanation" in markup and "float64" in markup
    assert markup.count("data:image/png;base64,") == 1
    local = real_explanations.iris()[0]._repr_html_()  # one row, several outputs
    assert local.count("data:image/png;base64,") == 1
    assert "tree values" in local  # the algorithm is named


def test_report_rejects_non_explanations(tmp_path):
    with pytest.raises(TypeError, match="Explanation"):
        shapwise.report([np.zeros(3)], tmp_path / "r.html")
