"""``shap.utils.transformers`` with ``import shapwise as shap``: on tokenizers and models built in
memory (nothing downloaded), checked against what each tokenizer puts around the empty string,
the model classes' kinds, and shap 0.51's prefixes and suffixes."""

from __future__ import annotations

import logging
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from shapwise.utils import transformers as helpers
from tests.text import tiny_models

real_shap = pytest.importorskip("shap")


@pytest.fixture(scope="module")
def tokenizers():
    return {
        "wordpiece": tiny_models.wordpiece_tokenizer(),  # [CLS] text [SEP]
        "byte_level": tiny_models.byte_level_tokenizer(),  # GPT-2 style: nothing added
        "byte_level_eos": tiny_models.byte_level_tokenizer(eos=True),  # text </s>, as T5's
    }


def test_prefix_and_suffix_are_the_special_tokens_around_a_text(tokenizers):
    expected = {"wordpiece": (1, 1), "byte_level": (0, 0), "byte_level_eos": (0, 1)}
    from shap.utils.transformers import parse_prefix_suffix_for_tokenizer as shaps

    for name, tokenizer in tokenizers.items():
        parsed = helpers.parse_prefix_suffix_for_tokenizer(tokenizer)
        assert (parsed["keep_prefix"], parsed["keep_suffix"]) == expected[name]
        ids = tokenizer("good film")["input_ids"]
        prefix, suffix = expected[name]
        # the ends of every text are exactly the empty string's tokens
        assert ids[:prefix] + ids[len(ids) - suffix :] == parsed["null_tokens"]
        assert parsed == shaps(tokenizer)


def test_a_tokenizer_whose_ends_cannot_be_told_gets_a_clear_error(tokenizers):
    class OddEnds:
        def __init__(self):
            self.special_tokens_map = {"eos_token": "</s>"}

        def __call__(self, text):
            return {"input_ids": [5, 6, 7]}

        def decode(self, token):
            return "?"

    with pytest.raises(ValueError, match="odd number"):
        helpers.parse_prefix_suffix_for_tokenizer(OddEnds())
    OneToken = type("OneToken", (OddEnds,), {"__call__": lambda self, text: {"input_ids": [9]}})
    with pytest.raises(ValueError, match="neither its eos_token nor its bos_token"):
        helpers.parse_prefix_suffix_for_tokenizer(OneToken())


def test_language_models_are_told_from_other_models(tokenizers):
    gpt2 = tiny_models.gpt2_model(tokenizers["byte_level"])
    t5 = tiny_models.t5_model(tokenizers["byte_level_eos"])
    classifier = tiny_models.bert_pipeline(tokenizers["wordpiece"]).model
    for model, is_lm in [(gpt2, True), (t5, True), (classifier, False)]:
        assert helpers.is_transformers_lm(model) is is_lm  # (shap's check imports every model)
    assert helpers.is_transformers_lm(lambda texts: texts) is False
    assert "transformers.T5Tokenizer" in helpers.SENTENCEPIECE_TOKENIZERS


def test_getattr_silent_reads_unset_tokens_without_a_log_message(tokenizers, caplog):
    tokenizer = tokenizers["wordpiece"]
    tokenizer.verbose = True
    try:
        with caplog.at_level(logging.WARNING, logger="transformers"):
            assert tokenizer.bos_token is None
            assert "bos_token" in caplog.text  # transformers complains when verbose
            caplog.clear()
            assert helpers.getattr_silent(tokenizer, "bos_token") is None
            assert caplog.records == []
        assert tokenizer.verbose is True  # switched back on
        assert helpers.getattr_silent(tokenizer, "sep_token") == "[SEP]"
    finally:
        tokenizer.verbose = False

    class Settings:
        verbose = False
        name = "None"

    assert helpers.getattr_silent(Settings(), "name") is None
    assert helpers.getattr_silent(Settings(), "missing") is None
