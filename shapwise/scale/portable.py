"""An explainer that travels to workers as bytes and is rebuilt once per thread that uses it."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable
from typing import Any


class PortableExplainer:
    """Wraps an explainer for transport between the user's own processes (Dask, Spark, Ray workers).

    The explainer is pickled once, here, so one that cannot travel fails before any job starts,
    with an error saying so. Each thread that calls :meth:`get` unpickles its own copy once: the
    explainers keep per-call state (batch sizes, call counters), so threads never share one.

    Args:
        explainer: any shapwise explainer.
        dumps: the pickler; ``cloudpickle.dumps`` (the default when installed) also carries models
            defined in ``__main__`` or as lambdas.
    """

    def __init__(self, explainer: Any, dumps: Callable[[Any], bytes] | None = None) -> None:
        dumps = dumps or _default_dumps()
        try:
            self._payload = dumps(explainer)
        except Exception as error:  # pickling raises many types (TypeError, PicklingError, ...)
            raise TypeError(
                f"the {type(explainer).__name__} cannot be pickled to send it to the workers: "
                f"{error}. Build it from objects that pickle (a model defined at module level or "
                "a fitted estimator, not an open file, lock or generator)"
            ) from error
        self.name = type(explainer).__name__
        self._local = threading.local()

    @property
    def size(self) -> int:
        """The pickled explainer's size in bytes (what travels to each worker once)."""
        return len(self._payload)

    def get(self) -> Any:
        """This thread's copy of the explainer (unpickled on first use)."""
        explainer = getattr(self._local, "explainer", None)
        if explainer is None:
            explainer = self._local.explainer = pickle.loads(self._payload)
        return explainer

    def __getstate__(self) -> dict[str, Any]:
        return {"payload": self._payload, "name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._payload = state["payload"]
        self.name = state["name"]
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"PortableExplainer({self.name}, {self.size} bytes)"


def _default_dumps() -> Callable[[Any], bytes]:
    try:
        import cloudpickle
    except ImportError:
        return pickle.dumps
    return cloudpickle.dumps
