"""The DeepSHAP engine for PyTorch: intercept every torch call, pair the passes, one batched backward.

1. Reference pass: the model runs on the background rows under ``_ReferencePass``, a
   ``TorchFunctionMode`` that records every call in order (op name, tensor shapes, and the tensors
   the op's rule needs).
2. Explained pass: the model runs on the inputs under ``_ExplainedPass``; the k-th call pairs with
   the k-th recorded call (same op and shapes, else ``PathMismatchError``), and each op with a rule
   (``torch_op_table``) returns its exact forward value carrying the rule's multipliers as gradient.
3. One backward per requested output position (a one-hot output vector; the graph is kept between
   them) gives the multipliers; attributions are multipliers * (x - x'), averaged over the background.

The pair batch holds (row, background row) pairs, row-major, so the reference pass of a chunk depends
only on its number of rows and is recorded once per chunk size.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from shapwise._torch_modes import eval_mode
from shapwise.explainers.deep import torch_carriers
from shapwise.explainers.deep.torch_op_table import AFFINE_OPS, FUNCTION_RULES, RULES
from shapwise.explainers.deep.torch_rules import Call, Decompose, Rule

_NO_RECOMPUTATION = (
    "DeepExplainer cannot explain through torch.utils.checkpoint(..., use_reentrant=False) or other "
    "saved-tensor hooks inside the model: they recompute the forward pass during the backward pass, "
    "outside DeepExplainer's rules. Checkpoint with use_reentrant=True, or skip checkpointing while "
    "explaining (it only saves memory in training)"
)

# The engine's own autograd Functions (rule carriers); any other one is a model's custom Function.
_OWN_FUNCTIONS = frozenset(
    value
    for value in vars(torch_carriers).values()
    if isinstance(value, type) and issubclass(value, torch.autograd.Function)
)


class PathMismatchError(RuntimeError):
    """The explained pass ran different operations than the reference pass."""


def op_name(func: Callable[..., Any]) -> str:
    """The name an op is known by in the rules table (property getters by their property)."""
    name = getattr(func, "__name__", None) or str(func)
    if name in ("__get__", "__set__"):
        owner = getattr(func, "__self__", None)
        return getattr(owner, "__name__", name)
    return name


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    else:
        yield value


def _map_tensors(value: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # named tuples (torch.return_types)
        return type(value)(tuple(_map_tensors(v, fn) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_map_tensors(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map_tensors(v, fn) for k, v in value.items()}
    return value


def _shapes(args: Any, kwargs: Any) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(t.shape) for t in _leaves((args, kwargs)) if isinstance(t, torch.Tensor))


@dataclass
class _Record:
    name: str
    shapes: tuple[tuple[int, ...], ...]
    args: Any = None
    kwargs: Any = None
    output: Any = None


@dataclass
class Reference:
    """What the reference pass of one chunk size leaves behind for the explained passes."""

    records: list[_Record] = field(default_factory=list)
    embeddings: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    layer_output: torch.Tensor | None = None


class _ReferencePass(TorchFunctionMode):
    """Runs ops unchanged and records them, with the tensors their rules will need."""

    def __init__(self, reference: Reference, inputs: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.reference = reference
        self.inputs = inputs

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = op_name(func)
        record = _Record(name, _shapes(args, kwargs))
        self.reference.records.append(record)
        rule = RULES.get(name)
        if isinstance(rule, Decompose):
            with contextlib.suppress(NotImplementedError), self:
                return rule.decomposition(*args, **kwargs)
        if rule is not None and rule.records_reference:
            record.args = _map_tensors(args, rule.keep_reference)
            record.kwargs = _map_tensors(kwargs, rule.keep_reference)
        output = func(*args, **kwargs)
        if rule is not None and rule.records_reference:
            record.output = _map_tensors(output, rule.keep_reference)
        index = _integer_input(args[0], self.inputs) if name == "embedding" else None
        if index is not None:
            self.reference.embeddings.append((index, output.detach()))
        return output


class _ExplainedPass(TorchFunctionMode):
    """Pairs each op with its recorded partner and applies the op's rule.

    What the model asks of autograd does not change the function explained, so:
    - ``torch.no_grad()`` (and ``set_grad_enabled(False)``) inside the model is not applied: the ops
      under it keep their rules. Only writes into the model's own buffers and parameters stay
      outside the graph, as the model asked.
    - Inside a custom ``torch.autograd.Function``'s forward (where torch turns gradients off), ops get
      their rules all the same; each result is kept beside the plain value the forward sees. The
      Function's output is replaced by its rule-carrying twin where the Function is registered
      (``FUNCTION_RULES``); elsewhere the Function's own backward is used and it is named.
    """

    def __init__(
        self,
        reference: Reference,
        inputs: Sequence[torch.Tensor],
        model_state: frozenset[int] = frozenset(),
    ) -> None:
        super().__init__()
        self.records = reference.records
        self.inputs = inputs
        self.model_state = model_state  # storage addresses of the model's parameters and buffers
        self.position = 0
        self.without_rule: set[str] = set()
        self.inexact: set[str] = set()
        self.embeddings: list[torch.Tensor] = []
        self.no_grad_asked = False
        # id(plain value seen inside a custom Function's forward) -> (weak ref to it, its carrier)
        self.carriers: dict[int, tuple[weakref.ref, torch.Tensor]] = {}

    def _partner(self, name: str, args: Any, kwargs: Any) -> _Record:
        shapes = _shapes(args, kwargs)
        if self.position >= len(self.records):
            raise PathMismatchError(
                f"the explained pass ran more operations than the reference pass (extra call "
                f"#{self.position}: {name}{list(shapes)}); the model's control flow depends on "
                "its input, which DeepExplainer cannot pair. Explain such models with "
                "shapwise.Explainer (model-agnostic) instead"
            )
        record = self.records[self.position]
        self.position += 1
        if record.name != name or record.shapes != shapes:
            raise PathMismatchError(
                f"call #{self.position - 1} differs between the passes: the reference pass ran "
                f"{record.name}{list(record.shapes)}, the explained pass {name}{list(shapes)}; "
                "the model's control flow depends on its input, which DeepExplainer cannot pair. "
                "Explain such models with shapwise.Explainer (model-agnostic) instead"
            )
        return record

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = op_name(func)
        record = self._partner(name, args, kwargs)
        leaves = [t for t in _leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        if any(self._stands_in(t) is not t for t in leaves):
            args, kwargs = _map_tensors((tuple(args), kwargs), self._stands_in)
        if name == "_set_grad_enabled":
            self.no_grad_asked = not args[0]
            return None if self.no_grad_asked else func(*args, **kwargs)
        if self.no_grad_asked and self._writes_model_state(name, args, kwargs):
            with torch.no_grad():
                return func(*args, **kwargs)
        if _inside_custom_function():
            with torch.enable_grad():
                output = self._explain(name, func, record, args, kwargs)
            return _map_tensors(output, self._plain_twin)
        return self._explain(name, func, record, args, kwargs)

    def resolve_output(self, output: Any) -> Any:
        """The model's output with a registered custom Function's result replaced by its carrier."""
        return _map_tensors(output, self._stands_in)

    def _stands_in(self, tensor: torch.Tensor) -> torch.Tensor:
        """The tensor an op should see in place of ``tensor`` (itself unless a carrier stands in);
        names a custom Function whose own backward will be used."""
        entry = self.carriers.get(id(tensor))
        function = _custom_function(tensor)
        if entry is not None and entry[0]() is tensor and function in (None, *FUNCTION_RULES):
            return entry[1]
        if function is not None:
            self.inexact.add(
                f"{function.__name__} (a custom torch.autograd.Function: its own backward was "
                "used; if its forward is made of torch operations, declare it with "
                "shapwise.explainers.deep.register_function_rule)"
                if function not in FUNCTION_RULES
                else f"{function.__name__} (a registered torch.autograd.Function whose output "
                "was not computed by torch operations DeepExplainer sees; its own backward was used)"
            )
        return tensor

    def _plain_twin(self, carrier: torch.Tensor) -> torch.Tensor:
        """The plain value a custom Function's forward sees; its carrier is kept beside it."""
        if not carrier.requires_grad:
            return carrier
        plain = carrier.detach()
        self.carriers[id(plain)] = (weakref.ref(plain), carrier)
        return plain

    def _writes_model_state(self, name: str, args: Any, kwargs: dict[str, Any]) -> bool:
        target = kwargs.get("out", args[0] if args else None)
        if not isinstance(target, torch.Tensor) or target.requires_grad:
            return False
        in_place = "out" in kwargs or kwargs.get("inplace") is True or name == "__setitem__"
        in_place |= name.endswith("_") and not name.endswith("__") and not name.startswith("_")
        in_place |= name.startswith("__i") and name.endswith("__")
        return in_place and target.untyped_storage().data_ptr() in self.model_state

    def _explain(self, name: str, func: Any, record: _Record, args: Any, kwargs: Any) -> Any:
        rule: Rule | None = RULES.get(name)
        if isinstance(rule, Decompose):
            try:
                with self:
                    return rule.decomposition(*args, **kwargs)
            except NotImplementedError as reason:
                self.inexact.add(f"{name} ({reason})")
        elif rule is not None:
            call = Call(
                name,
                func,
                tuple(args),
                kwargs,
                tuple(record.args) if record.args is not None else tuple(args),
                record.kwargs if record.kwargs is not None else kwargs,
                record.output,
                inexact=self.inexact.add,
            )
            return rule.explain(call)
        output = func(*args, **kwargs)
        if name == "embedding" and _integer_input(args[0], self.inputs) is not None:
            leaf = output.detach().requires_grad_(True)
            self.embeddings.append(leaf)
            return leaf
        if name not in AFFINE_OPS and _carries_gradient(output):
            self.without_rule.add(name)
        return output


def _integer_input(tensor: Any, inputs: Sequence[torch.Tensor]) -> int | None:
    """The position of ``tensor`` among the integer inputs of the model, if it is one."""
    for index, candidate in enumerate(inputs):
        if tensor is candidate and not candidate.is_floating_point():
            return index
    return None


def _inside_custom_function() -> bool:
    # Torch runs a custom Function's forward with both gradient modes off; ``no_grad`` in the
    # model never reaches here (the explained pass does not apply it) and keeps forward-mode AD on.
    return not torch.is_grad_enabled() and not torch._C._is_fwd_grad_enabled()


def _custom_function(tensor: torch.Tensor) -> type | None:
    """The model's custom autograd Function that produced ``tensor``, if one did."""
    if not tensor.requires_grad:
        return None
    function = getattr(tensor.grad_fn, "_forward_cls", None)
    return None if function is None or function in _OWN_FUNCTIONS else function


def _carries_gradient(value: Any) -> bool:
    return any(
        isinstance(t, torch.Tensor) and t.requires_grad and t.is_floating_point()
        for t in _leaves(value)
    )


@contextlib.contextmanager
def frozen(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode and no parameter gradients while explaining; everything restored afterwards."""
    flags = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    try:
        with eval_mode(model):
            for parameter, _ in flags:
                parameter.requires_grad_(False)
            yield
    finally:
        for parameter, requires_grad in flags:
            parameter.requires_grad_(requires_grad)


@contextlib.contextmanager
def _layer_capture(layer: torch.nn.Module | None, sink: Callable[[torch.Tensor], Any]) -> Iterator:
    """A forward hook on ``layer`` for the duration of one pass (removed even on error)."""
    if layer is None:
        yield
        return

    def hook(module: Any, inputs: Any, output: Any) -> Any:
        if not isinstance(output, torch.Tensor) or not output.is_floating_point():
            raise TypeError(
                f"layer={type(module).__name__} returns {type(output).__name__}; DeepExplainer "
                "attributes to a layer whose output is one floating-point tensor"
            )
        with torch._C.DisableTorchFunction():
            return sink(output)

    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@dataclass
class ChunkResult:
    """Attributions of one chunk: one (rows, *shape, outputs) tensor per attribution point."""

    values: list[torch.Tensor]
    without_rule: set[str]
    inexact: set[str]


class DeepLiftEngine:
    """DeepSHAP values of a frozen model for chunks of rows against a fixed background."""

    def __init__(
        self,
        model: torch.nn.Module,
        background: list[torch.Tensor],
        layer: torch.nn.Module | None = None,
    ) -> None:
        self.model = model
        self.background = background
        self.layer = layer
        self.background_size = background[0].shape[0]
        self._references: dict[int, Reference] = {}

    def _model_state(self) -> frozenset[int]:
        tensors = [*self.model.parameters(), *self.model.buffers()]
        return frozenset(t.untyped_storage().data_ptr() for t in tensors)

    def _tile_rows(self, rows: list[torch.Tensor]) -> list[torch.Tensor]:
        return [x.repeat_interleave(self.background_size, dim=0) for x in rows]

    def _tile_background(self, count: int) -> list[torch.Tensor]:
        return [b.repeat(count, *([1] * (b.dim() - 1))) for b in self.background]

    def _reference(self, count: int) -> Reference:
        if count not in self._references:
            reference = Reference()
            inputs = self._tile_background(count)

            def keep(output: torch.Tensor) -> torch.Tensor:
                reference.layer_output = output.detach().clone()
                return output

            with _layer_capture(self.layer, keep), _ReferencePass(reference, inputs):
                self.model(*inputs)
            if len(self._references) >= 2:  # a run needs two sizes: full chunks and the last
                self._references.clear()
            self._references[count] = reference
        return self._references[count]

    def explain(self, rows: list[torch.Tensor], selection: torch.Tensor) -> ChunkResult:
        """Attributions of ``rows`` for the output columns ``selection`` (rows, K)."""
        count = rows[0].shape[0]
        reference = self._reference(count)
        references = self._tile_background(count)
        inputs = []
        for x in self._tile_rows(rows):
            needs_gradient = self.layer is None and x.is_floating_point()
            inputs.append(x.detach().clone().requires_grad_(True) if needs_gradient else x)
        layer_leaf: list[torch.Tensor] = []

        def replace(output: torch.Tensor) -> torch.Tensor:
            layer_leaf.append(output.detach().requires_grad_(True))
            return layer_leaf[0]

        with torch.enable_grad():
            # Not the leaves themselves: a model may change its input in place (x.mul_(0.5)),
            # which autograd allows on a copy and records exactly.
            fed = [x.clone() if x.requires_grad else x for x in inputs]
        mode = _ExplainedPass(reference, fed, self._model_state())
        with torch.enable_grad(), _layer_capture(self.layer, replace):
            with mode, torch.autograd.graph.disable_saved_tensors_hooks(_NO_RECOMPUTATION):
                output = self.model(*fed)
            output = mode.resolve_output(output)
            if mode.position != len(reference.records):
                raise PathMismatchError(
                    f"the explained pass ran {mode.position} operations, the reference pass "
                    f"{len(reference.records)}; the model's control flow depends on its input, "
                    "which DeepExplainer cannot pair"
                )
            points = self._attribution_points(inputs, references, reference, mode, layer_leaf)
            output = output.reshape(output.shape[0], -1)
            pairs = selection.repeat_interleave(self.background_size, dim=0)  # (P, K)
            one_hot = torch.zeros(
                selection.shape[1], *output.shape, dtype=output.dtype, device=output.device
            )
            one_hot.scatter_(2, pairs.T.unsqueeze(-1), 1.0)
            leaves = [leaf for leaf, _, _ in points]
            grads = self._multipliers(output, leaves, one_hot)
        values: dict[int, torch.Tensor] = {}
        for (leaf, ref, index), grad in zip(points, grads, strict=False):
            if grad is None:
                grad = torch.zeros(
                    (one_hot.shape[0], *leaf.shape), dtype=leaf.dtype, device=leaf.device
                )
            contribution = grad * (leaf.detach() - ref)
            if self.layer is None and not inputs[index].is_floating_point():
                contribution = contribution.sum(-1)  # an embedding vector -> its token
            per_row = contribution.reshape(
                contribution.shape[0], count, self.background_size, *contribution.shape[2:]
            ).mean(2)
            values[index] = values[index] + per_row if index in values else per_row
        ordered = [values[index].movedim(0, -1) for index in sorted(values)]
        return ChunkResult(ordered, mode.without_rule, mode.inexact)

    @staticmethod
    def _multipliers(
        output: torch.Tensor, leaves: list[torch.Tensor], one_hot: torch.Tensor
    ) -> list[torch.Tensor | None]:
        """(K, *leaf.shape) multipliers per leaf: one backward per output position, graph kept.

        Separate backward passes beat one ``is_grads_batched`` pass here: each pass touches
        K times less memory and no op runs under vmap.
        """
        if not output.requires_grad:
            return [None] * len(leaves)
        passes = []
        for k in range(one_hot.shape[0]):
            # A scalar objective, not grad_outputs: torch imports sympy on the first backward
            # given grad_outputs, seconds that every new process would pay.
            objective = (output * one_hot[k]).sum()
            passes.append(
                torch.autograd.grad(
                    objective, leaves, retain_graph=k + 1 < one_hot.shape[0], allow_unused=True
                )
            )
        return [
            None if passes[0][i] is None else torch.stack([p[i] for p in passes])
            for i in range(len(leaves))
        ]

    def _attribution_points(
        self,
        inputs: list[torch.Tensor],
        references: list[torch.Tensor],
        reference: Reference,
        mode: _ExplainedPass,
        layer_leaf: list[torch.Tensor],
    ) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
        """(leaf, its reference value, index of the input it stands for) per attributed tensor."""
        if self.layer is not None:
            if not layer_leaf:
                raise ValueError("the layer given as layer= did not run during the forward pass")
            return [(layer_leaf[0], reference.layer_output, 0)]
        points = [(x, references[i], i) for i, x in enumerate(inputs) if x.is_floating_point()]
        for leaf, (index, ref) in zip(mode.embeddings, reference.embeddings, strict=False):
            points.append((leaf, ref, index))
        fed = {index for _, _, index in points}
        for index, x in enumerate(inputs):
            if index not in fed:
                raise TypeError(
                    f"input {index} holds integers ({x.dtype}) and feeds no embedding directly, "
                    "so it cannot be attributed; pass layer=<module or its name> to explain at an "
                    "inner floating-point layer instead"
                )
        return points
