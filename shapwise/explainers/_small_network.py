"""A one-hidden-layer ReLU network fitted by L-BFGS: the regression surrogates' network stage.

The start and objective are scikit-learn's ``MLPRegressor(hidden_layer_sizes=(H,), alpha=penalty,
solver="lbfgs", max_iter=iterations, random_state=seed)``: the same Glorot-uniform start drawn
from ``RandomState(seed)``, and half the mean squared error plus penalty / 2 times the squared
weights over the sample size. Where a C compiler was present at install, the whole fit is
compiled (``_network.c``: the objective in one pass over the rows, and L-BFGS with a strong Wolfe
line search, L-BFGS-B's settings): scipy's L-BFGS-B costs about as much per step in its wrapper
as the objective itself on a few hundred coalitions. It takes its own path, to fits of the same
quality (tested against scikit-learn's loss, and run to the end against scipy's). Without the
compiled module, scipy's L-BFGS-B runs on a numpy objective, which is scikit-learn's fit step for
step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shapwise.explainers._blas import one_thread

try:  # the compiled fit (_network.c), built at install where a C compiler is present
    from shapwise.explainers import _network
except ImportError:  # pragma: no cover - scipy on the numpy objective below stands in
    _network = None

# Whether the compiled fit is used where it is built (False: scipy on the numpy objective).
COMPILED = True
# scikit-learn's defaults for an L-BFGS fit: its gradient tolerance and most objective calls.
GRADIENT_TOLERANCE = 1e-4
MOST_CALLS = 15_000


def fit_network(
    inputs: np.ndarray,
    targets: np.ndarray,
    hidden: int,
    penalty: float,
    iterations: int,
    seed: int = 0,
) -> Callable[[np.ndarray], np.ndarray]:
    """Fit the network to ``targets`` (K,) at ``inputs`` (K, M); returns predict(X) -> (Q,)."""
    inputs = np.ascontiguousarray(inputs, dtype=np.float64)
    targets = np.ascontiguousarray(targets, dtype=np.float64).reshape(-1)
    n_inputs = inputs.shape[1]
    found = _glorot_start(n_inputs, hidden, seed)
    # the parameters packed as scikit-learn packs them: both weight matrices, then both biases
    sizes = np.cumsum([0, n_inputs * hidden, hidden, hidden, 1])
    if _network is not None and COMPILED:
        _network.fit(
            found,
            inputs,
            targets,
            n_inputs,
            hidden,
            penalty,
            iterations,
            GRADIENT_TOLERANCE,
            MOST_CALLS,
        )
    else:
        found = _scipy_fit(inputs, targets, found, sizes, hidden, penalty, iterations)
    w1, w2, b1, b2 = (part.copy() for part in _unpack(found, sizes, n_inputs, hidden))

    def predict(X: np.ndarray) -> np.ndarray:
        with one_thread():
            return (np.maximum(np.asarray(X, dtype=np.float64) @ w1 + b1, 0.0) @ w2 + b2)[:, 0]

    return predict


def _scipy_fit(
    inputs: np.ndarray,
    targets: np.ndarray,
    start: np.ndarray,
    sizes: np.ndarray,
    hidden: int,
    penalty: float,
    iterations: int,
) -> np.ndarray:
    """scikit-learn's fit step for step: scipy's L-BFGS-B on the objective in numpy, a dozen
    array operations into buffers of its own. Returns the packed parameters."""
    from scipy.optimize import minimize

    targets = targets.reshape(-1, 1)
    n_rows, n_inputs = inputs.shape
    gradient = np.empty(sizes[-1])
    grad_w1 = gradient[sizes[0] : sizes[1]].reshape(n_inputs, hidden)
    grad_w2 = gradient[sizes[1] : sizes[2]].reshape(hidden, 1)
    grad_b1, grad_b2 = gradient[sizes[2] : sizes[3]], gradient[sizes[3] : sizes[4]]
    hidden_out = np.empty((n_rows, hidden))
    weight = penalty / n_rows

    def objective(packed: np.ndarray) -> tuple[float, np.ndarray]:
        w1, w2, b1, b2 = _unpack(packed, sizes, n_inputs, hidden)
        np.matmul(inputs, w1, out=hidden_out)
        np.add(hidden_out, b1, out=hidden_out)
        np.maximum(hidden_out, 0.0, out=hidden_out)
        error = hidden_out @ w2 + b2 - targets  # (K, 1): the output's delta
        squares = float(np.add.reduce(error * error, axis=None)) / n_rows
        loss = 0.5 * squares + 0.5 * weight * (
            float(w1.ravel() @ w1.ravel()) + float(w2.ravel() @ w2.ravel())
        )
        np.matmul(hidden_out.T, error, out=grad_w2)
        np.add(grad_w2, penalty * w2, out=grad_w2)
        np.divide(grad_w2, n_rows, out=grad_w2)
        np.divide(np.add.reduce(error, axis=0), n_rows, out=grad_b2)
        delta = error * w2[:, 0]  # back through the output layer (an outer product)
        np.copyto(delta, 0.0, where=hidden_out == 0)  # the ReLU's derivative
        np.matmul(inputs.T, delta, out=grad_w1)
        np.add(grad_w1, penalty * w1, out=grad_w1)
        np.divide(grad_w1, n_rows, out=grad_w1)
        np.divide(np.add.reduce(delta, axis=0), n_rows, out=grad_b1)
        return loss, gradient.copy()

    with one_thread():
        return minimize(
            objective,
            start,
            method="L-BFGS-B",
            jac=True,
            options={"maxfun": MOST_CALLS, "maxiter": iterations, "gtol": GRADIENT_TOLERANCE},
        ).x


def _glorot_start(n_inputs: int, hidden: int, seed: int) -> np.ndarray:
    """The start scikit-learn draws: per layer, weights then biases, uniform in
    +-sqrt(6 / (fan in + fan out)); packed weights first."""
    state = np.random.RandomState(seed)
    parts = []
    for fan_in, fan_out in ((n_inputs, hidden), (hidden, 1)):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        parts.append(
            (state.uniform(-bound, bound, (fan_in, fan_out)), state.uniform(-bound, bound, fan_out))
        )
    (w1, b1), (w2, b2) = parts
    return np.concatenate([w1.ravel(), w2.ravel(), b1, b2])


def _unpack(
    packed: np.ndarray, sizes: np.ndarray, n_inputs: int, hidden: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        packed[sizes[0] : sizes[1]].reshape(n_inputs, hidden),
        packed[sizes[1] : sizes[2]].reshape(hidden, 1),
        packed[sizes[2] : sizes[3]],
        packed[sizes[3] : sizes[4]],
    )
