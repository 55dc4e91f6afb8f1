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


def test_spark_is_an_attribute_of_shapwise_without_loading_pyspark():
    """shapwise.spark resolves on first use (a lazy attribute); neither it nor import shapwise
    loads pyspark, which loads when a job is built."""
    script = (
        "import sys\n"
        "import shapwise\n"
        "assert 'pyspark' not in sys.modules and 'shapwise.spark' not in sys.modules\n"
        "explain = shapwise.spark.explain\n"
        "assert explain.__module__ == 'shapwise.spark', explain.__module__\n"
        "assert shapwise.spark is sys.modules['shapwise.spark']\n"
        "assert 'pyspark' not in sys.modules\n"
        "assert 'spark' in shapwise.__all__\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
