"""Run every benchmark in this folder and print one table per area.

Run: python benchmarks/run.py [name ...]   (names: tabular, kernel, partition, deep_torch, gradient_tfdeep, tree,
text)
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._table import print_table

AREAS = ["tabular", "kernel", "partition", "deep_torch", "gradient_tfdeep", "tree", "text"]


def main(names: list[str]) -> int:
    failed = 0
    for name in names or AREAS:
        try:
            module = importlib.import_module(f"benchmarks.bench_{name}")
        except ModuleNotFoundError as error:
            print(f"\n== {name}: not available ({error})")
            continue
        try:
            print_table(module.main(), name)
        except Exception:  # one broken area should not hide the others
            failed += 1
            print(f"\n== {name}: failed")
            traceback.print_exc()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
