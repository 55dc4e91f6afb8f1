"""Expected gradients (integrated gradients averaged over a background) for PyTorch and Keras models.

For a row x, a background row x' drawn at random and a point t ~ U(0, 1) on the straight path
between them, the attribution sample is grad f(x' + t (x - x')) * (x - x'); its mean over draws
converges to values that add up to f(x) - E[f(background)]. Each value comes with a standard error
(``Explanation.error_std``), from the differences of draws in neighbouring slices of the path
(``_standard_errors``): an upper estimate, since the draws are also balanced over the background.
A row's draws (up to ``batch_size`` of them) and all explained outputs go through the model in a
single forward and backward call. Each row draws from its own generator (the seed and a hash of
the row, ``_seeds.py``), so its values do not depend on the other rows explained with it.

The framework parts live in ``_gradient_torch.py`` and ``_gradient_tf.py``; both offer the small
interface of ``_GradientModel`` below, so the sampling and averaging here are written once.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from shapwise.explainers._driver import (
    Driver,
    explanations_per_input,
    joined_attribution,
    legacy_values,
)
from shapwise.explainers._driver import check_additivity as check_additivity_of
from shapwise.explainers._seeds import root_seed, row_generator, row_keys
from shapwise.explainers._tensor_inputs import output_ranks, read_background, read_inputs
from shapwise.explanation import Explanation
from shapwise.models import framework_of
from shapwise.numeric import compute_dtype


class _GradientModel(Protocol):
    """What the sampling loop needs from a framework: outputs and gradients on numpy batches."""

    n_inputs: int
    multi_output: bool
    model_dtype: str

    def outputs(self, inputs: list[np.ndarray]) -> np.ndarray:
        """Model outputs in float32 (or float64) arithmetic, shaped (N, O)."""

    def native_outputs(self, inputs: list[np.ndarray]) -> np.ndarray | None:
        """Outputs in the model's own dtype (as float32 numbers), or None when that is float32."""

    def attributed_values(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The tensors being attributed for these model inputs: the inputs, or an inner layer's."""

    def gradients(
        self, inputs: list[np.ndarray], attributed: list[np.ndarray], output_index: np.ndarray
    ) -> list[np.ndarray]:
        """Gradients of output ``output_index[p, k]`` of point p w.r.t. the attributed tensors.

        ``attributed`` holds the attributed tensors to substitute (for an inner layer) or equals
        ``inputs``. Returns one array per attributed tensor, shaped (P, *shape, K).
        """


class GradientExplainer(Driver):
    """Expected gradients for a PyTorch module or a Keras model.

    Args:
        model: a ``torch.nn.Module`` or a Keras model; or ``(model, layer)`` to attribute to the
            input of an inner layer (a module of the torch model, or a Keras layer or its name);
            or shap's TensorFlow form ``(input tensors, output tensor)`` of a functional Keras
            model (an inner tensor as the input explains the model from there).
        data: the background rows, an array/tensor or a list of them for a model of several inputs.
        batch_size: sample points per model call (the draws of one row); each call holds all
            explained outputs of its points.
        local_smoothing: standard deviation of Gaussian noise added to the explained values (in the
            attributed space) at each draw, as in SmoothGrad; 0 for none.
    """

    def __init__(
        self,
        model: Any,
        data: Any,
        batch_size: int = 50,
        local_smoothing: float = 0.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if local_smoothing < 0:
            raise ValueError(f"local_smoothing must be >= 0, got {local_smoothing}")
        from shapwise.explainers._keras_tensors import is_tensor_pair, model_from_tensors

        if is_tensor_pair(model):  # shap's TensorFlow form: (input tensors, output tensor)
            model = model_from_tensors(model)
        model, layer = model if isinstance(model, tuple) else (model, None)
        framework = framework_of(model)
        if framework is None:
            raise TypeError(
                "GradientExplainer explains torch.nn.Module and Keras models, not "
                f"{type(model).__name__}; pass the model itself, or (model, layer) to explain an "
                "inner layer's input"
            )
        background, self._multi_input, self.feature_names = read_background(data)
        self.batch_size = int(batch_size)
        self.local_smoothing = float(local_smoothing)
        self.model: _GradientModel
        if framework == "torch":
            from shapwise.explainers._gradient_torch import TorchGradientModel

            self.model = TorchGradientModel(model, layer, background)
        else:
            from shapwise.explainers._gradient_tf import KerasGradientModel

            self.model = KerasGradientModel(model, layer, background)
        if len(background) != self.model.n_inputs:
            raise ValueError(
                f"the model takes {self.model.n_inputs} input(s) but data holds {len(background)} "
                "array(s); pass one background array per model input, in order"
            )
        self.background = background
        self.background_attributed = self.model.attributed_values(background)
        self._explains_layer = layer is not None
        background_outputs = self.model.outputs(background)
        expected = background_outputs.mean(axis=0)
        self.expected_value: float | np.ndarray = (
            expected if self.model.multi_output else float(expected[0])
        )

    # ------------------------------------------------------------------ public API
    def shap_values(
        self,
        X: Any,
        nsamples: int = 200,
        ranked_outputs: int | None = None,
        output_rank_order: str = "max",
        rseed: int | None = None,
    ) -> Any:
        """Expected-gradient values for the rows of ``X``, in shap 0.51's return conventions.

        Returns:
            one input: (N, *shape, K), K = 1 for a single-output model (shap's Gradient explainer
            keeps the output axis); several inputs (or a layer with several inputs): a list of
            those. With ``ranked_outputs`` the pair ``(values, ranks)`` where ranks (N, K) says
            which output each slice explains.
        """
        values, ranks, _, _ = self._explain(X, nsamples, ranked_outputs, output_rank_order, rseed)
        return legacy_values(
            values,
            multi_input=len(values) > 1,
            drop_output_axis=False,
            ranks=ranks if ranked_outputs is not None else None,
        )

    def explain(
        self, X: Any, nsamples: int = 200, rseed: int | None = None, check_additivity: bool = True
    ) -> Explanation | list[Explanation]:
        """An ``Explanation`` (a list of them for several inputs) of all outputs of the rows of X.

        Expected gradients add up only as the samples grow: with ``check_additivity`` an error
        beyond the dtype's tolerance is reported as a ShapwiseWarning (with its size), not raised;
        the Explanation's values, base and output values show it too.
        """
        values, _, inputs, errors = self._explain(X, nsamples, None, "max", rseed)
        outputs = self.model.outputs(inputs)
        expected = np.asarray(self.expected_value, dtype=np.float64).reshape(-1)
        base = np.broadcast_to(expected, outputs.shape).copy()
        if check_additivity:
            attribution = joined_attribution(values, base, outputs)
            check_additivity_of(attribution, self.model.model_dtype, "gradient", enforce=False)
        data = self.model.attributed_values(inputs) if self._explains_layer else inputs
        return explanations_per_input(
            values,
            data,
            base_values=base,
            outputs=outputs,
            native_outputs=self.model.native_outputs(inputs),
            single_output=not self.model.multi_output,
            feature_names=self.feature_names,
            model_dtype=self.model.model_dtype,
            algorithm="gradient",
            standard_errors=errors,
        )

    # ------------------------------------------------------------------ the computation
    def _explain(
        self,
        X: Any,
        nsamples: int,
        ranked_outputs: int | None,
        output_rank_order: str,
        rseed: int | None,
    ) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """Values (rows, *shape, K) per attributed tensor, the output ranks, the model inputs,
        and the values' standard errors (float64, NaN from a single draw)."""
        if nsamples < 1:
            raise ValueError(f"nsamples must be a positive integer, got {nsamples}")
        inputs = read_inputs(X, self.background, self._multi_input, self.feature_names)
        ranks = output_ranks(
            self.model.outputs(inputs), ranked_outputs, output_rank_order, self.model.multi_output
        )
        n_rows = len(inputs[0])
        explained = self.model.attributed_values(inputs)
        # each row draws from its own generator (root seed, a hash of the row), and each model
        # call holds the draws of one row: a row's values do not depend on the other rows
        root, keys = root_seed(rseed), row_keys(inputs)
        sums = [np.zeros((*x.shape, ranks.shape[1]), dtype=np.float64) for x in explained]
        # the squared differences of draws in adjacent path slices, for the standard errors
        paired = [np.zeros_like(total) for total in sums]
        for row in range(n_rows):
            rng = row_generator(root, keys[row])
            background_of, t = _stratified_draws(rng, nsamples, len(self.background[0]))
            along = np.argsort(t)  # walked in path order: draws 2m and 2m + 1 are neighbours
            background_of, t = background_of[along], t[along]
            unpaired: list[np.ndarray | None] = [None] * len(sums)
            for start in range(0, nsamples, self.batch_size):
                chunk = slice(start, min(start + self.batch_size, nsamples))
                refs, steps = background_of[chunk], t[chunk]
                rows = np.full(len(refs), row)
                points = [
                    _between(bg[refs], x[rows], steps)
                    for x, bg in zip(inputs, self.background, strict=True)
                ]
                deltas, attributed = [], []
                for x, bg in zip(explained, self.background_attributed, strict=True):
                    end = x[rows]
                    if self.local_smoothing > 0:
                        noise = rng.standard_normal(end.shape).astype(end.dtype)
                        end = end + noise * self.local_smoothing
                    deltas.append(end - bg[refs])
                    attributed.append(_between(bg[refs], end, steps))
                if not self._explains_layer:
                    points = attributed
                grads = self.model.gradients(points, attributed, ranks[rows])
                for i, (grad, delta) in enumerate(zip(grads, deltas, strict=True)):
                    contribution = grad.astype(np.float64) * delta[..., None]
                    sums[i][row] += contribution.sum(axis=0)
                    if unpaired[i] is not None:  # the last draw of the previous call
                        contribution = np.concatenate([unpaired[i], contribution])
                    even = len(contribution) - len(contribution) % 2
                    gaps = contribution[0:even:2] - contribution[1:even:2]
                    paired[i][row] += (gaps**2).sum(axis=0)
                    unpaired[i] = contribution[even:] if even < len(contribution) else None
        dtype = compute_dtype(self.model.model_dtype)
        values = [(total / nsamples).astype(dtype) for total in sums]
        errors = [_standard_errors(gaps, nsamples) for gaps in paired]
        return values, ranks, inputs, errors


def _standard_errors(paired: np.ndarray, nsamples: int) -> np.ndarray:
    """The standard error of the mean of ``nsamples`` draws, one per slice of the path, from
    the sum of squared differences of the draws in slices 2m and 2m + 1 (collapsed strata: a
    pair's squared difference estimates its two draws' variances, plus the square of how their
    slices' means differ, so an upper estimate); NaN from a single draw."""
    n_pairs = nsamples // 2
    if n_pairs == 0:
        return np.full_like(paired, np.nan)
    per_draw = paired / (2 * n_pairs)  # a draw's variance within its slice, on average
    return np.sqrt(per_draw / nsamples)


def _stratified_draws(
    rng: np.random.Generator, nsamples: int, n_background: int
) -> tuple[np.ndarray, np.ndarray]:
    """One row's background rows and path positions, one of each per draw.

    Stratified rather than independent: the row walks through shuffled copies of the whole
    background (every background row used equally often when nsamples is a multiple of its size, so
    a linear model gets its exact values), and the path positions t fall one in each of nsamples
    equal slices of [0, 1).
    """
    copies = -(-nsamples // n_background)
    shuffled = np.argsort(rng.random((copies, n_background)), axis=-1)
    background_of = shuffled.reshape(-1)[:nsamples]
    slices = np.argsort(rng.random(nsamples))
    t = (slices + rng.uniform(size=nsamples)) / nsamples
    return background_of, t.astype(np.float32)


def _between(start: np.ndarray, end: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points start + t (end - start), with one t per row."""
    t = t.reshape((-1,) + (1,) * (start.ndim - 1)).astype(start.dtype)
    return start + t * (end - start)


__all__ = ["GradientExplainer"]
