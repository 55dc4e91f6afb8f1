"""Texts: a transformers text-classification pipeline explained by shapwise and shap 0.51.

The same tiny BERT pipeline (2 layers, hidden size 32, WordPiece tokenizer trained in memory; see
tests/text/tiny_models.py), the same 20 short reviews, each library's default for a pipeline:
``Explainer(pipeline)`` (a Text masker of the pipeline's tokenizer, Partition explainer, 500
evaluations), one torch thread.

Columns: ``first use`` is the wall time in a fresh process from importing the library to the
explanation of the 20 reviews (the pipeline is built before the clock starts; shap compiles its
numba code then); ``warm`` is the best of 3 later runs in this process; ``forward passes`` counts
calls of the torch model (a forward hook) and ``strings`` the masked strings it read; ``max error``
is the largest |value - Owen value| over all reviews, tokens and both labels, against brute-force
Owen values over each library's own token hierarchy (a float32 model: about 1e-7 is rounding).
Run: python benchmarks/bench_text.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._table import print_table
from tests.text.tiny_models import REVIEWS, bert_pipeline, wordpiece_tokenizer

ROOT = Path(__file__).resolve().parents[1]

LIBRARIES = ("shapwise", "shap")
WARM_RUNS = 3


def _pipeline() -> Any:
    import torch

    torch.set_num_threads(1)
    return bert_pipeline(wordpiece_tokenizer(), top_k=None)


class ForwardCounter:
    """Counts forward passes of a torch module and the rows (strings) they read."""

    def __init__(self, module: Any) -> None:
        self.passes = 0
        self.strings = 0
        module.register_forward_hook(self._count, with_kwargs=True)

    def _count(self, module: Any, args: Any, kwargs: Any, out: Any) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.passes += 1
        self.strings += len(ids)


def _explain(library: str, pipeline: Any) -> Any:
    if library == "shapwise":
        import shapwise

        return shapwise.Explainer(pipeline)(REVIEWS, silent=True)
    import shap

    return shap.Explainer(pipeline)(REVIEWS, silent=True)


def first_use(library: str) -> dict:
    """In this (fresh) process: seconds from importing ``library`` to the explanation."""
    pipeline = _pipeline()
    counter = ForwardCounter(pipeline.model)
    start = time.perf_counter()
    _explain(library, pipeline)
    return {
        "seconds": time.perf_counter() - start,
        "passes": counter.passes,
        "strings": counter.strings,
    }


def _first_use_in_fresh_process(library: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--first-use", library],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _owen_errors(pipeline: Any, explanation: Any) -> float:
    """The largest |value - brute-force Owen value| over reviews, tokens and labels; the game is
    the pipeline's float32 model on each masked string alone (explanation.data are the pieces)."""
    import torch

    from shapwise.maskers.text import TextTokens
    from tests.reference import linkage_to_tree, owen_values

    worst = 0.0
    for i in range(len(REVIEWS)):
        pieces = [str(piece) for piece in explanation[i].data]
        # shap's pieces are the same text; hidden ones are written as shapwise writes them
        # (for WordPiece the model reads the same token ids either way)
        tokens = TextTokens(pieces, "", "[MASK]", False, (1, 1))

        @cache
        def game(coalition: frozenset, tokens: TextTokens = tokens) -> np.ndarray:
            mask = np.array([k in coalition for k in range(len(tokens.tokens))])
            ids = torch.tensor([pipeline.tokenizer(tokens.masked_string(mask))["input_ids"]])
            with torch.no_grad():
                logits = pipeline.model(input_ids=ids).logits[0].to(torch.float64)
            return torch.softmax(logits, -1).numpy()

        tree = linkage_to_tree(np.asarray(explanation[i].clustering, dtype=np.float64))
        for label in range(2):
            exact = owen_values(lambda s, label=label, game=game: game(s)[label], tree)
            worst = max(worst, float(np.abs(explanation[i].values[:, label] - exact).max()))
    return worst


def main() -> list[dict]:
    pipeline = _pipeline()
    counter = ForwardCounter(pipeline.model)
    rows = []
    for library in LIBRARIES:
        fresh = _first_use_in_fresh_process(library)
        warm = []
        for _ in range(WARM_RUNS):
            counter.passes = counter.strings = 0
            start = time.perf_counter()
            explanation = _explain(library, pipeline)
            warm.append(time.perf_counter() - start)
        rows.append(
            {
                "library": library,
                "texts": len(REVIEWS),
                "first use s": fresh["seconds"],
                "warm s": min(warm),
                "forward passes": counter.passes,
                "strings": counter.strings,
                "max error": _owen_errors(pipeline, explanation),
            }
        )
    ours, theirs = rows
    ours["first use speedup"] = theirs["first use s"] / ours["first use s"]
    ours["warm speedup"] = theirs["warm s"] / ours["warm s"]
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--first-use":
        print(json.dumps(first_use(sys.argv[2])))
    else:
        print_table(main(), "text")
