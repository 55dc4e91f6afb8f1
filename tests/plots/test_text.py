"""Text: every token in a span shaded by the sign and size of its value."""

from __future__ import annotations

import re

import numpy as np
import pytest

import shapwise
from shapwise import plots


@pytest.fixture(scope="module")
def review_explanation() -> shapwise.Explanation:
    """A bag-of-words sentiment model; a token is present or masked (absent) in a coalition."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = ["great film", "awful plot", "great acting", "boring and awful", "loved it", "dull"]
    labels = [1, 0, 1, 0, 1, 0]
    vectorizer = CountVectorizer().fit(texts)
    model = LogisticRegression().fit(vectorizer.transform(texts), labels)
    tokens = ["a", "great", "film", "with", "an", "awful", "plot"]

    def positive_score(masks: np.ndarray) -> np.ndarray:
        kept = [" ".join(t for t, m in zip(tokens, row, strict=True) if m) for row in masks > 0]
        return model.decision_function(vectorizer.transform(kept))

    explainer = shapwise.Explainer(positive_score, np.zeros((1, len(tokens))), algorithm="exact")
    explanation = explainer(np.ones((1, len(tokens))), silent=True)[0]
    explanation.data = np.array(tokens)
    return explanation


def test_text_shades_each_token(review_explanation):
    markup = plots.text(review_explanation, show=False)
    spans = re.findall(
        r'data-value="([^"]+)"[^>]*style="background:rgba\((\d+)[^>]*>([^<]*)<', markup
    )
    assert [token for _, _, token in spans] == list(review_explanation.data)
    for value, red, _ in spans:
        if float(value) > 0:
            assert red == "255"
        elif float(value) < 0:
            assert red == "0"
    values = dict((token, float(value)) for value, _, token in spans)
    assert values["great"] > 0 > values["awful"]
    output = float(review_explanation.output_values)
    assert f"f(x) = <b>{output:.4g}</b>" in markup


def test_text_escapes_html():
    explanation = shapwise.Explanation(np.array([0.5, -0.1]), 0.0, np.array(["<b>", "&"]))
    markup = plots.text(explanation, show=False)
    assert "&lt;b&gt;" in markup and "&amp;" in markup
    assert markup.count("<b>") == 1  # only the bold f(x) of the header


def test_text_takes_shaps_arguments(review_explanation):
    """shap's display=False, cmax and separator; its output-bar settings are ignored with a
    warning (this plot draws no bar)."""
    markup = plots.text(review_explanation, display=False, separator="")
    assert "</span><span" in markup  # no space between the tokens
    opacities = [float(a) for a in re.findall(r"rgba\(\d+, \d+, \d+, ([0-9.]+)\)", markup)]
    faint = plots.text(review_explanation, display=False, cmax=1e6)
    assert max(opacities) > 0.5
    assert all(float(a) < 0.09 for a in re.findall(r"rgba\(\d+, \d+, \d+, ([0-9.]+)\)", faint))
    with pytest.warns(UserWarning, match="no output bar"):
        plots.text(review_explanation, display=False, xmin=-1.0)
