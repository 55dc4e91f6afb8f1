"""shap's public names that shapwise adds lazily: each resolves to a working object, and a fresh
``import shapwise`` (touching them by name only) still loads no heavy framework."""

from __future__ import annotations

import subprocess
import sys

import pytest

import shapwise as shap


def test_the_names_resolve_as_in_shap():
    assert shap.actions.ActionOptimizer is shap.ActionOptimizer
    assert shap.actions.Action(2.0).cost == 2.0
    assert callable(shap.utils.transformers.parse_prefix_suffix_for_tokenizer)
    assert callable(shap.explainers.tf_utils._get_model_inputs)
    assert "unsupported" in shap.__all__ and "ActionOptimizer" in shap.__all__


def test_unsupported_raises_the_missing_matplotlib_error():
    with pytest.raises(ImportError, match=r"pip install 'shapwise\[plots\]'"):
        shap.unsupported(1, key=2)
    with pytest.raises(ImportError, match="matplotlib is not installed"):
        _ = shap.UnsupportedModule().bar


def test_importing_shapwise_and_these_names_stays_light():
    program = (
        "import sys, shapwise\n"
        "shapwise.actions, shapwise.ActionOptimizer, shapwise.unsupported\n"
        "shapwise.utils.transformers.SENTENCEPIECE_TOKENIZERS\n"
        "shapwise.explainers.tf_utils._get_model_inputs\n"
        "heavy = ('tensorflow', 'keras', 'torch', 'transformers', 'xgboost', 'dask', 'matplotlib')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
