"""DeepExplainer for TensorFlow/Keras 3 models: exact DeepLIFT rules by graph op, averaged over a background."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise._optional import require
from shapwise._progress import progress
from shapwise.explainers._driver import (
    Driver,
    check_additivity,
    explanations_per_input,
    joined_attribution,
    legacy_values,
)
from shapwise.explainers._tensor_inputs import output_ranks, read_background, read_inputs
from shapwise.explainers.deep.tf_engine import DeepReplay, KerasGraph, compiled
from shapwise.explanation import Explanation
from shapwise.numeric import compute_dtype, to_numpy


class TFDeepExplainer(Driver):
    """DeepSHAP for a Keras model: DeepLIFT multipliers of every (row, background row) pair, averaged.

    The model is traced once into a TensorFlow graph; the graph is replayed with a rule per op (see
    ``tf_rules``), so activations written as functions, custom layers and attention are all covered.
    A float16/bfloat16 (``mixed_float16``) model is explained on its graph lifted to float32.

    Args:
        model: a Keras model with one output tensor, shaped (N,) or (N, outputs), or shap's form
            ``(input tensors, output tensor)`` of a functional Keras model.
        data: background rows; a list of arrays for a model of several inputs.
        batch_size: (row, background row, output) triples per graph replay; bounds memory.
    """

    def __init__(self, model: Any, data: Any, batch_size: int = 4096) -> None:
        require("tensorflow", "tf")
        from shapwise.explainers._keras_tensors import is_tensor_pair, model_from_tensors

        if is_tensor_pair(model):  # shap's form: (input tensors, output tensor)
            model = model_from_tensors(model)
        if isinstance(model, tuple):
            raise TypeError(
                "TF DeepExplainer takes a Keras model; to explain an inner layer build a "
                "keras.Model from that layer's input to the output"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        background, self._multi_input, self.feature_names = read_background(data)
        self.batch_size = int(batch_size)
        model_dtype = KerasGraph.dtype_of(model)
        compute = compute_dtype(model_dtype).name
        self.background = [b.astype(compute) for b in background]
        self.model = model
        self.graph = KerasGraph(model, [b.shape[1:] for b in self.background], compute)
        self.model_dtype = self.graph.model_dtype
        self.replay = DeepReplay(self.graph)
        self.ops_without_rule = sorted(set(self.replay.ops_without_rule))
        self.multi_output = self.graph.multi_output("DeepExplainer")
        self._forward = compiled(lambda *inputs: self.graph.replay(list(inputs)))
        self._multipliers = compiled(self._multipliers_graph)
        background_outputs = self._outputs(self.background)
        expected = background_outputs.mean(axis=0)
        self.expected_value: float | np.ndarray = (
            expected if self.multi_output else float(expected[0])
        )

    # ------------------------------------------------------------------ public API
    def shap_values(
        self,
        X: Any,
        ranked_outputs: int | None = None,
        output_rank_order: str = "max",
        check_additivity: bool = True,
    ) -> Any:
        """DeepSHAP values for the rows of ``X``, in shap 0.51's return conventions.

        Returns:
            one input: (N, *shape, K), K = 1 for a single output; several inputs:
            a list of those. With ``ranked_outputs``, the pair ``(values, ranks)``.
        """
        inputs = self._read_inputs(X)
        outputs = self._outputs(inputs)
        ranks = output_ranks(outputs, ranked_outputs, output_rank_order, self.multi_output)
        values = self._attribute(inputs, ranks)
        if check_additivity:
            self._check_additivity(values, outputs, ranks)
        # As shap 0.51: a trailing output axis even for a rank-1 output, and the ranks whenever
        # ranked_outputs is given.
        ranks_given = ranks if ranked_outputs is not None else None
        return legacy_values(
            values, multi_input=len(values) > 1, drop_output_axis=False, ranks=ranks_given
        )

    def explain(self, X: Any, check_additivity: bool = True) -> Explanation | list[Explanation]:
        """An ``Explanation`` of all outputs (a list of them for a model of several inputs)."""
        inputs = self._read_inputs(X)
        outputs = self._outputs(inputs)
        ranks = output_ranks(outputs, None, "max", self.multi_output)
        values = self._attribute(inputs, ranks)
        if check_additivity:
            self._check_additivity(values, outputs, ranks)
        expected = np.asarray(self.expected_value, dtype=np.float64).reshape(-1)
        return explanations_per_input(
            values,
            inputs,
            base_values=np.broadcast_to(expected, outputs.shape).copy(),
            outputs=outputs,
            native_outputs=self._native_outputs(inputs),
            single_output=not self.multi_output,
            feature_names=self.feature_names,
            model_dtype=self.model_dtype,
            algorithm="deep",
        )

    # ------------------------------------------------------------------ pieces
    def _read_inputs(self, X: Any) -> list[np.ndarray]:
        inputs = read_inputs(X, self.background, self._multi_input, self.feature_names)
        return [x.astype(bg.dtype) for x, bg in zip(inputs, self.background, strict=True)]

    def _outputs(self, inputs: list[np.ndarray]) -> np.ndarray:
        """The model output in the explainer's arithmetic (float32 for half models), (N, O)."""
        chunks = []
        for start in range(0, len(inputs[0]), self.batch_size):
            part = [x[start : start + self.batch_size] for x in inputs]
            chunks.append(np.asarray(self._forward(*part)))
        out = np.concatenate(chunks, axis=0)
        return out.reshape(len(out), -1)

    def _native_outputs(self, inputs: list[np.ndarray]) -> np.ndarray | None:
        if self.model_dtype in ("float32", "float64"):
            return None
        out = self.model(inputs[0] if len(inputs) == 1 else inputs, training=False)
        return to_numpy(out).reshape(len(inputs[0]), -1)

    def _multipliers_graph(
        self, inputs: list[Any], references: list[Any], output_index: Any
    ) -> list[Any]:
        grads, _, _ = self.replay.multipliers(inputs, references, output_index)
        return grads

    def _attribute(self, inputs: list[np.ndarray], ranks: np.ndarray) -> list[np.ndarray]:
        """Mean over background rows of multiplier * (x - x') for each (row, output)."""
        n_rows, n_ranked = ranks.shape
        n_background = len(self.background[0])
        total = n_rows * n_ranked * n_background
        # Triples ordered (row, output, background row): each (row, output) is a contiguous run.
        group = np.repeat(np.arange(n_rows * n_ranked), n_background)
        refs = np.tile(np.arange(n_background), n_rows * n_ranked)
        rows = group // n_ranked
        outputs = ranks.reshape(-1)[group]
        sums = [np.zeros((n_rows * n_ranked, *x.shape[1:]), dtype=np.float64) for x in inputs]
        bar = progress(total, "DeepExplainer")
        for start in range(0, total, self.batch_size):
            part = slice(start, min(start + self.batch_size, total))
            x = [a[rows[part]] for a in inputs]
            ref = [b[refs[part]] for b in self.background]
            grads = self._multipliers(x, ref, outputs[part].astype(np.int32))
            ids = group[part]
            starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
            for acc, grad, xi, ri in zip(sums, grads, x, ref, strict=True):
                contribution = np.asarray(grad) * (xi - ri)
                acc[ids[starts]] += np.add.reduceat(contribution, starts, axis=0)
            bar.update(part.stop - part.start)
        bar.close()
        dtype = self.background[0].dtype
        values = []
        for acc, x in zip(sums, inputs, strict=True):
            mean = (acc / n_background).reshape((n_rows, n_ranked, *x.shape[1:]))
            values.append(np.moveaxis(mean, 1, -1).astype(dtype))
        return values

    def _check_additivity(
        self, values: list[np.ndarray], outputs: np.ndarray, ranks: np.ndarray
    ) -> None:
        expected = np.asarray(self.expected_value, dtype=np.float64).reshape(-1)
        notes = ()
        if self.ops_without_rule:
            ops = ", ".join(self.ops_without_rule)
            notes = (f"ops without an exact rule (gradient used): {ops}",)
        attribution = joined_attribution(
            values, expected[ranks], np.take_along_axis(outputs, ranks, axis=1), notes
        )
        check_additivity(attribution, self.graph.dtype.name, "DeepExplainer")

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        """The Keras model (which pickles) and the background; traced graphs are rebuilt."""
        data = self.background if self._multi_input else self.background[0]
        return {
            "model": self.model,
            "data": data,
            "batch_size": self.batch_size,
            "feature_names": self.feature_names,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["model"], state["data"], state["batch_size"])
        self.feature_names = state["feature_names"]
