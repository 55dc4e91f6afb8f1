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
from typing import Any

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
