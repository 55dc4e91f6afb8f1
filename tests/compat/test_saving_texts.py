"""Explainers of texts saved and loaded with ``import shapwise as shap``: a text-classification
pipeline and a language model explained by teacher forcing come back with the same values,
tokens and output names bit for bit; the tokenizer travels as its own ``save_pretrained`` files
and the model as safetensors (no pickle, no code), and what cannot be saved says how to save it."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import shapwise as shap  # noqa: E402
from shapwise._saving import SavingError  # noqa: E402
from tests.text.tiny_models import (  # noqa: E402
    REVIEWS,
    bert_pipeline,
    byte_level_tokenizer,
    gpt2_model,
    wordpiece_tokenizer,
)


@pytest.fixture(scope="module")
def bert():
    pipeline = bert_pipeline(wordpiece_tokenizer(), top_k=None)
    pipeline.model.to(torch.float64)
    return pipeline


def roundtrip(explainer, **options):
    saving = {k: v for k, v in options.items() if k in ("model_saver", "masker_saver")}
    loading = {k: v for k, v in options.items() if k not in saving}
    handle = io.BytesIO()
    explainer.save(handle, **saving)
    handle.seek(0)
    entries = zipfile.ZipFile(handle).namelist()
    handle.seek(0)
    return shap.Explainer.load(handle, **loading), entries


def assert_same_text_explanations(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.base_values, b.base_values)
        assert list(a.data) == list(b.data)
    assert ours.output_names == theirs.output_names


def test_a_pipeline_explainer_comes_back_with_the_same_values(bert):
    explainer = shap.Explainer(bert)
    loaded, entries = roundtrip(explainer)
    assert type(loaded) is type(explainer)
    assert "masker/tokenizer/tokenizer.json" in entries and "model/model.safetensors" in entries
    assert not any(e.endswith((".bin", ".pkl", ".pickle", ".pt")) for e in entries)
    assert loaded.model.pipeline.model.dtype == torch.float64
    assert loaded.masker.mask_token == explainer.masker.mask_token == "[MASK]"
    assert_same_text_explanations(loaded(REVIEWS[:3]), explainer(REVIEWS[:3]))


def test_a_pipeline_in_log_odds_under_a_permutation_explainer(bert):
    model = shap.models.TransformersPipeline(bert, rescale_to_logits=True, batch_size=4)
    masker = shap.maskers.Text(bert.tokenizer, mask_token="...", collapse_mask_token=True)
    explainer = shap.explainers.Permutation(model, masker, seed=3)
    loaded, _ = roundtrip(explainer)
    assert loaded.model.rescale_to_logits and loaded.model.forward_batch_size == 4
    assert (loaded.masker.mask_token, loaded.masker.collapse_mask_token) == ("...", True)
    assert_same_text_explanations(loaded(REVIEWS[3:5]), explainer(REVIEWS[3:5]))


def test_a_language_model_explained_by_teacher_forcing():
    tokenizer = byte_level_tokenizer()
    model = gpt2_model(tokenizer).to(torch.float64)
    explainer = shap.Explainer(model, tokenizer)
    loaded, entries = roundtrip(explainer)
    assert "model/model.safetensors" in entries
    assert type(loaded.model.language_model) is type(model)
    # the target is generated again from the prompt by the loaded model: the same tokens
    assert_same_text_explanations(loaded(REVIEWS[:1]), explainer(REVIEWS[:1]))
    target = ["the music was great"]
    assert_same_text_explanations(loaded(REVIEWS[1:2], target), explainer(REVIEWS[1:2], target))


def test_a_masker_of_a_regular_expression_keeps_its_pattern(bert):
    masker = shap.maskers.Text(r"[\s,.]+", mask_token="_")
    explainer = shap.explainers.Partition(bert, masker)
    loaded, entries = roundtrip(explainer)
    assert loaded.masker.separators == r"[\s,.]+" and loaded.masker.mask_token == "_"
    assert not any(e.startswith("masker/tokenizer") for e in entries)
    assert_same_text_explanations(loaded(REVIEWS[5:6]), explainer(REVIEWS[5:6]))


def test_text_maskers_save_on_their_own(bert):
    text = "Terrible dialogue, weak plot."
    for masker in (shap.maskers.Text(bert.tokenizer), shap.maskers.Text(r"\W+")):
        handle = io.BytesIO()
        masker.save(handle)
        handle.seek(0)
        loaded = shap.maskers.Text.load(handle)
        ours, theirs = loaded.for_text(text), masker.for_text(text)
        assert ours.feature_names == theirs.feature_names
        mask = np.arange(len(theirs.feature_names)) % 2 == 0
        assert ours.masked_string(mask) == theirs.masked_string(mask)


def test_a_masker_of_a_tokenizing_function_is_given_back_by_the_users_loader(bert):
    masker = shap.maskers.Text(str.split)
    explainer = shap.explainers.Partition(bert, masker)
    with pytest.raises(SavingError, match="masker_saver and masker_loader"):
        explainer.save(io.BytesIO())
    loaded, entries = roundtrip(explainer, masker_saver=False, masker_loader=lambda _: masker)
    assert not any(e.startswith("masker/") for e in entries)
    assert_same_text_explanations(loaded(REVIEWS[5:6]), explainer(REVIEWS[5:6]))


def test_an_entry_outside_its_folder_is_refused(bert):
    handle = io.BytesIO()
    shap.Explainer(bert).save(handle)
    handle.seek(0)
    archive = zipfile.ZipFile(handle)
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as out:
        for entry in archive.namelist():
            out.writestr(entry, archive.read(entry))
        out.writestr("model/../../escaped.json", "{}")
    tampered.seek(0)
    with pytest.raises(SavingError, match="outside its folder"):
        shap.Explainer.load(tampered)
