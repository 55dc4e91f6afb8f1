"""The Text masker: tokens, masked strings and the hierarchy over a text's tokens."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise.maskers import Text
from shapwise.maskers._hierarchy import check_tree
from shapwise.maskers.text import token_hierarchy
from tests.reference import leaves, linkage_to_tree


def test_tokens_are_words_with_their_separators_and_join_back_to_the_text():
    text = "Hello, world! It's  fine."
    tokens = Text().for_text(text).tokens
    assert tokens == ["Hello, ", "world! ", "It'", "s  ", "fine."]
    assert "".join(tokens) == text
    assert Text(r"\s+").for_text(text).tokens == ["Hello, ", "world! ", "It's  ", "fine."]
    assert Text().for_text(",leading").tokens == [",", "leading"]


def test_masked_strings_replace_hidden_tokens_and_collapse_runs():
    masker = Text()
    tokens = masker.for_text("the film was great. we left")
    masks = np.array(
        [[1, 1, 1, 1, 1, 1], [1, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 1, 0]], bool
    )
    written = tokens.masked_batch(masks, tokens.x)
    assert written.shape == (4, 1)
    assert list(written[:, 0]) == [
        "the film was great. we left",
        "the ... great. we left",
        "...",
        "the ... was ... we ...",
    ]
    apart = Text(collapse_mask_token=False, mask_token="[MASK]").for_text("the film was great")
    assert apart.masked_string(np.array([1, 0, 0, 1], bool)) == "the [MASK] [MASK] great"
    np.testing.assert_array_equal(masker(np.array([False, True]), "good film")[0], ["... film"])
    assert masker(np.array([False, True]), "good film")[0].shape == (1,)


def test_a_tokenizer_function_gets_its_tokens_joined_with_spaces():
    masker = Text(tokenizer=str.split)
    tokens = masker.for_text("a  quiet film")
    assert tokens.tokens == ["a", "quiet", "film"]
    assert tokens.masked_string(np.array([1, 0, 1], bool)) == "a ... film"


def test_the_hierarchy_keeps_sentences_then_clauses_together():
    tokens = Text().for_text("Good cast, weak plot. Bad ending, sadly.").tokens
    linkage = token_hierarchy(tokens)
    check_tree(linkage, len(tokens))
    tree = linkage_to_tree(linkage)
    groups = [sorted(leaves(child)) for child in tree]
    assert sorted(groups) == [[0, 1, 2, 3], [4, 5, 6]]  # the two sentences
    first = next(child for child in tree if 0 in leaves(child))
    assert sorted(sorted(leaves(part)) for part in first) == [[0, 1], [2, 3]]  # the clauses
    n = len(tokens)
    for row, (left, right, distance, count) in enumerate(linkage):
        covered = sorted(leaves(_subtree(linkage, n + row)))
        assert covered == list(range(covered[0], covered[-1] + 1))  # adjacent tokens
        assert count == len(covered)
        for child in (int(left), int(right)):  # merge distances grow towards the root
            assert child < n or linkage[child - n, 2] < distance
    assert token_hierarchy(["one"]).shape == (0, 4)


def _subtree(linkage: np.ndarray, node: int):
    """Node ``node`` of a linkage matrix as nested lists of leaves."""
    n = len(linkage) + 1
    if node < n:
        return node
    left, right = linkage[node - n, :2].astype(int)
    return [_subtree(linkage, int(left)), _subtree(linkage, int(right))]


def test_bad_tokenizers_and_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="matches the empty string"):
        Text(r"\W*")
    with pytest.raises(TypeError, match="tokenizer must be a regular expression"):
        Text(tokenizer=3)
    with pytest.raises(ValueError, match="collapse_mask_token must be"):
        Text(collapse_mask_token="sometimes")
    with pytest.raises(TypeError, match="explains strings; got a int"):
        Text().for_text(5)
    with pytest.raises(ValueError, match="has no tokens"):
        Text().for_text("")
