"""Explaining text generation by teacher forcing: each output token's log-odds, explained by the
prompt's tokens, for a causal LM (GPT-2) and a sequence-to-sequence model (T5)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

import shapwise
from shapwise.maskers import Text
from tests.reference import shapley_values

PROMPT = "I loved the acting"
TARGET = " and the music"


def causal_log_odds(model, tokenizer, prompt: str, target_ids: list[int]) -> np.ndarray:
    """logit P(y_t | prompt, y_<t) from one unpadded forward pass over prompt + target."""
    import torch

    prompt_ids = tokenizer(prompt)["input_ids"]
    ids = torch.tensor([prompt_ids + target_ids])
    with torch.no_grad():
        log_p = torch.log_softmax(model(input_ids=ids).logits[0].to(torch.float64), -1)
    start = len(prompt_ids) - 1
    chosen = np.array([log_p[start + t, y].item() for t, y in enumerate(target_ids)])
    return chosen - np.log1p(-np.exp(chosen))


def seq2seq_log_odds(model, tokenizer, prompt: str, target_ids: list[int]) -> np.ndarray:
    """The same for an encoder-decoder model, which shifts ``labels`` into its decoder inputs."""
    import torch

    ids = torch.tensor([tokenizer(prompt)["input_ids"]])
    with torch.no_grad():
        logits = model(input_ids=ids, labels=torch.tensor([target_ids])).logits[0]
    log_p = torch.log_softmax(logits.to(torch.float64), -1)
    chosen = np.array([log_p[t, y].item() for t, y in enumerate(target_ids)])
    return chosen - np.log1p(-np.exp(chosen))


def test_causal_lm_values_add_up_to_each_output_tokens_log_odds(gpt2, byte_level):
    model = shapwise.models.TeacherForcing(gpt2, byte_level)
    explainer = shapwise.Explainer(model, Text(byte_level))
    explanation = explainer([PROMPT], [TARGET], silent=True)[0]
    target_ids = byte_level(TARGET, add_special_tokens=False)["input_ids"]
    assert explanation.output_names == ["and", "the", "music"]
    assert explanation.values.shape == (len(Text(byte_level).for_text(PROMPT).tokens), 3)
    expected = causal_log_odds(gpt2, byte_level, PROMPT, target_ids)
    np.testing.assert_allclose(
        explanation.values.sum(0) + explanation.base_values, expected, atol=1e-8
    )
    base = causal_log_odds(gpt2, byte_level, "...", target_ids)  # every prompt token hidden
    np.testing.assert_allclose(explanation.base_values, base, atol=1e-8)


def test_causal_lm_exact_values_equal_brute_force_shapley_values(gpt2, byte_level):
    tokens = Text(byte_level).for_text(PROMPT)
    target_ids = byte_level(TARGET, add_special_tokens=False)["input_ids"]

    @cache
    def game(coalition: frozenset) -> np.ndarray:
        mask = np.array([i in coalition for i in range(len(tokens.tokens))])
        return causal_log_odds(gpt2, byte_level, tokens.masked_string(mask), target_ids)

    model = shapwise.models.TeacherForcing(gpt2, byte_level)
    explanation = shapwise.explainers.Exact(model, Text(byte_level))(
        [PROMPT], [TARGET], silent=True
    )
    n = len(tokens.tokens)
    expected = np.stack([shapley_values(lambda s, k=k: game(s)[k], n) for k in range(3)], 1)
    np.testing.assert_allclose(explanation[0].values, expected, atol=1e-8, rtol=0)
    assert np.abs(expected).max() > 1e-3


def test_seq2seq_values_add_up_to_each_output_tokens_log_odds(t5, byte_level_eos):
    tokenizer = byte_level_eos
    explainer = shapwise.Explainer(t5, tokenizer)  # TeacherForcing and a Text masker of it
    assert isinstance(explainer.model, shapwise.models.TeacherForcing)
    assert explainer.masker.mask_token == "..."
    explanation = explainer([PROMPT], ["the music was great"], silent=True)[0]
    target_ids = tokenizer("the music was great", add_special_tokens=False)["input_ids"]
    assert explanation.output_names == [tokenizer.decode([i]).strip() for i in target_ids]
    expected = seq2seq_log_odds(t5, tokenizer, PROMPT, target_ids)
    np.testing.assert_allclose(
        explanation.values.sum(0) + explanation.base_values, expected, atol=1e-8
    )
    assert np.abs(explanation.values[-1]).max() < 1e-15  # </s>: a special token, never hidden


def test_without_a_target_the_generated_text_is_explained(gpt2, byte_level):
    generation = shapwise.models.TextGeneration(gpt2, byte_level, max_new_tokens=4)
    generated = generation.token_ids(PROMPT)
    assert 1 <= len(generated) <= 4
    assert generation([PROMPT]) == [byte_level.decode(generated)]
    model = shapwise.models.TeacherForcing(gpt2, byte_level, generation=generation)
    explanation = shapwise.Explainer(model, Text(byte_level))([PROMPT], silent=True)[0]
    tokens = [byte_level.decode([i]).strip() for i in generated]
    numbered = [  # a repeated token is numbered by its occurrence: every output has its own name
        token if tokens[:k].count(token) == 0 else f"{token} ({tokens[: k + 1].count(token)})"
        for k, token in enumerate(tokens)
    ]
    assert explanation.output_names == numbered
    expected = causal_log_odds(gpt2, byte_level, PROMPT, generated)
    np.testing.assert_allclose(
        explanation.values.sum(0) + explanation.base_values, expected, atol=1e-8
    )


def test_the_text_plot_shows_input_by_output(gpt2, byte_level):
    explainer = shapwise.Explainer(gpt2, byte_level)
    explanation = explainer([PROMPT], [TARGET], silent=True)
    markup = shapwise.plots.text(explanation[0], show=False)
    for name in ["and", "the", "music"]:
        assert f">{name}</th>" in markup
    assert markup.count('class="shapwise-token"') == len(explanation[0].data)
    assert markup.count("data-value=") == explanation[0].values.size


def test_a_generation_pipeline_is_explained_by_teacher_forcing(gpt2, byte_level):
    from transformers import pipeline

    generator = pipeline("text-generation", model=gpt2, tokenizer=byte_level, device="cpu")
    explainer = shapwise.Explainer(generator)
    assert isinstance(explainer.model, shapwise.models.TeacherForcing)
    explanation = explainer([PROMPT], [TARGET], silent=True)[0]
    target_ids = byte_level(TARGET, add_special_tokens=False)["input_ids"]
    expected = causal_log_odds(gpt2, byte_level, PROMPT, target_ids)
    np.testing.assert_allclose(
        explanation.values.sum(0) + explanation.base_values, expected, atol=1e-8
    )
    with pytest.raises(TypeError, match="this one is for 'text-generation'"):
        shapwise.models.TransformersPipeline(generator)


def test_targets_need_a_model_that_takes_them(bert, gpt2, byte_level):
    with pytest.raises(TypeError, match="does not take them"):
        shapwise.Explainer(bert)(["I loved it"], ["a target"], silent=True)
    explainer = shapwise.Explainer(gpt2, byte_level)
    with pytest.raises(ValueError, match="2 texts were given with 1 targets"):
        explainer([PROMPT, "Dull."], [TARGET], silent=True)
    with pytest.raises(ValueError, match="different numbers of tokens"):
        explainer([PROMPT, "Dull."], [TARGET, " bad"], silent=True)
    with pytest.raises(TypeError, match="language model"):
        shapwise.models.TeacherForcing(lambda x: x, byte_level)


@pytest.mark.slow
def test_log_odds_agree_with_shaps_teacher_forcing(gpt2, t5):
    """shap 0.51's TeacherForcing on the same models, masked prompts and targets (its own copy
    of each tokenizer: shap sets a pad token on the tokenizer it is given)."""
    shap = pytest.importorskip("shap")
    from tests.text.tiny_models import byte_level_tokenizer

    prompts = np.array(["I loved the acting", "I ... acting", "...", "Dull."], dtype=object)
    for model, eos, target in [(gpt2, False, TARGET), (t5, True, "the music was great")]:
        ours = shapwise.models.TeacherForcing(model, byte_level_tokenizer(eos=eos))
        ours.set_target(PROMPT, target)
        theirs = shap.models.TeacherForcing(model, byte_level_tokenizer(eos=eos))
        expected = theirs(prompts, np.array([target] * len(prompts)))
        np.testing.assert_allclose(ours(prompts), expected, atol=1e-10, rtol=0)
