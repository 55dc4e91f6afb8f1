"""The Text masker with Hugging Face tokenizers: pieces of text from the offsets mapping, special
tokens at the ends, the mask token, literal masked strings and the hierarchy."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise.maskers import Text
from shapwise.maskers._hierarchy import check_tree
from tests.reference import leaves, linkage_to_tree


def hide(tokens, hidden: list[int]) -> str:
    mask = np.ones(len(tokens.tokens), dtype=bool)
    mask[hidden] = False
    return tokens.masked_string(mask)


def test_wordpiece_pieces_follow_the_offsets_with_special_tokens_kept_at_the_ends(wordpiece):
    masker = Text(wordpiece)
    assert masker.mask_token == "[MASK]" and masker.collapse_mask_token is False
    tokens = masker.for_text("I loved the acting")
    # [CLS] i lov ##ed the acting [SEP]: one feature per token, whitespace after a token kept
    assert tokens.tokens == ["", "I ", "lov", "ed ", "the ", "acting", ""]
    assert tokens.fixed_ends == (1, 1)
    assert "".join(tokens.tokens) == "I loved the acting"
    assert masker.for_text("  Superb music!  ").tokens == [
        "",
        "  Su",
        "per",
        "b ",
        "music",
        "!  ",
        "",
    ]


def test_wordpiece_masked_strings(wordpiece):
    tokens = Text(wordpiece).for_text("I loved the acting")
    assert hide(tokens, [2, 3, 4]) == "I [MASK][MASK] [MASK] acting"
    assert hide(tokens, [1, 2, 3, 4, 5]) == "[MASK] [MASK][MASK] [MASK] [MASK]"
    assert hide(tokens, [5]) == "I loved the [MASK]"
    assert hide(tokens, [0, 6]) == "I loved the acting"  # special tokens are never hidden
    assert hide(tokens, []) == "I loved the acting"
    # shap writes "I [MASK][MASK] [MASK]acting" (no space after a mask token): for a WordPiece
    # tokenizer the model reads the same token ids either way
    ids = wordpiece(["I [MASK][MASK] [MASK] acting", "I [MASK] [MASK] [MASK]acting"])["input_ids"]
    assert ids[0] == ids[1]
    written = Text(wordpiece)(np.array([1, 1, 0, 0, 1, 1, 1], bool), "I loved the acting")
    assert isinstance(written, tuple) and list(written[0]) == ["I [MASK][MASK] the acting"]


def test_byte_level_pieces_and_masked_strings(byte_level, byte_level_eos):
    masker = Text(byte_level)
    assert masker.mask_token == "..." and masker.collapse_mask_token is True
    tokens = masker.for_text("I loved the acting")
    assert byte_level.convert_ids_to_tokens(byte_level("I loved the acting")["input_ids"]) == [
        "I", "\u0120lo", "ved", "\u0120the", "\u0120acting"
    ]  # fmt: skip
    assert tokens.tokens == ["I ", "lo", "ved ", "the ", "acting"]
    assert tokens.fixed_ends == (0, 0)  # this tokenizer adds no special tokens
    assert hide(tokens, [1, 2]) == "I ... the acting"  # a run of hidden tokens is one "..."
    assert hide(tokens, [3]) == "I loved ... acting"
    assert hide(tokens, [4]) == "I loved the ..."
    assert hide(tokens, [0, 1, 2, 3, 4]) == "..."
    assert hide(tokens, [0, 2, 4]) == "... lo... the ..."
    # lone space tokens (no visible text of their own) join the piece before them
    assert masker.for_text("  Superb music!  ").tokens == ["  S", "uper", "b ", "music", "!  "]
    # why the space after a mask token is kept: shap's "I loved ...acting" reads another token
    kept, dropped = byte_level(["I loved ... acting", "I loved ...acting"])["input_ids"]
    assert kept[-1] != dropped[-1]
    # an end-of-text token is a special token at the end (as shap finds it: tokenize "")
    with_eos = Text(byte_level_eos).for_text("I loved the acting")
    assert with_eos.tokens == ["I ", "lo", "ved ", "the ", "acting", ""]
    assert with_eos.fixed_ends == (0, 1)
    assert hide(with_eos, [3, 5]) == "I loved ... acting"


def test_a_tokenizer_without_offsets_finds_its_tokens_in_the_text(wordpiece, tmp_path):
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    vocab = sorted(wordpiece.get_vocab().items(), key=lambda item: item[1])
    (tmp_path / "vocab.txt").write_text("".join(f"{token}\n" for token, _ in vocab))
    slow = BertTokenizerLegacy(str(tmp_path / "vocab.txt"), do_lower_case=True)
    assert "offset_mapping" not in slow("I loved it", return_offsets_mapping=True)
    for text in ["I loved the acting", "  Superb music!  ", "The plot, sadly, was boring."]:
        assert Text(slow).for_text(text).tokens == Text(wordpiece).for_text(text).tokens


class WordTokenizer:
    """A tokenizer of one's own with the minimal Hugging Face interface shap's Text masker takes:
    called on a text it gives input_ids (refusing return_offsets_mapping), and it has
    convert_ids_to_tokens; it adds <s> and </s> around every text."""

    def __init__(self) -> None:
        self.vocabulary = ["<s>", "</s>"]

    def __call__(self, text: str, **options):
        if options:
            raise NotImplementedError("no offsets")
        words = ["<s>", *text.lower().split(), "</s>"]
        for word in words:
            if word not in self.vocabulary:
                self.vocabulary.append(word)
        return {"input_ids": [self.vocabulary.index(word) for word in words]}

    def convert_ids_to_tokens(self, ids):
        return [self.vocabulary[i] for i in ids]


def test_a_tokenizer_of_ones_own_with_the_minimal_interface():
    masker = Text(WordTokenizer())
    assert masker.mask_token == "..." and masker.collapse_mask_token is True
    tokens = masker.for_text("Great  acting, Dull plot")
    assert tokens.tokens == ["", "Great  ", "acting, ", "Dull ", "plot", ""]
    assert tokens.fixed_ends == (1, 1)
    assert hide(tokens, [2, 3]) == "Great  ... plot"


def test_the_hierarchy_splits_off_special_tokens_then_keeps_words_together(wordpiece):
    tokens = Text(wordpiece).for_text("Great cast, weak plot. Bad ending.")
    n = len(tokens.tokens)
    check_tree(tokens.clustering, n)
    tree = linkage_to_tree(tokens.clustering)

    def nodes(node):
        yield node
        if not isinstance(node, int):
            for child in node:
                yield from nodes(child)

    groups = [sorted(leaves(node)) for node in nodes(tree)]
    assert list(range(1, n - 1)) in groups  # everything but [CLS] and [SEP]
    assert tokens.tokens[7] == ". "
    assert list(range(1, 8)) in groups  # the first sentence, "Great cast, weak plot. "
    assert list(range(8, n - 1)) in groups  # the second, "Bad ending."
    assert [4, 5] in groups  # the pieces of one word: "wea", "k "


def test_an_own_mask_token_and_bad_tokenizers(wordpiece):
    masker = Text(wordpiece, mask_token="<m>")
    assert masker.collapse_mask_token is True  # not the tokenizer's own token: runs collapse
    assert hide(masker.for_text("I loved the acting"), [2, 3, 4]) == "I <m> acting"
    with pytest.raises(ValueError, match="has no tokens"):
        Text(wordpiece).for_text("   ")
