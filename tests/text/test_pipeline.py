"""Explaining a transformers text-classification pipeline: values equal brute-force Shapley and
Owen values of the masked-string game, add up to the pipeline's own scores, masked strings go to
the model in batches, and values agree with shap 0.51's."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

import shapwise
from shapwise.maskers import Text
from tests.reference import linkage_to_tree, owen_values, shapley_values

TEXT = "I loved the acting."  # [CLS] i lov ##ed the acting . [SEP]: 8 features
TEXTS = ["I loved the acting.", "Bad plot. Avoid it."]


def string_game(pipeline, tokens):
    """v(S): the float64 model's class probabilities for the masked string of S, each string
    tokenized and run on its own (no padding, no batching), softmax in float64."""
    import torch

    @cache
    def game(coalition: frozenset) -> np.ndarray:
        mask = np.array([i in coalition for i in range(len(tokens.tokens))])
        ids = torch.tensor([pipeline.tokenizer(tokens.masked_string(mask))["input_ids"]])
        with torch.no_grad():
            logits = pipeline.model(input_ids=ids).logits[0].to(torch.float64)
        return torch.softmax(logits, -1).numpy()

    return game


def test_exact_values_equal_brute_force_shapley_values(bert64, wordpiece):
    explanation = shapwise.explainers.Exact(bert64, Text(wordpiece))([TEXT], silent=True)[0]
    tokens = Text(wordpiece).for_text(TEXT)
    game = string_game(bert64, tokens)
    n = len(tokens.tokens)
    expected = np.stack([shapley_values(lambda s, k=k: game(s)[k], n) for k in range(2)], 1)
    np.testing.assert_allclose(explanation.values, expected, atol=1e-8, rtol=0)
    np.testing.assert_allclose(explanation.base_values, game(frozenset()), atol=1e-8, rtol=0)
    assert np.abs(explanation.values[[0, -1]]).max() < 1e-15  # [CLS], [SEP]: never hidden
    assert list(explanation.data) == tokens.tokens
    assert explanation.output_names == ["NEGATIVE", "POSITIVE"]
    assert np.abs(explanation.values).max() > 1e-3  # the model does depend on the words


def test_partition_values_equal_brute_force_owen_values(bert64, wordpiece):
    explainer = shapwise.Explainer(bert64)  # builds maskers.Text(pipeline.tokenizer)
    assert isinstance(explainer, shapwise.explainers.Partition)
    explanation = explainer(TEXTS, max_evals=100_000, silent=True)
    for i, text in enumerate(TEXTS):
        tokens = Text(wordpiece).for_text(text)
        assert len(tokens.tokens) <= 12
        game = string_game(bert64, tokens)
        tree = linkage_to_tree(explanation[i].clustering)
        expected = np.stack(
            [owen_values(lambda s, k=k, game=game: game(s)[k], tree) for k in range(2)], 1
        )
        np.testing.assert_allclose(explanation[i].values, expected, atol=1e-8, rtol=0)


def test_values_add_up_to_the_pipelines_own_scores(bert):
    explanation = shapwise.Explainer(bert)(TEXTS, silent=True)
    scores = [[item["score"] for item in row] for row in bert(TEXTS, top_k=None)]
    labels = [[item["label"] for item in row] for row in bert(TEXTS, top_k=None)]
    scores = np.array(
        [np.array(s)[np.argsort(names)] for s, names in zip(scores, labels, strict=True)]
    )
    totals = np.array([v.sum(0) for v in explanation.values]) + explanation.base_values
    np.testing.assert_allclose(totals, scores, atol=2e-6, rtol=0)  # float32 model, other batches
    assert explanation.output_names == ["NEGATIVE", "POSITIVE"]
    assert explanation[:, :, "POSITIVE"].shape == (2, None)


def test_rescale_to_logits_explains_log_odds(bert):
    model = shapwise.models.TransformersPipeline(bert, rescale_to_logits=True)
    explanation = shapwise.explainers.Partition(model, Text(bert.tokenizer))(TEXTS, silent=True)
    scores = np.array([[item["score"] for item in bert(text, top_k=None)] for text in TEXTS])
    positive = np.array([row[0]["score"] if row[0]["label"] == "POSITIVE" else row[1]["score"]
                         for row in bert(TEXTS, top_k=None)])  # fmt: skip
    totals = np.array([v.sum(0) for v in explanation.values]) + explanation.base_values
    np.testing.assert_allclose(totals[:, 1], np.log(positive / (1 - positive)), atol=1e-4)
    np.testing.assert_allclose(totals[:, 0], -totals[:, 1], atol=1e-9)  # two classes
    assert scores.shape == (2, 2)


def test_masked_strings_reach_the_model_in_batches(wordpiece):
    from tests.text.tiny_models import bert_pipeline

    pipeline = bert_pipeline(wordpiece, batch_size=16)
    rows_per_pass = []
    hook = pipeline.model.register_forward_hook(
        lambda module, args, kwargs, out: rows_per_pass.append(len(kwargs["input_ids"])),
        with_kwargs=True,
    )
    try:
        model = shapwise.models.TransformersPipeline(pipeline)
        explainer = shapwise.explainers.Exact(model, Text(wordpiece))
        explainer([TEXT], silent=True)
    finally:
        hook.remove()
    # 2^8 coalitions of 8 features; [CLS] and [SEP] never change the string: 2^6 distinct strings
    assert sum(rows_per_pass) == 2**6
    assert rows_per_pass == [16, 16, 16, 16] and model.forward_passes == 4
    assert shapwise.models.TransformersPipeline(bert_pipeline(wordpiece)).forward_batch_size == 32


def test_bad_inputs_say_what_is_wrong(bert):
    with pytest.raises(TypeError, match="text-classification pipeline"):
        shapwise.models.TransformersPipeline(lambda x: x)
    with pytest.raises(ValueError, match="no softmax or sigmoid"):
        shapwise.models.TransformersPipeline(
            type(bert)(model=bert.model, tokenizer=bert.tokenizer, function_to_apply="none"),
            rescale_to_logits=True,
        )


@pytest.mark.slow
def test_owen_values_agree_with_shaps_on_shaps_hierarchy(bert, wordpiece):
    """shap 0.51's Partition explainer, fully expanded, computes Owen values over its own token
    hierarchy (its Exact explainer does not take texts): on that hierarchy, the same pipeline and
    tokenizer give the same values (float32 model: strings batched differently)."""
    shap = pytest.importorskip("shap")
    shap_masker = shap.maskers.Text(wordpiece)
    model = shap.models.TransformersPipeline(bert)
    theirs = shap.explainers.Partition(model, shap_masker)([TEXT], max_evals=10_000, silent=True)
    theirs = theirs[0]
    output = np.array([item["score"] for item in bert([TEXT], top_k=None)[0]])
    np.testing.assert_allclose(theirs.values.sum(0) + theirs.base_values, output, atol=1e-6)

    class ShapHierarchy(Text):
        def for_text(self, text):
            tokens = super().for_text(text)
            tokens.clustering = shap_masker.clustering(text)
            return tokens

    ours = shapwise.explainers.Partition(bert, ShapHierarchy(wordpiece))
    ours = ours([TEXT], max_evals=10_000, silent=True)[0]
    assert list(ours.data) == list(theirs.data)  # the same pieces, special tokens included
    np.testing.assert_allclose(ours.values, theirs.values, atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours.base_values, theirs.base_values, atol=1e-6, rtol=0)
    assert np.abs(theirs.values).max() > 1e-2
