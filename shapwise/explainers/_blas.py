"""One BLAS thread for the estimators' small fits."""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import cache
from typing import Any


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
