"""DeepExplainer for PyTorch: DeepSHAP values that add up exactly, for any composition of torch ops."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np

from shapwise._optional import require
from shapwise._progress import progress
from shapwise.errors import ShapwiseWarning
from shapwise.explainers._driver import (
    Driver,
    check_additivity,
    explanations_per_input,
    joined_attribution,
    legacy_values,
)
from shapwise.explainers._tensor_inputs import output_ranks
from shapwise.explanation import Explanation
from shapwise.numeric import check_finite, compute_dtype, to_numpy

# Why values may not add up at an inner layer when every operation had an exact rule.
_LAYER_HINT = (
    "the layer given as layer= is not on every path from the inputs to the output (e.g. a "
    "residual connection bypasses it); choose a layer that all paths cross"
)


class TorchDeepExplainer(Driver):
    """DeepSHAP (DeepLIFT multipliers averaged over a background) for a ``torch.nn.Module``.

    Args:
        model: the module, or shap's ``(module, layer)`` tuple to explain at an inner layer.
        data: the background: one tensor/array, or a list of them for a multi-input model.
        batch_size: (row, background row) pairs per forward/backward pass; bounds memory.
        layer: a submodule (or its name in ``model.named_modules()``) whose output is attributed
            instead of the inputs; needed when an input holds integers that feed no embedding.
        silent: hide the progress bar of long runs.

    Integer inputs (token ids) that feed an ``nn.Embedding`` are attributed at the embedding output,
    summed over the embedding dimension: one value per token. Models in float16/bfloat16 are
    explained on a float32 copy (the model itself is never changed).
    """

    def __init__(
        self,
        model: Any,
        data: Any,
        batch_size: int = 1024,
        layer: Any = None,
        silent: bool = False,
    ) -> None:
        self._torch = require("torch", "torch")
        from shapwise.explainers.deep.torch_engine import DeepLiftEngine

        if isinstance(model, tuple):
            model, layer = model
        if not isinstance(model, self._torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
        if isinstance(model, self._torch.jit.ScriptModule):
            # Compiled code runs outside Python, so its operations cannot be intercepted.
            raise TypeError(
                "DeepExplainer cannot see the operations inside a TorchScript module; explain "
                "the original nn.Module, or use GradientExplainer / shapwise.Explainer for it"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.batch_size = batch_size
        self.silent = silent
        self.multi_input = isinstance(data, (list, tuple))
        self.model_dtype = self._model_dtype(model)
        self.device = next((p.device for p in model.parameters()), self._torch.device("cpu"))
        compute = compute_dtype(self.model_dtype).name  # float64 stays, all else float32
        if compute != self.model_dtype:
            # Multipliers need float32 arithmetic; the user's model stays as it is.
            self._model = copy.deepcopy(model).float()
            self._compute_dtype = self._torch.float32
        else:
            self._model = model
            self._compute_dtype = getattr(self._torch, compute)
        self.layer = self._resolve_layer(layer)
        self.data = self._as_tensors(data, "data")
        if self.data[0].shape[0] == 0:
            raise ValueError("the background data has no rows; pass at least one background row")
        background_outputs = self._forward(self._model, self.data)
        self.num_outputs = background_outputs.shape[1]
        self.expected_value = to_numpy(background_outputs.mean(0))
        self._engine = DeepLiftEngine(self._model, self.data, self.layer)

    # ----------------------------------------------------------------- setup helpers
    def _model_dtype(self, model: Any) -> str:
        for parameter in model.parameters():
            if parameter.is_floating_point():
                return str(parameter.dtype).replace("torch.", "")
        return "float32"

    def _resolve_layer(self, layer: Any) -> Any:
        if layer is None:
            return None
        if isinstance(layer, str):
            names = dict(self._model.named_modules())
            if layer not in names:
                raise ValueError(
                    f"layer {layer!r} is not a submodule of the model; known names: "
                    f"{[n for n in names if n][:10]}"
                )
            return names[layer]
        if self._model is self.model:
            return layer
        # the float32 copy: the same position in the module tree
        for (_, original), (_, copied) in zip(
            self.model.named_modules(), self._model.named_modules(), strict=False
        ):
            if original is layer:
                return copied
        raise ValueError("layer= must be a submodule of the explained model (or its name)")

    def _as_tensors(self, value: Any, name: str) -> list[Any]:
        torch = self._torch
        if self.multi_input:
            if not isinstance(value, (list, tuple)):
                raise TypeError(
                    f"the model takes {len(self.data)} inputs; pass {name} as a list of them"
                )
            items = list(value)
        else:
            if isinstance(value, (list, tuple)):
                raise TypeError(
                    f"the background was one tensor, so {name} must be one tensor/array, not a list"
                )
            items = [value]
        if name != "data" and len(items) != len(self.data):
            raise ValueError(f"{name} has {len(items)} inputs, the background {len(self.data)}")
        tensors = []
        for position, item in enumerate(items):
            array = to_numpy(item, name=f"{name}[{position}]", allow_integers=True)
            check_finite(array, f"{name}[{position}]")
            if name != "data" and array.shape[1:] != tuple(self.data[position].shape[1:]):
                raise ValueError(
                    f"{name}[{position}] has rows of shape {array.shape[1:]} but the background "
                    f"rows have shape {tuple(self.data[position].shape[1:])}; pass rows shaped "
                    "like the background"
                )
            tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
            if tensor.is_floating_point() or array.dtype.kind == "b":
                tensor = tensor.to(self._compute_dtype)
            tensors.append(tensor)
        rows = {t.shape[0] for t in tensors}
        if len(rows) > 1:
            raise ValueError(f"the inputs of {name} have different numbers of rows: {sorted(rows)}")
        if name != "data" and rows == {0}:
            raise ValueError(f"{name} must hold at least one row to explain; got none")
        return tensors

    def _forward(self, model: Any, inputs: list[Any]) -> Any:
        from shapwise.explainers.deep.torch_engine import frozen

        with frozen(model), self._torch.no_grad():
            output = model(*[x.clone() for x in inputs])  # a model may change its input in place
        if not isinstance(output, self._torch.Tensor):
            raise TypeError(
                f"the model returned {type(output).__name__}; DeepExplainer explains models that "
                "return one tensor (rows, outputs)"
            )
        return output.reshape(output.shape[0], -1).to(self._compute_dtype)

    # ----------------------------------------------------------------- explaining
    def _explain(
        self, X: Any, ranked_outputs: int | None, output_rank_order: str, check_additivity: bool
    ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, list[Any]]:
        torch = self._torch
        inputs = self._as_tensors(X, "X")
        outputs = self._forward(self._model, inputs)
        ranks = output_ranks(to_numpy(outputs), ranked_outputs, output_rank_order, True)
        selection = torch.as_tensor(ranks, device=outputs.device)
        rows = inputs[0].shape[0]
        per_chunk = max(1, self.batch_size // self.data[0].shape[0])
        # equal chunks: one reference pass serves them all, and no small last chunk
        per_chunk = -(-rows // -(-rows // per_chunk)) if rows else per_chunk
        parts: list[list[Any]] = []
        without_rule: set[str] = set()
        inexact: set[str] = set()
        from shapwise.explainers.deep.torch_engine import frozen

        chunks = range(0, rows, per_chunk)
        with frozen(self._model), progress(len(chunks), "DeepExplainer", self.silent) as bar:
            for start in chunks:
                stop = min(rows, start + per_chunk)
                result = self._engine.explain(
                    [x[start:stop] for x in inputs], selection[start:stop]
                )
                parts.append(result.values)
                without_rule |= result.without_rule
                inexact |= result.inexact
                bar.update(1)
        values = [to_numpy(torch.cat(group)) for group in zip(*parts, strict=False)]
        lacking = sorted(without_rule | inexact)
        if lacking:
            warnings.warn(
                f"DeepExplainer has no exact rule for: {', '.join(lacking)}; it used the plain "
                "gradient there, so the values may not add up exactly to the model output",
                ShapwiseWarning,
                stacklevel=3,
            )
        chosen = to_numpy(outputs.gather(1, selection))
        indexes = to_numpy(selection, allow_integers=True)
        if check_additivity:
            self._check_additivity(values, chosen, indexes, lacking)
        return values, indexes, to_numpy(outputs), inputs

    def _check_additivity(
        self, values: list[np.ndarray], chosen: np.ndarray, indexes: np.ndarray, lacking: list[str]
    ) -> None:
        base = np.asarray(self.expected_value)[indexes]
        notes = (f"operations without an exact rule: {', '.join(lacking)}",) if lacking else ()
        check_additivity(
            joined_attribution(values, base, chosen, notes),
            str(self._compute_dtype).replace("torch.", ""),
            "DeepExplainer",
            hint=_LAYER_HINT if self.layer is not None else None,
        )

    def shap_values(
        self,
        X: Any,
        ranked_outputs: int | None = None,
        output_rank_order: str = "max",
        check_additivity: bool = True,
    ) -> Any:
        """DeepSHAP values with shap 0.51's conventions.

        Returns:
            (rows, *input_shape, outputs) for one input, a list of those for several inputs; with
            ``ranked_outputs``, a pair (values, indexes) where indexes (rows, ranked_outputs) names
            the output explained in each position.
        """
        values, indexes, _, _ = self._explain(
            X, ranked_outputs, output_rank_order, check_additivity
        )
        ranks = indexes if ranked_outputs is not None else None
        return legacy_values(
            values, multi_input=self.multi_input, drop_output_axis=False, ranks=ranks
        )

    def explain(self, X: Any, check_additivity: bool = True) -> Explanation | list[Explanation]:
        """An ``Explanation`` of ``X`` for all outputs (a list of them for several inputs)."""
        values, _, outputs, inputs = self._explain(X, None, "max", check_additivity)
        native = None
        if self._model is not self.model:
            native_inputs = [
                x.to(self.model_dtype_torch) if x.is_floating_point() else x for x in inputs
            ]
            native = to_numpy(self._forward_native(native_inputs))
        data = [
            None if self.layer is not None else to_numpy(x, allow_integers=True) for x in inputs
        ]
        explanations = explanations_per_input(
            values,
            data,
            base_values=np.broadcast_to(np.asarray(self.expected_value), outputs.shape).copy(),
            outputs=outputs,
            native_outputs=native,
            single_output=self.num_outputs == 1,
            feature_names=None,
            model_dtype=self.model_dtype,
            algorithm="deep",
        )
        return (
            [explanations]
            if self.multi_input and not isinstance(explanations, list)
            else explanations
        )

    @property
    def model_dtype_torch(self) -> Any:
        return getattr(self._torch, self.model_dtype)

    def _forward_native(self, inputs: list[Any]) -> Any:
        from shapwise.explainers.deep.torch_engine import frozen

        with frozen(self.model), self._torch.no_grad():
            output = self.model(*[x.clone() for x in inputs])
        return output.reshape(output.shape[0], -1)

    # ----------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        """Everything but the torch module object (re-imported on unpickling)."""
        state = self.__dict__.copy()
        del state["_torch"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._torch = require("torch", "torch")
