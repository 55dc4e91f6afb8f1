"""The fit threads: how many, and that results come back in order with errors raised."""

from __future__ import annotations

import os
import threading
import time

import pytest

from shapwise.explainers._blas import (
    FIT_COALITIONS,
    fit_threads,
    in_threads,
    quota_cores,
    usable_cores,
)


def test_fit_threads_are_bounded_by_rows_cores_and_coalitions_held() -> None:
    cores = usable_cores()
    pinned = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert 1 <= cores <= pinned
    assert fit_threads(1, 100) == 1
    assert fit_threads(1000, 100) == min(cores, 1000)
    assert fit_threads(1000, FIT_COALITIONS) == 1  # one row's coalitions fill the allowance
    assert fit_threads(1000, 10 * FIT_COALITIONS) == 1  # never fewer than one
    assert fit_threads(1000, FIT_COALITIONS // 2) == min(cores, 2)


def test_in_threads_keeps_the_order_uses_threads_and_raises_errors() -> None:
    names = set()

    def work(a: int) -> int:
        names.add(threading.current_thread().name)
        time.sleep(0.005)  # every task is given out before the first ends
        return 11 * a

    assert in_threads(work, list(range(20)), 4) == [11 * i for i in range(20)]
    assert len(names) > 1  # the work ran on the pool's threads
    assert in_threads(work, [1, 2], 1) == [11, 22]

    def fails(a: int) -> int:
        if a == 3:
            raise ValueError("row 3 failed")
        return a

    with pytest.raises(ValueError, match="row 3 failed"):
        in_threads(fails, list(range(6)), 3)


def test_a_cgroup_quota_is_read_in_whole_cores() -> None:
    assert quota_cores("max 100000\n") is None
    assert quota_cores("150000 100000\n") == 2
    assert quota_cores("50000 100000") == 1
    assert quota_cores("") is None
    assert quota_cores("garbled") is None
