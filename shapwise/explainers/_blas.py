"""One BLAS thread for the estimators' small fits, and the threads that run fits of several
rows at once."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# The most coalitions (masks, values and fits' inputs) that rows fitted at once may hold.
FIT_COALITIONS = 2**20


def one_thread() -> AbstractContextManager[Any]:
    """A context in which BLAS runs on one thread. The fits factorise matrices of a few
    hundred rows, where threads fighting over them on a busy 2-core machine made them 1.5-10x
    slower."""
    return _controller().limit(limits=1)


@cache
def _controller() -> Any:
    """The BLAS thread pools, found once: entering a found controller's limit costs
    microseconds, against milliseconds for a fresh ``threadpool_limits`` (which reads the
    process's loaded libraries each time)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def fit_threads(n_rows: int, coalitions_per_row: int) -> int:
    """Threads for fitting ``n_rows`` rows of ``coalitions_per_row`` coalitions each: one per
    core this process may run on, at most one per row, and no more than FIT_COALITIONS
    coalitions held by the rows fitted at once."""
    held = max(1, FIT_COALITIONS // max(coalitions_per_row, 1))
    return max(1, min(usable_cores(), n_rows, held))


@cache
def usable_cores() -> int:
    """The cores this process may run on: those it is pinned to, fewer where a cgroup's CPU
    quota (``cpu.max``, as containers set it) allows less."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        allowed = quota_cores(Path("/sys/fs/cgroup/cpu.max").read_text())
    except OSError:  # no cgroup v2 here
        allowed = None
    return cores if allowed is None else min(cores, allowed)


def quota_cores(cpu_max: str) -> int | None:
    """The cores a cgroup v2 ``cpu.max`` ("quota period", or "max period") allows, rounded
    up; None where it sets no quota or cannot be read."""
    try:
        quota, period = cpu_max.split()[:2]
        return None if quota == "max" else max(1, -(-int(quota) // int(period)))
    except ValueError:
        return None


def in_threads(
    function: Callable[[Item], Result], items: Sequence[Item], threads: int
) -> list[Result]:
    """``[function(item) for item in items]`` on up to ``threads`` threads, with one BLAS
    thread (the fits' matrices are small); the results in order, an error raised in one is
    raised here."""
    with one_thread():
        if threads <= 1 or len(items) <= 1:
            return [function(item) for item in items]

        def on_one_blas_thread(item: Item) -> Result:
            with one_thread():  # where BLAS's thread count is per thread (OpenMP builds)
                return function(item)

        with ThreadPoolExecutor(min(threads, len(items))) as pool:
            return list(pool.map(on_one_blas_thread, items))
