"""ONNX tree ensembles (``ai.onnx.ml`` TreeEnsembleRegressor / TreeEnsembleClassifier) into the node table.

Read from an ``onnx.ModelProto`` whose tree ensemble node reads the graph's input (directly or
through a Cast); the margin is the ensemble's scores before ``post_transform``.

- Node modes: BRANCH_LEQ and BRANCH_LT go left on true; BRANCH_GTE and BRANCH_GT are the
  complements of LT and LEQ with the children swapped; BRANCH_EQ and BRANCH_NEQ become two
  splits (x <= t, then x < t), the other branch's subtree copied under both.
- NaN takes the true branch where ``nodes_missing_value_tracks_true`` says so, else the branch
  its comparison gives (false, or true for NEQ).
- A float input is rounded to float32 and compared with float32 thresholds: thresholds are moved
  so float64 inputs branch the same (see ``thresholds_for_float32_inputs``).
- ``aggregate_function`` SUM or AVERAGE; ``base_values`` become the base offset. A binary
  classifier that stores one class's weights has one output, that class's score.
- ONNX keeps no training covers: each leaf counts once and the table says ``has_covers=False``
  (explain such a model with a background).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._table import (
    IDENTITY,
    LEFT_IF_LESS,
    LEFT_IF_LESS_EQUAL,
    LOGISTIC,
    MISSING_NAN,
    SOFTMAX,
    Tree,
    TreeEnsemble,
    assemble,
    thresholds_for_float32_inputs,
)

TREE_OPS = ("TreeEnsembleRegressor", "TreeEnsembleClassifier")
_FLOAT, _DOUBLE = 1, 11  # onnx.TensorProto element types


def _tree_node(model: Any) -> tuple[Any, int]:
    """The graph's tree ensemble node and the element type of the input it reads."""
    graph = model.graph
    inputs = {value.name: value.type.tensor_type.elem_type for value in graph.input}
    trees = [node for node in graph.node if node.op_type in TREE_OPS]
    if len(trees) != 1:
        kinds = sorted({node.op_type for node in graph.node})
        raise TypeError(
            f"the ONNX model has {len(trees)} TreeEnsembleRegressor/TreeEnsembleClassifier nodes "
            f"(its operators: {kinds}); exactly one is supported"
        )
    tree = trees[0]
    source = tree.input[0]
    casts = {node.output[0]: node for node in graph.node if node.op_type == "Cast"}
    while source in casts:  # a Cast before the trees: the input's own type decides the rounding
        source = casts[source].input[0]
    if source not in inputs:
        kinds = sorted({node.op_type for node in graph.node} - set(TREE_OPS))
        raise TypeError(
            f"the ONNX model transforms its input before the trees (operators {kinds}); only "
            "models whose tree ensemble reads the graph input can be explained"
        )
    return tree, inputs[source]


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import helper, numpy_helper

    values: dict[str, Any] = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        if attribute.name.endswith("_as_tensor"):
            values[attribute.name[: -len("_as_tensor")]] = numpy_helper.to_array(value).tolist()
            continue
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [item.decode() for item in value]
        values.setdefault(attribute.name, value)
    return values


def parse_onnx(model: Any) -> TreeEnsemble:
    """The node table of an ONNX model with one tree ensemble node."""
    node, input_type = _tree_node(model)
    attributes = _attributes(node)
    is_classifier = node.op_type == "TreeEnsembleClassifier"
    aggregate = attributes.get("aggregate_function", "SUM")
    if aggregate not in ("SUM", "AVERAGE"):
        raise TypeError(f"ONNX aggregate_function {aggregate!r} is not supported (SUM, AVERAGE)")
    prefix = "class" if is_classifier else "target"
    tree_ids = np.asarray(attributes["nodes_treeids"], dtype=np.int64)
    leaf_outputs = np.asarray(attributes[f"{prefix}_ids"], dtype=np.int64)
    if is_classifier:
        labels = attributes.get("classlabels_int64s") or attributes.get("classlabels_strings")
        n_outputs = len(labels)
        if n_outputs == 2 and set(leaf_outputs.tolist()) <= {0}:
            n_outputs = 1  # binary: the weights are the second class's score
    else:
        n_outputs = int(attributes.get("n_targets", 1))
    base = np.asarray(attributes.get("base_values", [0.0] * n_outputs), dtype=np.float64)
    if base.size == 2 and n_outputs == 1:
        base = base[1:]
    if base.size != n_outputs:
        raise ValueError(f"ONNX base_values has {base.size} values for {n_outputs} outputs")
    leaves: dict[tuple[int, int], np.ndarray] = {}
    for tree, leaf, output, weight in zip(
        attributes[f"{prefix}_treeids"],
        attributes[f"{prefix}_nodeids"],
        leaf_outputs,
        attributes[f"{prefix}_weights"],
        strict=True,
    ):
        value = leaves.setdefault((int(tree), int(leaf)), np.zeros(n_outputs))
        value[int(output)] += float(weight)
    unique_trees = list(dict.fromkeys(tree_ids.tolist()))
    scale = 1.0 / len(unique_trees) if aggregate == "AVERAGE" and unique_trees else 1.0
    rounds_to_float32 = input_type == _FLOAT
    trees = [
        _build_tree(attributes, tree_ids == tree, tree, leaves, n_outputs, scale, rounds_to_float32)
        for tree in unique_trees
    ]
    post = attributes.get("post_transform", "NONE")
    objective = {"LOGISTIC": LOGISTIC, "SOFTMAX": SOFTMAX}.get(post, IDENTITY)
    n_features = 1 + int(max(attributes["nodes_featureids"], default=0))
    input_shape = model.graph.input[0].type.tensor_type.shape.dim
    if len(input_shape) == 2 and input_shape[1].dim_value > 0:
        n_features = max(n_features, int(input_shape[1].dim_value))
    ensemble = assemble(
        trees,
        tree_output=[-1] * len(trees),
        base_offset=base,
        n_features=n_features,
        objective=objective,
        library="onnx",
        model_type=node.op_type,
    )
    ensemble.has_covers = False
    return ensemble


def _build_tree(
    attributes: dict,
    in_tree: np.ndarray,
    tree_id: int,
    leaves: dict[tuple[int, int], np.ndarray],
    n_outputs: int,
    scale: float,
    rounds_to_float32: bool,
) -> Tree:
    """One ONNX tree as table nodes, depth first; EQ/NEQ splits copy a subtree."""
    positions = np.flatnonzero(in_tree)
    index = {int(attributes["nodes_nodeids"][p]): int(p) for p in positions}

    def field(name: str, default: Any = 0) -> list:
        return attributes.get(name, [default] * len(attributes["nodes_nodeids"]))

    modes, features, values = field("nodes_modes"), field("nodes_featureids"), field("nodes_values")
    true_ids, false_ids = field("nodes_truenodeids"), field("nodes_falsenodeids")
    tracks = field("nodes_missing_value_tracks_true")
    children = {true_ids[p] for p in positions if modes[p] != "LEAF"}
    children |= {false_ids[p] for p in positions if modes[p] != "LEAF"}
    roots = [node for node in index if node not in children]
    if len(roots) != 1:
        raise ValueError(f"ONNX tree {tree_id} has {len(roots)} roots")

    rows: list[list] = []  # left, right, feature, threshold, decision, default_left, value

    def add(feature: int, threshold: float, decision: int, default_left: bool) -> int:
        rows.append([-1, -1, feature, threshold, decision, default_left, None])
        return len(rows) - 1

    # (onnx node id or a prepared split, parent position, side)
    stack: list[tuple[Any, int, int]] = [(roots[0], -1, 0)]
    while stack:
        item, parent, side = stack.pop()
        if isinstance(item, tuple):  # the second split of an EQ / NEQ: (x < t, its children)
            _, feature, threshold, left_item, right_item, default_left = item
            position = add(feature, threshold, LEFT_IF_LESS, default_left)
            stack.extend(((right_item, position, 1), (left_item, position, 0)))
        else:
            p = index[int(item)]
            mode = modes[p]
            if mode == "LEAF":
                position = add(-1, 0.0, LEFT_IF_LESS_EQUAL, False)
                value = leaves.get((tree_id, int(item)), np.zeros(n_outputs))
                rows[position][6] = value * scale
            else:
                feature, threshold = int(features[p]), float(values[p])
                true_node, false_node = true_ids[p], false_ids[p]
                nan_true = bool(tracks[p])
                if mode in ("BRANCH_LEQ", "BRANCH_LT"):
                    decision = LEFT_IF_LESS_EQUAL if mode == "BRANCH_LEQ" else LEFT_IF_LESS
                    position = add(feature, threshold, decision, nan_true)
                    stack.extend(((false_node, position, 1), (true_node, position, 0)))
                elif mode in ("BRANCH_GTE", "BRANCH_GT"):
                    decision = LEFT_IF_LESS if mode == "BRANCH_GTE" else LEFT_IF_LESS_EQUAL
                    position = add(feature, threshold, decision, not nan_true)
                    stack.extend(((true_node, position, 1), (false_node, position, 0)))
                elif mode in ("BRANCH_EQ", "BRANCH_NEQ"):
                    equal, unequal = (
                        (true_node, false_node) if mode == "BRANCH_EQ" else (false_node, true_node)
                    )
                    nan_left = nan_true if mode == "BRANCH_EQ" else False
                    # x <= t: then x < t (unequal) or x == t; x > t: unequal
                    position = add(feature, threshold, LEFT_IF_LESS_EQUAL, nan_left)
                    second = ("split", feature, threshold, unequal, equal, False)
                    stack.extend(((unequal, position, 1), (second, position, 0)))
                else:
                    raise TypeError(f"ONNX tree node mode {mode!r} is not supported")
        if parent >= 0:
            rows[parent][side] = position
    n = len(rows)
    left = np.array([r[0] for r in rows], dtype=np.int64)
    right = np.array([r[1] for r in rows], dtype=np.int64)
    threshold = np.array([r[3] for r in rows], dtype=np.float64)
    decision = np.array([r[4] for r in rows], dtype=np.int8)
    if rounds_to_float32:
        internal = left >= 0
        moved, moved_decision = thresholds_for_float32_inputs(
            threshold[internal], decision[internal]
        )
        threshold[internal], decision[internal] = moved, moved_decision
    value = np.zeros((n, n_outputs))
    for position, row in enumerate(rows):
        if row[6] is not None:
            value[position] = row[6]
    return Tree(
        left=left,
        right=right,
        feature=np.array([r[2] for r in rows], dtype=np.int64),
        threshold=threshold,
        decision=decision,
        missing=np.full(n, MISSING_NAN, dtype=np.int8),
        default_left=np.array([r[5] for r in rows], dtype=bool),
        cover=_unit_covers(left, right),
        value=value,
    )


def _unit_covers(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """ONNX stores no training covers: each leaf counts 1 (path-dependent values need real ones)."""
    cover = np.where(left < 0, 1.0, 0.0)
    for node in range(len(left) - 1, -1, -1):  # children come after their parent
        if left[node] >= 0:
            cover[node] = cover[left[node]] + cover[right[node]]
    return cover


def model_margin(model: Any, X: np.ndarray) -> np.ndarray:
    """onnxruntime's scores of the tree ensemble before ``post_transform`` on numeric rows."""
    import onnxruntime
    from onnx import helper

    node, input_type = _tree_node(model)
    attributes = [a for a in node.attribute if a.name != "post_transform"]
    bare = helper.make_node(
        node.op_type, ["X"], list(node.output), domain=node.domain or "ai.onnx.ml"
    )
    bare.attribute.extend(attributes)
    bare.attribute.append(helper.make_attribute("post_transform", "NONE"))
    n_columns = np.asarray(X).shape[1]
    graph_inputs = [helper.make_tensor_value_info("X", input_type, [None, n_columns])]
    outputs = [helper.make_empty_tensor_value_info(name) for name in node.output]
    graph = helper.make_graph([bare], "trees", graph_inputs, outputs)
    standalone = helper.make_model(graph, opset_imports=list(model.opset_import))
    standalone.ir_version = model.ir_version
    session = onnxruntime.InferenceSession(
        standalone.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    dtype = np.float32 if input_type == _FLOAT else np.float64
    results = session.run(None, {"X": np.asarray(X, dtype=dtype)})
    scores = np.asarray(results[-1])  # float32: the check takes its tolerance from it
    ensemble = parse_onnx(model)
    if node.op_type == "TreeEnsembleClassifier" and ensemble.n_outputs == 1:
        return scores[:, 1]
    return scores
