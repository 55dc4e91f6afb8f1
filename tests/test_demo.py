"""``shapwise demo``: every part trains, explains additively, and lands in the report."""

from __future__ import annotations

import re

import pytest

from shapwise import demo
from shapwise.cli import main


@pytest.mark.slow
def test_demo_writes_an_additive_report(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert code == 0, printed
    ran = [name for name in demo.PARTS if f"ok       {name}:" in printed]
    skipped = [name for name in demo.PARTS if f"skipped  {name}:" in printed]
    assert len(ran) + len(skipped) == len(demo.PARTS)
    assert "Diabetes, gradient boosting (Tree SHAP)" in ran
    page = (tmp_path / "out" / "report.html").read_text()
    table = re.search(r'id="additivity">(.*?)</table>', page, re.S).group(1)
    assert table.count('class="ok"') == len(ran)
    if "Digits, Keras CNN in mixed_float16 (Partition, Image masker)" in ran:
        assert "<td>float16</td>" in table
    # The tabular part draws bar, beeswarm and waterfall; each image part one grid; the text
    # part shades the tokens of its three reviews in HTML.
    texts = "Film reviews, TF-IDF + logistic regression (Partition, Text masker)"
    assert texts in ran
    assert page.count("data:image/png;base64,") == 3 + (len(ran) - 2)
    assert page.count('class="shapwise-text"') == 3 and "superb, " in page


def test_a_failing_part_makes_the_demo_fail(tmp_path, capsys):
    broken = demo.tabular_part()
    broken = broken._with(values=broken.values + 1.0)
    assert demo.run_demo(tmp_path, {"broken": lambda: broken}) == 1
    assert "FAILED   broken" in capsys.readouterr().out


def test_a_missing_framework_skips_its_part(tmp_path, capsys):
    def needs_torch():
        raise ImportError("install it with: pip install 'shapwise[torch]'")

    explanation = demo.tabular_part()
    code = demo.run_demo(tmp_path, {"tabular": lambda: explanation, "torch": needs_torch})
    assert code == 0
    assert "skipped  torch: install it with" in capsys.readouterr().out
    assert (tmp_path / "report.html").exists()


@pytest.mark.slow
def test_demo_output_carries_no_framework_start_up_lines(tmp_path):
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "shapwise.cli", "demo", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, env=environment,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    printed = result.stdout + result.stderr
    for noise in ("oneDNN", "absl", "I0000", "E0000", "cpu_feature_guard"):
        assert noise not in printed, printed
    assert printed.count("ok       ") == len(demo.PARTS)
