"""Explaining texts: each text's tokens are its features (a real TF-IDF + logistic regression
model); values checked against brute-force Shapley and Owen values of the text's masked-string game."""

from __future__ import annotations

import numpy as np
import pytest

import shapwise
from shapwise.maskers import Text
from tests.explainers.models import sentiment_pipeline
from tests.reference import linkage_to_tree, owen_values, shapley_values

TEXT = "The acting felt superb. We left, talking."


@pytest.fixture(scope="module")
def model():
    return sentiment_pipeline()


def text_game(model, text: str):
    """v(S) = the model's probabilities for the text with only the tokens in S kept."""
    tokens = Text().for_text(text)

    def game(coalition: frozenset) -> np.ndarray:
        mask = np.array([i in coalition for i in range(len(tokens.tokens))])
        return model.predict_proba([tokens.masked_string(mask)])[0]

    return game, len(tokens.tokens)


def test_exact_values_of_a_text_equal_brute_force_shapley_values(model):
    explanation = shapwise.explainers.Exact(model.predict_proba, Text())([TEXT], silent=True)
    game, n_tokens = text_game(model, TEXT)
    expected = np.stack([shapley_values(lambda s, k=k: game(s)[k], n_tokens) for k in range(2)], 1)
    assert explanation.shape == (1, None, 2)
    np.testing.assert_allclose(explanation[0].values, expected, atol=1e-10)
    np.testing.assert_allclose(explanation.base_values[0], game(frozenset()), atol=1e-12)
    assert list(explanation[0].data) == Text().for_text(TEXT).tokens


def test_partition_values_of_a_text_equal_brute_force_owen_values(model):
    explainer = shapwise.Explainer(model.predict_proba, Text())
    assert isinstance(explainer, shapwise.explainers.Partition)
    explanation = explainer([TEXT], max_evals=10_000, silent=True)[0]
    game, _ = text_game(model, TEXT)
    tree = linkage_to_tree(explanation.clustering)
    expected = np.stack([owen_values(lambda s, k=k: game(s)[k], tree) for k in range(2)], 1)
    np.testing.assert_allclose(explanation.values, expected, atol=1e-10)
    positive = explanation[:, 1].values
    assert explanation.data[np.argmax(positive)] == "superb. "  # the word that decides


def test_permutation_on_texts_adds_up_and_is_exact_at_the_full_budget(model):
    texts = [TEXT, "this story is dull"]
    exact = shapwise.explainers.Exact(model.predict_proba, Text())(texts, silent=True)
    sampled = shapwise.explainers.Permutation(model.predict_proba, Text(), seed=1)
    full = sampled(texts, max_evals=2**7, silent=True)
    for i in range(2):
        np.testing.assert_allclose(full[i].values, exact[i].values, atol=1e-10)
    small = sampled(texts, max_evals=20, silent=True)
    for i in range(2):
        total = small[i].values.sum(0) + small.base_values[i]
        np.testing.assert_allclose(total, model.predict_proba([texts[i]])[0], atol=1e-10)


def test_kernel_on_texts_is_exact_at_the_full_budget(model):
    texts = [TEXT, "dull"]
    exact = shapwise.explainers.Exact(model.predict_proba, Text())(texts, silent=True)
    kernel = shapwise.KernelExplainer(model.predict_proba, Text())
    legacy = kernel.shap_values(texts, nsamples=2**7, silent=True)
    assert legacy.dtype == object and len(legacy) == 2
    for i in range(2):
        np.testing.assert_allclose(legacy[i], exact[i].values, atol=1e-10)


def test_many_texts_give_one_explanation_indexed_like_shaps(model):
    texts = np.array(["the film was great", TEXT, "boring"])  # any sequence of strings
    explainer = shapwise.Explainer(model.predict_proba, Text(), output_names=["neg", "pos"])
    explanation = explainer(texts, silent=True)
    assert len(explanation) == 3 and explanation.shape == (3, None, 2)
    for i, text in enumerate(texts):  # each text as if explained alone
        alone = explainer([text], silent=True)[0]
        np.testing.assert_allclose(explanation[i].values, alone.values, atol=1e-12)
        assert "".join(explanation[i].data) == text
    positive = explanation[:, :, "pos"]
    assert positive.shape == (3, None)
    assert [len(v) for v in positive.values] == [4, 7, 1]
    np.testing.assert_allclose(positive[1].values, explanation[1, :, 1].values)
    np.testing.assert_allclose(
        [v.sum() for v in positive.values] + positive.base_values,
        model.predict_proba(list(texts))[:, 1],
        atol=1e-10,
    )
    assert explanation[1:].shape == (2, None, 2)
    markup = shapwise.plots.text(positive, show=False)
    assert markup.count('class="shapwise-text"') == 3 and "superb." in markup
    with pytest.raises(ValueError, match="texts with different numbers of tokens"):
        explanation.mean(0)
    with pytest.raises(ValueError, match="pick one first"):
        shapwise.plots.text(explanation, show=False)
    with pytest.raises(ValueError, match="bar needs the same features in every row"):
        shapwise.plots.bar(positive, show=False)
    view = positive._repr_html_()  # the notebook view checks each text's sum over its tokens
    assert "values of shape (3, tokens)" in view and "max error" in view
    assert view.count('class="shapwise-text"') == 1  # its first panel: the first text
    legacy = explainer.shap_values(list(texts), silent=True)
    assert legacy.dtype == object and legacy[2].shape == (1, 2)


def test_each_text_can_be_explained_for_its_top_output(model):
    explainer = shapwise.Explainer(model.predict_proba, Text(), output_names=["neg", "pos"])
    texts = ["the music sounded wonderful", "the music sounded poor"]
    top = explainer(texts, outputs=shapwise.Explanation.argsort.flip[:1], silent=True)
    assert top.shape == (2, None, 1)
    assert top.output_names is None  # the texts were explained for different outputs
    predicted = model.predict_proba(texts).max(axis=1)
    totals = [v.sum() for v in top.values] + top.base_values[:, 0]
    np.testing.assert_allclose(totals, predicted, atol=1e-10)


def test_texts_come_as_a_string_a_list_or_one_column(model):
    import pandas as pd

    explainer = shapwise.Explainer(model.predict_proba, Text())
    reviews = pd.DataFrame({"review": ["great film", "dull music"]})
    from_column = explainer(reviews["review"], silent=True)
    assert [list(tokens) for tokens in from_column.data] == [["great ", "film"], ["dull ", "music"]]
    assert explainer("great film", silent=True).shape == (1, None, 2)
    with pytest.raises(
        TypeError, match=r"one column of a table \(df\['review'\]\); got a DataFrame"
    ):
        explainer(reviews)
    with pytest.raises(TypeError, match="explains strings: pass a string, a list of them"):
        explainer(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="items of type int"):
        explainer(["fine", 3])
    with pytest.raises(TypeError, match="got no texts"):
        explainer([])
    with pytest.raises(ValueError, match="text 1: the text '' has no tokens"):
        explainer(["fine", ""])
    with pytest.raises(AttributeError, match="each text has its own base value"):
        _ = explainer.expected_value


def test_several_texts_are_not_indexed_by_token(model):
    explanation = shapwise.Explainer(model.predict_proba, Text())([TEXT, "dull"], silent=True)
    with pytest.raises(IndexError, match="cannot be indexed by token; pick one text first"):
        explanation[:, 0]
    with pytest.raises(IndexError, match="picked by position; got True"):
        explanation[True]
    assert explanation[-1].data.tolist() == ["dull"]
    np.testing.assert_array_equal(explanation[0, 3].values, explanation[0].values[3])
