"""``import shapwise`` stays light: transformers and tokenizers load only when a text adapter or
a Hugging Face tokenizer is used."""

from __future__ import annotations

import subprocess
import sys


def test_import_shapwise_loads_neither_transformers_nor_tokenizers():
    code = (
        "import sys, shapwise, shapwise.models, shapwise.text_models, shapwise.maskers\n"
        "shapwise.maskers.Text()\n"
        "assert shapwise.models.TransformersPipeline.__name__ == 'TransformersPipeline'\n"
        "print(sorted(m for m in ('transformers', 'tokenizers', 'torch') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"
