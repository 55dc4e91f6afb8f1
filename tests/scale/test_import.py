"""Importing shapwise, and its scale-out modules, loads no engine."""

from __future__ import annotations

import subprocess
import sys

ENGINES = ("dask", "distributed", "pyspark", "ray")


def test_import_shapwise_loads_neither_dask_nor_spark():
    script = (
        "import sys\n"
        "import shapwise, shapwise.scale, shapwise.spark, shapwise._dask\n"
        f"loaded = sorted(m for m in {ENGINES!r} if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
