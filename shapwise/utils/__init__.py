"""shap's ``shap.utils`` helpers: sampling, clusterings, interaction ranks, ``MaskedModel``,
Hugging Face helpers (``transformers``, loaded without transformers itself)."""

from __future__ import annotations

from shapwise.explanation import OpChain
from shapwise.utils import _exceptions, transformers
from shapwise.utils.clustering import hclust, hclust_ordering, redundancy_distances
from shapwise.utils.general import (
    assert_import,
    convert_name,
    format_value,
    ordinal_str,
    record_import_error,
    safe_isinstance,
    sample,
    shapley_coefficients,
    show_progress,
    suppress_stderr,
)
from shapwise.utils.interactions import approximate_interactions, potential_interactions
from shapwise.utils.masked_model import MaskedModel
from shapwise.utils.trees import (
    delta_minimization_order,
    make_masks,
    partition_tree,
    partition_tree_shuffle,
)

__all__ = [
    "MaskedModel",
    "OpChain",
    "_exceptions",
    "approximate_interactions",
    "assert_import",
    "convert_name",
    "delta_minimization_order",
    "format_value",
    "hclust",
    "hclust_ordering",
    "make_masks",
    "ordinal_str",
    "partition_tree",
    "partition_tree_shuffle",
    "potential_interactions",
    "record_import_error",
    "redundancy_distances",
    "safe_isinstance",
    "sample",
    "shapley_coefficients",
    "show_progress",
    "suppress_stderr",
    "transformers",
]
