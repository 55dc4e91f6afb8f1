"""Tiny transformers tokenizers and models, built once per test session (offline, seeded, one
torch thread)."""

from __future__ import annotations

import os
from importlib.util import find_spec

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Without the text extra these tests are skipped (found without importing transformers).
if find_spec("transformers") is None or find_spec("tokenizers") is None:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def wordpiece():
    from tests.text.tiny_models import wordpiece_tokenizer

    return wordpiece_tokenizer()


@pytest.fixture(scope="session")
def byte_level():
    from tests.text.tiny_models import byte_level_tokenizer

    return byte_level_tokenizer()


@pytest.fixture(scope="session")
def byte_level_eos():
    from tests.text.tiny_models import byte_level_tokenizer

    return byte_level_tokenizer(eos=True)


@pytest.fixture(scope="session")
def bert(wordpiece):
    """The float32 BERT sentiment pipeline (all scores: top_k=None, as shap expects)."""
    from tests.text.tiny_models import bert_pipeline

    return bert_pipeline(wordpiece, top_k=None)


@pytest.fixture(scope="session")
def bert64(wordpiece):
    """The same BERT in float64: outputs that do not depend on how strings are batched, for
    comparisons with brute-force values to 1e-8."""
    import torch

    from tests.text.tiny_models import bert_pipeline

    pipeline = bert_pipeline(wordpiece)
    pipeline.model.to(torch.float64)
    return pipeline


@pytest.fixture(scope="session")
def gpt2(byte_level):
    import torch

    from tests.text.tiny_models import gpt2_model

    return gpt2_model(byte_level).to(torch.float64)


@pytest.fixture(scope="session")
def t5(byte_level_eos):
    import torch

    from tests.text.tiny_models import t5_model

    return t5_model(byte_level_eos).to(torch.float64)
