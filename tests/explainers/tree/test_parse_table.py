"""The node table's reference walk, its float32 thresholds and the construction check."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise.explainers.tree._table import (
    LEFT_IF_IN_CATEGORIES,
    LEFT_IF_LESS,
    LEFT_IF_LESS_EQUAL,
    MISSING_AS_ZERO,
    MISSING_NAN,
    MISSING_NAN_OR_ZERO,
    Tree,
    assemble,
    category_bitset,
    check_against_model,
    predict_margin,
    thresholds_for_float32_inputs,
)


def _stump(
    decision: int, missing: int, default_left: bool, threshold: float = 0.5, categories=None
):
    """One split on feature 0: left leaf 1.0, right leaf 2.0."""
    return Tree(
        left=np.array([1, -1, -1]),
        right=np.array([2, -1, -1]),
        feature=np.array([0, -1, -1]),
        threshold=np.array([threshold, 0.0, 0.0]),
        decision=np.array([decision, 0, 0]),
        missing=np.array([missing, 0, 0]),
        default_left=np.array([default_left, False, False]),
        cover=np.array([3.0, 1.0, 2.0]),
        value=np.array([[0.0], [1.0], [2.0]]),
        categories=[categories, None, None],
    )


def _walk(tree: Tree, column: list[float]) -> np.ndarray:
    ensemble = assemble([tree], [-1], np.zeros(1), n_features=1)
    return predict_margin(ensemble, np.array(column)[:, None])[:, 0]


def test_numeric_decisions_and_missing_kinds_follow_the_documented_rules():
    column = [0.5, 0.25, 0.75, np.nan, 0.0]
    # x <= 0.5 left (1.0); NaN follows default_left
    assert _walk(_stump(LEFT_IF_LESS_EQUAL, MISSING_NAN, False), column).tolist() == [1, 1, 2, 2, 1]
    assert _walk(_stump(LEFT_IF_LESS, MISSING_NAN, True), column).tolist() == [2, 1, 2, 1, 1]
    # zero is missing too, and goes right by default
    walked = _walk(_stump(LEFT_IF_LESS_EQUAL, MISSING_NAN_OR_ZERO, False), column)
    assert walked.tolist() == [1, 1, 2, 2, 2]
    # NaN read as 0.0 and compared: 0 <= -1 is false, so right, whatever default_left says
    walked = _walk(_stump(LEFT_IF_LESS_EQUAL, MISSING_AS_ZERO, True, threshold=-1.0), column)
    assert walked.tolist() == [2, 2, 2, 2, 2]


def test_categorical_bitset_beyond_one_word():
    categories = np.array([3, 64, 130])
    words = category_bitset(categories)
    assert len(words) == 3 and words[0] == 1 << 3 and words[1] == 1 and words[2] == 1 << 2
    tree = _stump(LEFT_IF_IN_CATEGORIES, MISSING_NAN, True, categories=categories)
    column = [3, 64, 130, 4, 129, 1000, -3, 3.5, np.nan, 1e300]
    assert _walk(tree, column).tolist() == [1, 1, 1, 2, 2, 2, 2, 2, 1, 2]


def test_trees_for_one_output_add_only_there_and_base_offset_is_added():
    def leaf_tree(column: int, value: float) -> Tree:
        leaf = np.zeros((1, 2))
        leaf[0, column] = value
        return Tree(
            left=np.array([-1]), right=np.array([-1]), feature=np.array([-1]),
            threshold=np.zeros(1), decision=np.zeros(1), missing=np.zeros(1),
            default_left=np.zeros(1, bool), cover=np.ones(1), value=leaf,
        )  # fmt: skip

    both = _stump(LEFT_IF_LESS_EQUAL, MISSING_NAN, False)
    both.value = np.array([[0.0, 0.0], [1.0, 10.0], [2.0, 20.0]])
    ensemble = assemble(
        [leaf_tree(0, 0.5), leaf_tree(1, -4.0), both], [0, 1, -1], np.array([100.0, 200.0]), 1
    )
    margin = predict_margin(ensemble, np.array([[0.0], [1.0]]))
    np.testing.assert_array_equal(margin, [[101.5, 206.0], [102.5, 216.0]])
    assert ensemble.tree_start.tolist() == [0, 1, 2, 5]
    assert ensemble.left[2:].tolist() == [3, -1, -1]


@pytest.mark.parametrize("strict", [False, True])
def test_float32_thresholds_branch_as_float32_rounded_inputs(strict):
    rng = np.random.default_rng(0)
    library = np.concatenate(
        [
            rng.normal(size=300).astype(np.float32).astype(np.float64),  # float32 thresholds
            rng.normal(size=300) * 10.0 ** rng.integers(-30, 30, 300),  # float64 thresholds
            [0.0, -0.0, 1.0, -1.0, np.float32(np.finfo(np.float32).tiny), 3.4e38],
        ]
    )
    decision = np.full(len(library), LEFT_IF_LESS if strict else LEFT_IF_LESS_EQUAL, np.int8)
    moved, moved_decision = thresholds_for_float32_inputs(library, decision)
    assert (moved_decision == LEFT_IF_LESS_EQUAL).all()
    # inputs on, between and next to every float32 and float64 neighbour of each threshold
    t32 = library.astype(np.float32)
    around = [
        library,
        np.nextafter(library, np.inf),
        np.nextafter(library, -np.inf),
        np.nextafter(t32, np.float32(np.inf)).astype(np.float64),
        np.nextafter(t32, np.float32(-np.inf)).astype(np.float64),
    ]
    for x in around + [(a + b) / 2 for a in around for b in around]:
        for x_near in (x, np.nextafter(x, np.inf), np.nextafter(x, -np.inf)):
            rounded = x_near.astype(np.float32).astype(np.float64)
            truth = rounded < library if strict else rounded <= library
            np.testing.assert_array_equal(x_near <= moved, truth)


def test_check_against_model_names_library_and_model_type():
    ensemble = assemble([_stump(LEFT_IF_LESS_EQUAL, MISSING_NAN, False)], [-1], np.zeros(1), 1)
    ensemble.library, ensemble.model_type = "lightgbm", "LGBMRegressor"
    X = np.array([[0.0], [1.0], [np.nan]])
    check_against_model(ensemble, X, np.array([1.0, 2.0, 2.0]))
    with pytest.raises(ValueError, match="lightgbm LGBMRegressor.*row 2"):
        check_against_model(ensemble, X, np.array([1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="1 outputs but the model gave 2"):
        check_against_model(ensemble, X, np.zeros((3, 2)))


def test_wrong_width_is_refused():
    ensemble = assemble([_stump(LEFT_IF_LESS_EQUAL, MISSING_NAN, False)], [-1], np.zeros(1), 1)
    with pytest.raises(ValueError, match="1 columns"):
        predict_margin(ensemble, np.zeros((2, 3)))
