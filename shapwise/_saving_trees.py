"""Saving a TreeExplainer: its parsed trees, background and options as arrays and JSON, and the
model in its library's own format (see ``_saving_models``).

The loaded explainer explains from the saved node table, so its values are those of the saved
explainer bit for bit; the model read back is checked against that table on rows around its
thresholds, as at construction. A file saved without its model (``model_saver=False``) loads
with the node table standing in for the model.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from shapwise._saving import decode_state, encode_state
from shapwise._saving_models import SavingError, load_model, save_model

_PREFIX = "explainer/"


def save_tree(explainer: Any, archive: zipfile.ZipFile, model_saver: Any) -> dict[str, Any]:
    """The header entries of a TreeExplainer; its arrays and model written to ``archive``."""
    from shapwise.explainers.tree._table import TreeEnsemble

    options = {name: value for name, value in vars(explainer).items() if name != "model"}
    entry = encode_state(options, "the TreeExplainer", archive, _PREFIX)
    model = explainer.model
    if isinstance(model, TreeEnsemble):
        stored = {"how": "ensemble"}
    else:
        stored = save_model(model, model_saver, archive, None)
    return {**entry, "model": stored}


def load_tree(
    header: dict[str, Any],
    archive: zipfile.ZipFile,
    model_loader: Callable[[Any], Any] | None,
    allow_pickle: bool,
    in_file: Any,
) -> Any:
    """The TreeExplainer :func:`save_tree` stored."""
    from shapwise.explainers.tree import parse
    from shapwise.explainers.tree._table import TreeEnsemble
    from shapwise.explainers.tree.explainer import TreeExplainer

    options = decode_state(header, archive, _PREFIX)
    ensemble = options["ensemble"]
    if not isinstance(ensemble, TreeEnsemble):
        raise SavingError("this file's TreeExplainer holds no node table")
    _check_node_table(ensemble)
    stored = header["model"]
    if model_loader is None and stored["how"] in ("ensemble", "none"):
        model = ensemble
    else:
        model = load_model(stored, archive, model_loader, allow_pickle, in_file)
    explainer = object.__new__(TreeExplainer)
    explainer.__dict__.update(options)
    explainer.model = model
    if not isinstance(model, TreeEnsemble):
        explainer._check_model(parse.model_margin)
    return explainer


def _check_node_table(ensemble: Any) -> None:
    """Refuse a node table whose walks could leave its arrays or never end (a damaged or
    tampered file): every array of the right length, children and features in range, and each
    tree a tree (every node reached once from its root)."""
    from shapwise.explainers.tree._table import CATEGORY_RULES

    def fail(what: str) -> NoReturn:
        raise SavingError(f"this file's tree table is damaged: {what}")

    per_node = ("left", "right", "feature", "threshold", "decision", "missing", "default_left")
    per_node += ("category_start", "category_stop", "cover")
    arrays = {name: np.asarray(getattr(ensemble, name)) for name in per_node}
    value = np.asarray(ensemble.value)
    n_nodes = len(arrays["left"])
    if any(a.ndim != 1 or len(a) != n_nodes for a in arrays.values()):
        fail("its arrays have different lengths")
    if value.ndim != 2 or len(value) != n_nodes or value.shape[1] < 1:
        fail("its leaf values are not one row per node")
    n_outputs, n_features = value.shape[1], int(ensemble.n_features)
    starts, outputs = np.asarray(ensemble.tree_start), np.asarray(ensemble.tree_output)
    if (
        starts.ndim != 1
        or len(starts) < 1
        or starts[0] != 0
        or starts[-1] != n_nodes
        or np.any(np.diff(starts) <= 0)
    ):
        fail("its trees do not cover its nodes")
    if len(outputs) != len(starts) - 1 or np.any((outputs < -1) | (outputs >= n_outputs)):
        fail("a tree adds to an output the model does not have")
    if np.asarray(ensemble.base_offset).shape != (n_outputs,):
        fail("its base offset does not match its outputs")
    left, right, feature = arrays["left"], arrays["right"], arrays["feature"]
    internal = left >= 0
    if np.any(internal != (right >= 0)) or np.any(left < -1) or np.any(right < -1):
        fail("a node has one child")
    tree_of = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    children = np.concatenate([left[internal], right[internal]])
    parents = np.concatenate([np.flatnonzero(internal)] * 2)
    if np.any(children >= n_nodes) or np.any(tree_of[children] != tree_of[parents]):
        fail("a child lies outside its tree")
    if np.any((feature[internal] < 0) | (feature[internal] >= n_features)):
        fail("a split reads a feature the model does not have")
    if not (
        np.isin(arrays["decision"], (0, 1, 2)).all() and np.isin(arrays["missing"], (0, 1, 2)).all()
    ):
        fail("a split has an unknown rule")
    words = len(np.asarray(ensemble.category_words))
    start, stop = arrays["category_start"], arrays["category_stop"]
    if np.any((start < 0) | (start > stop) | (stop > words)):
        fail("a categorical split's categories lie outside the table")
    if ensemble.category_rule not in CATEGORY_RULES:
        fail(f"unknown category rule {ensemble.category_rule!r}")
    reached = np.zeros(n_nodes, dtype=np.int64)
    frontier = starts[:-1]
    while len(frontier):
        reached[frontier] += 1
        if np.any(reached[frontier] > 1):
            fail("a node is reached twice")
        inner = frontier[internal[frontier]]
        frontier = np.concatenate([left[inner], right[inner]])
    if not np.all(reached == 1):
        fail("a node is not reached from its tree's root")
