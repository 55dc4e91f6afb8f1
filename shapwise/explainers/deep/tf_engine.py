"""A Keras model as one TensorFlow graph that shapwise replays op by op.

``KerasGraph`` traces the model (``training=False``) into a concrete function and replays its ops in
topological order inside our own ``tf.function``: literally (to get float32 outputs of a
reduced-precision model, whose float16/bfloat16 ops are lifted to float32), or with DeepLIFT rules
(``DeepReplay``). A DeepReplay runs the graph twice: once on the reference rows, recording every
tensor, and once on the explained rows under a gradient tape, where each op with a rule in
``tf_rules.RULES`` gets a surrogate gradient built from both passes' values. Pairing between the two
passes is by graph node, so it is exact by construction.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from shapwise._optional import require
from shapwise.errors import ShapwiseWarning
from shapwise.explainers.deep import tf_rules

CONTROL_FLOW = {
    "While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase",
    "PartitionedCall", "StatefulPartitionedCall", "Switch", "Merge", "Enter", "Exit",
}  # fmt: skip
_HALF_TYPES = ("float16", "bfloat16")


def _tf() -> Any:
    return require("tensorflow", "tf")


class KerasGraph:
    """The traced graph of a Keras model (or of any callable on tensors) and a literal replay.

    Args:
        model: a Keras model taking one tensor, or a list of tensors when ``len(input_shapes) > 1``.
        input_shapes: the shape of one row of each input.
        compute_dtype: 'float32' or 'float64'; float16/bfloat16 ops of the graph run in float32.
        allow_several_outputs: keep every output tensor (``replay_all``) instead of refusing a model
            that returns more than one.
    """

    def __init__(
        self,
        model: Any,
        input_shapes: list[tuple[int, ...]],
        compute_dtype: str,
        allow_several_outputs: bool = False,
    ) -> None:
        tf = _tf()
        self.model_dtype = self.dtype_of(model)
        self.dtype = tf.as_dtype(compute_dtype)
        self.n_inputs = len(input_shapes)
        specs = [tf.TensorSpec((None, *shape), self.dtype) for shape in input_shapes]

        def call(*inputs: Any) -> Any:
            return model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)

        function = tf.function(call).get_concrete_function(*specs)
        outputs = tf.nest.flatten(function.structured_outputs)
        if len(outputs) != 1 and not allow_several_outputs:
            raise ValueError(
                f"the model returns {len(outputs)} tensors; explain a model with a single output "
                "(build a keras.Model on the output you want)"
            )
        graph = function.graph
        self.inputs = list(graph.inputs[: self.n_inputs])
        self._outputs = outputs
        self.output = outputs[0]
        self.captures = {
            inner.ref(): outer
            for inner, outer in zip(graph.internal_captures, function.captured_inputs, strict=True)
        }
        self.ops = self._needed_ops(graph, outputs)
        self._function = function  # keeps the graph (and captured handles) alive
        for op in self.ops:
            if op.type in CONTROL_FLOW:
                raise NotImplementedError(
                    f"the model's graph holds the control-flow op {op.type} ('{op.name}'); "
                    "shapwise replays straight-line graphs only - explain a model without "
                    "data-dependent loops or branches (or use shapwise.GradientExplainer)"
                )

    @staticmethod
    def dtype_of(model: Any) -> str:
        """The dtype a Keras model computes in ('float16' under mixed_float16)."""
        policy = getattr(model, "dtype_policy", None)
        name = getattr(policy, "compute_dtype", None) or getattr(model, "compute_dtype", None)
        return str(name or "float32")

    def multi_output(self, explainer: str) -> bool:
        """Whether the output is (N, outputs) rather than (N,): shap's count of outputs for Keras.

        ``explainer`` names the caller in the error for an output of any other rank.
        """
        rank = self.output.shape.rank
        if rank not in (1, 2):
            raise ValueError(
                f"the model output has rank {rank}; {explainer} explains outputs shaped (N,) or "
                "(N, outputs) - flatten or select outputs in the model"
            )
        return rank == 2

    @staticmethod
    def _needed_ops(graph: Any, outputs: list[Any]) -> list[Any]:
        """Ops the outputs depend on (through data edges), in the graph's topological order."""
        needed: set[str] = set()
        stack = [t.op for t in outputs]
        while stack:
            op = stack.pop()
            if op.name in needed:
                continue
            needed.add(op.name)
            stack.extend(t.op for t in op.inputs)
        return [op for op in graph.get_operations() if op.name in needed and op.outputs]

    # ---------------------------------------------------------------- one op
    def run_op(self, op: Any, inputs: list[Any]) -> list[Any]:
        """Create ``op`` again in the current (tf.function) graph on ``inputs``, float32-lifted."""
        tf = _tf()
        from tensorflow.python.eager import execute
        from tensorflow.python.framework import tensor_util

        if op.type == "Const":
            value = tensor_util.MakeNdarray(op.get_attr("value"))
            if op.outputs[0].dtype.name in _HALF_TYPES:
                value = value.astype(self.dtype.as_numpy_dtype)
            return [tf.constant(value)]
        if op.type in ("StopGradient", "PreventGradient"):
            # A stop in the model (e.g. the mean inside variance) still carries a delta.
            return [tf.identity(inputs[0])]
        attrs = {}
        for name, value in op.node_def.attr.items():
            if name.startswith("_"):
                continue
            attrs[name] = self._lift_attr(value)
        dtypes = [self._lift_dtype(t.dtype) for t in op.outputs]
        graph = tf.compat.v1.get_default_graph()
        new = graph._create_op_internal(op.type, list(inputs), dtypes, attrs=attrs)
        if execute.must_record_gradient():
            flat: list[Any] = []
            for name in attrs:
                flat += [name, new.get_attr(name)]
            execute.record_gradient(op.type, list(inputs), tuple(flat), new.outputs)
        return list(new.outputs)

    def _lift_dtype(self, dtype: Any) -> Any:
        return self.dtype if dtype.name in _HALF_TYPES else dtype

    def _lift_attr(self, value: Any) -> Any:
        tf = _tf()
        from tensorflow.core.framework import attr_value_pb2

        half = {tf.float16.as_datatype_enum, tf.bfloat16.as_datatype_enum}
        target = self.dtype.as_datatype_enum
        kind = value.WhichOneof("value")
        if kind == "type" and value.type in half:
            return attr_value_pb2.AttrValue(type=target)
        if kind == "list" and any(t in half for t in value.list.type):
            lifted = attr_value_pb2.AttrValue()
            lifted.CopyFrom(value)
            del lifted.list.type[:]
            lifted.list.type.extend(target if t in half else t for t in value.list.type)
            return lifted
        return value

    # ---------------------------------------------------------------- whole graph
    def feeds(self, inputs: list[Any]) -> dict[Any, Any]:
        values = {placeholder.ref(): x for placeholder, x in zip(self.inputs, inputs, strict=True)}
        values.update(self.captures)
        return values

    def outputs_list(self) -> list[Any]:
        """The graph's output tensors (several only with ``allow_several_outputs``)."""
        return list(self._outputs)

    def replay_values(self, inputs: list[Any]) -> dict[Any, Any]:
        """Every tensor's value for ``inputs``, by graph tensor ref (call inside a tf.function)."""
        values = self.feeds(inputs)
        for op in self.ops:
            if op.outputs[0].ref() in values:
                continue
            results = self.run_op(op, [values[t.ref()] for t in op.inputs])
            for tensor, result in zip(op.outputs, results, strict=True):
                values[tensor.ref()] = result
        return values

    def replay_all(self, inputs: list[Any]) -> list[Any]:
        """Every output for ``inputs`` (call inside a tf.function)."""
        values = self.replay_values(inputs)
        return [values[t.ref()] for t in self._outputs]

    def replay(self, inputs: list[Any]) -> Any:
        """The output for ``inputs`` (call inside a tf.function)."""
        return self.replay_all(inputs)[0]


# ==================================================================== DeepLIFT replay
LINEAR, CONSTANT, REGION, RULE, UNKNOWN = "linear", "constant", "region", "rule", "unknown"


class DeepReplay:
    """DeepLIFT multipliers for a traced Keras graph by a two-pass replay.

    Each op is classified once: CONSTANT (no input depends on the explained inputs), LINEAR (the
    tape gradient is already an exact multiplier), REGION (an elementwise op on one source tensor:
    consecutive elementwise ops on the same source are fused, and the rescale rule is applied once
    where the region's value leaves it, e.g. the whole of gelu or silu), RULE (an entry in
    ``tf_rules.RULES``: products, softmax, max, ...), or UNKNOWN (tape gradient, with a warning).
    """

    def __init__(self, graph: KerasGraph) -> None:
        self.graph = graph
        self.epsilon = tf_rules.rescale_epsilon(graph.dtype.name)
        self.kind: dict[str, str] = {}
        self.source: dict[Any, Any] = {}  # tensor ref -> ref of its region's source tensor
        self.nonlinear: dict[Any, bool] = {}  # tensor ref -> a nonlinear op lies on its region path
        self.region_outputs: dict[Any, list[Any]] = {}  # tensor ref -> region ops to recompute it
        self.ops_without_rule: list[str] = []
        self.varying_inputs: dict[str, list[int]] = {}
        self._classify()
        if self.ops_without_rule:
            warnings.warn(
                "no exact DeepLIFT rule for op(s) "
                f"{', '.join(sorted(set(self.ops_without_rule)))}; their ordinary gradient is used, "
                "so the values may not add up exactly to the model output",
                ShapwiseWarning,
                stacklevel=4,
            )

    # ---------------------------------------------------------------- analysis
    def _classify(self) -> None:
        graph = self.graph
        varying: set[Any] = {t.ref() for t in graph.inputs}
        consumers: dict[Any, list[Any]] = {}
        for op in graph.ops:
            for t in op.inputs:
                consumers.setdefault(t.ref(), []).append(op)
        # Tensors of any dtype whose values depend on the inputs' values (shapes do not count).
        dependent: set[Any] = set(varying)
        for op in graph.ops:
            if op.type == "Placeholder":
                continue
            if op.type not in tf_rules.SHAPE_ONLY and any(t.ref() in dependent for t in op.inputs):
                dependent.update(t.ref() for t in op.outputs)
            moving = [
                i for i, t in enumerate(op.inputs) if t.ref() in varying and t.dtype.is_floating
            ]
            floating_out = any(t.dtype.is_floating for t in op.outputs)
            if floating_out and op.type not in tf_rules.SHAPE_ONLY:
                self._name_discrete_dependence(op, dependent)
            if not moving or not floating_out:
                self.kind[op.name] = CONSTANT
                continue
            for t in op.outputs:
                if t.dtype.is_floating:
                    varying.add(t.ref())
            self.varying_inputs[op.name] = moving
            kind = self._kind_of(op, moving)
            self.kind[op.name] = kind
            if kind == UNKNOWN:
                self.ops_without_rule.append(op.type)
            if kind != REGION:
                for t in op.outputs:
                    self.source[t.ref()] = t.ref()
                    self.nonlinear[t.ref()] = False
        # Region outputs: region tensors with a nonlinear path that leave their region.
        members: dict[Any, list[Any]] = {}
        for op in graph.ops:
            if self.kind.get(op.name) == REGION:
                members.setdefault(self.source[op.outputs[0].ref()], []).append(op)
        for op in graph.ops:
            if self.kind.get(op.name) != REGION:
                continue
            for t in op.outputs:
                ref = t.ref()
                if not self.nonlinear.get(ref):
                    continue
                leaves = ref == graph.output.ref() or any(
                    self.kind.get(c.name) != REGION
                    or self.source[c.outputs[0].ref()] != self.source[ref]
                    for c in consumers.get(ref, [])
                )
                if leaves:
                    self.region_outputs[ref] = self._ancestors_in_region(
                        op, self.source[ref], members[self.source[ref]]
                    )

    def _name_discrete_dependence(self, op: Any, dependent: set[Any]) -> None:
        """Name an op fed an integer or boolean tensor computed from the inputs (an argmax, a
        comparison): no rule sees it change between the passes, so its effect is not attributed."""
        discrete = [t for t in op.inputs if t.ref() in dependent and not t.dtype.is_floating]
        if discrete:
            what = "index" if op.type in tf_rules.INDEXING else "integer or boolean input"
            self.ops_without_rule.append(
                f"{op.type} with an {what} computed from the input (e.g. an argmax or a comparison)"
            )

    def _kind_of(self, op: Any, moving: list[int]) -> str:
        if op.type in tf_rules.PASS_THROUGH:
            # Identity-like: each output joins the region of its input.
            for t, source in zip(op.outputs, op.inputs, strict=True):
                self.source[t.ref()] = self.source.get(source.ref(), source.ref())
                self.nonlinear[t.ref()] = self.nonlinear.get(source.ref(), False)
            return REGION
        if op.type in tf_rules.ELEMENTWISE:
            sources = {self.source.get(op.inputs[i].ref(), op.inputs[i].ref()) for i in moving}
            linear = tf_rules.elementwise_is_linear(op.type, moving)
            out = op.outputs[0]
            if len(sources) == 1:
                (source,) = sources
                if _same_static_shape(out, source.deref()):
                    self.source[out.ref()] = source
                    self.nonlinear[out.ref()] = not linear or any(
                        self.nonlinear.get(op.inputs[i].ref(), False) for i in moving
                    )
                    return REGION
            if linear:
                return LINEAR
            if op.type in tf_rules.RULES:
                return RULE
            return UNKNOWN if len(moving) > 1 else RULE
        if op.type in tf_rules.LINEAR:
            both_vary = op.type in tf_rules.LINEAR_IN_FIRST_OPERAND and len(moving) > 1
            return UNKNOWN if both_vary else LINEAR
        if op.type in tf_rules.BILINEAR:
            return RULE if len(moving) > 1 else LINEAR
        if op.type in tf_rules.RULES and tf_rules.rule_applies(op):
            return RULE
        return UNKNOWN

    @staticmethod
    def _ancestors_in_region(op: Any, source: Any, members: list[Any]) -> list[Any]:
        names = {m.name for m in members}
        needed: set[str] = set()
        stack = [op]
        while stack:
            current = stack.pop()
            if current.name in needed or current.name not in names:
                continue
            needed.add(current.name)
            stack.extend(t.op for t in current.inputs if t.ref() != source)
        return [m for m in members if m.name in needed]

    # ---------------------------------------------------------------- the two passes
    def explained_pass(self, inputs: list[Any], reference: dict[Any, Any]) -> Any:
        """The output on ``inputs``; its tape gradient w.r.t. them is the DeepLIFT multiplier."""
        tf = _tf()
        graph = self.graph
        values = graph.feeds(inputs)
        for op in graph.ops:
            if op.outputs[0].ref() in values:
                continue
            args = [values[t.ref()] for t in op.inputs]
            if self.kind.get(op.name) == RULE:
                refs = [reference[t.ref()] for t in op.inputs]
                rule = tf_rules.rule_for(op.type)
                context = tf_rules.RuleContext(
                    graph.run_op, op, self.epsilon, self.varying_inputs[op.name]
                )
                results = rule(context, args, refs)
            else:
                results = graph.run_op(op, args)
            for tensor, result in zip(op.outputs, results, strict=True):
                ref = tensor.ref()
                if ref in self.region_outputs:
                    result = self._rescale_region(tensor, result, values, reference)
                values[ref] = result
        return tf.identity(values[graph.output.ref()])

    def _rescale_region(
        self, tensor: Any, value: Any, values: dict[Any, Any], reference: dict[Any, Any]
    ) -> Any:
        """The rescale rule for a fused elementwise region: y = g(x) with multiplier Δy / Δx."""
        _tf()
        source = self.source[tensor.ref()]
        x = values[source]
        region_ops = self.region_outputs[tensor.ref()]

        def region_function(x0: Any) -> Any:
            local = {source: x0}
            for op in region_ops:
                args = [local.get(t.ref(), values.get(t.ref())) for t in op.inputs]
                for t, r in zip(op.outputs, self.graph.run_op(op, args), strict=True):
                    local[t.ref()] = r
            return local[tensor.ref()]

        return tf_rules.rescale(
            x, reference[source], value, reference[tensor.ref()], region_function, self.epsilon
        )

    def multipliers(
        self, inputs: list[Any], references: list[Any], output_index: Any
    ) -> tuple[list[Any], Any, Any]:
        """Multipliers of output ``output_index[p]`` of row p w.r.t. each input, and both outputs."""
        tf = _tf()
        reference = self.graph.replay_values(references)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            output = self.explained_pass(inputs, reference)
            flat = tf.reshape(output, (tf.shape(output)[0], -1))
            selected = tf.reduce_sum(tf.gather(flat, output_index, axis=1, batch_dims=1))
        grads = tape.gradient(selected, inputs)
        grads = [tf.zeros_like(x) if g is None else g for g, x in zip(grads, inputs, strict=True)]
        return grads, output, reference[self.graph.output.ref()]


def _same_static_shape(a: Any, b: Any) -> bool:
    sa, sb = a.shape, b.shape
    if sa.rank is None or sb.rank is None or sa.rank != sb.rank:
        return False
    return all(x == y for x, y in zip(sa.as_list(), sb.as_list(), strict=True))


def compiled(function: Callable[..., Any]) -> Callable[..., Any]:
    """``tf.function`` that retraces for new batch sizes without warnings."""
    return _tf().function(function, reduce_retracing=True, autograph=False)


__all__ = ["DeepReplay", "KerasGraph", "compiled"]
