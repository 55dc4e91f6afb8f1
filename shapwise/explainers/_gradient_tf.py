"""Keras side of the Gradient explainer: batched outputs and gradients of a traced Keras graph.

The model is traced once (``deep.tf_engine.KerasGraph``) and replayed inside our own tf.function, so
a ``mixed_float16`` model is differentiated in float32 arithmetic. For an inner layer, the model is
split at that layer's input into an upstream and a downstream Keras model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise._optional import require
from shapwise.explainers.deep.tf_engine import KerasGraph, compiled
from shapwise.numeric import compute_dtype, to_numpy


def _split_at(model: Any, layer: Any) -> tuple[Any, Any]:
    """(upstream, downstream): model inputs -> layer input, layer input -> model output."""
    keras = require("keras", "tf")
    if isinstance(layer, str):
        layer = model.get_layer(layer)
    if not any(layer is candidate for candidate in model.layers):
        raise ValueError("layer must be one of the model's layers (a keras Layer or its name)")
    try:
        upstream = keras.Model(model.inputs, layer.input)
        downstream = keras.Model(layer.input, model.output)
    except Exception as error:
        raise ValueError(
            f"could not split the model at layer '{layer.name}': {error}. Explaining an inner layer "
            "needs a functional model in which everything after the layer depends only on its input"
        ) from error
    return upstream, downstream


class KerasGradientModel:
    """A Keras model seen through numpy: float32 outputs and batched gradients of chosen outputs."""

    def __init__(self, model: Any, layer: Any, background: list[np.ndarray]) -> None:
        require("tensorflow", "tf")
        self.native_model = model
        self.layer_name = layer if layer is None or isinstance(layer, str) else layer.name
        self.model_dtype = KerasGraph.dtype_of(model)
        self.compute_dtype = compute_dtype(self.model_dtype).name
        self.n_inputs = len(background)
        shapes = [b.shape[1:] for b in background]
        self._input_shapes = shapes
        self.graph = KerasGraph(model, shapes, self.compute_dtype)
        self.upstream = None
        target = self.graph
        if layer is not None:
            upstream, downstream = _split_at(model, layer)
            self.upstream = KerasGraph(
                upstream, shapes, self.compute_dtype, allow_several_outputs=True
            )
            layer_shapes = [tuple(t.shape[1:]) for t in self.upstream.outputs_list()]
            target = KerasGraph(downstream, layer_shapes, self.compute_dtype)
        self.multi_output = self.graph.multi_output("GradientExplainer")
        self._forward = compiled(lambda *xs: self.graph.replay(list(xs)))
        self._target = target
        self._gradients = compiled(self._gradients_graph)
        if self.upstream is not None:
            self._layer_values = compiled(lambda *xs: self.upstream.replay_all(list(xs)))

    def _cast(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(a, dtype=self.compute_dtype) for a in arrays]

    def outputs(self, inputs: list[np.ndarray]) -> np.ndarray:
        out = np.asarray(self._forward(*self._cast(inputs)))
        return out.reshape(len(out), -1)

    def native_outputs(self, inputs: list[np.ndarray]) -> np.ndarray | None:
        if self.model_dtype in ("float32", "float64"):
            return None
        out = self.native_model(inputs[0] if len(inputs) == 1 else inputs, training=False)
        return to_numpy(out).reshape(len(inputs[0]), -1)

    def attributed_values(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if self.upstream is None:
            return inputs
        return [np.asarray(v) for v in self._layer_values(*self._cast(inputs))]

    def _gradients_graph(self, attributed: list[Any], output_index: Any) -> list[Any]:
        tf = require("tensorflow", "tf")
        with tf.GradientTape() as tape:
            tape.watch(attributed)
            output = self._target.replay(attributed)
            flat = tf.reshape(output, (tf.shape(output)[0], -1))
            selected = tf.reduce_sum(tf.gather(flat, output_index, axis=1, batch_dims=1))
        grads = tape.gradient(selected, attributed)
        return [
            tf.zeros_like(x) if g is None else g for g, x in zip(grads, attributed, strict=True)
        ]

    def gradients(
        self, inputs: list[np.ndarray], attributed: list[np.ndarray], output_index: np.ndarray
    ) -> list[np.ndarray]:
        n_points, n_outputs = output_index.shape
        # Output-major copies: copy k of every point is differentiated for output k.
        repeated = [np.concatenate([a] * n_outputs, axis=0) for a in self._cast(attributed)]
        index = output_index.T.reshape(-1).astype(np.int32)
        grads = self._gradients(repeated, index)
        result = []
        for grad in grads:
            grad = np.asarray(grad).reshape((n_outputs, n_points, *tuple(grad.shape[1:])))
            result.append(np.moveaxis(grad, 0, -1))
        return result

    def __getstate__(self) -> dict[str, Any]:
        """The Keras model (which pickles), the layer's name and the input shapes; the traced
        graphs and compiled functions are rebuilt on unpickling."""
        return {
            "model": self.native_model,
            "layer": self.layer_name,
            "shapes": [tuple(shape) for shape in self._input_shapes],
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        empty = [np.zeros((0, *shape), np.float32) for shape in state["shapes"]]
        self.__init__(state["model"], state["layer"], empty)
