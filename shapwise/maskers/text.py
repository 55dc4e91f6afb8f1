"""The Text masker: the features of a text are its tokens; a hidden token becomes a mask token."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from shapwise.maskers._base import Masker, standard_mask

# Strength of the boundary after a token, by how the token ends: the hierarchy over a text's tokens
# splits at the strongest boundaries first (sentences, then clauses, then words).
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s*$")
_CLAUSE_END = re.compile(r"([,;:]\s*|\n\s*)$")
_WORD_END = re.compile(r"[\s\W]$")


def _split_on(pattern: re.Pattern[str], text: str) -> list[str]:
    """Tokens of ``text``: each word with the separator that follows it (so they join to the text)."""
    tokens, start = [], 0
    for separator in pattern.finditer(text):
        if separator.end() > start:
            tokens.append(text[start : separator.end()])
            start = separator.end()
    if start < len(text):
        tokens.append(text[start:])
    return tokens


def _boundary(token: str) -> int:
    if _SENTENCE_END.search(token):
        return 3
    if _CLAUSE_END.search(token):
        return 2
    return 1 if _WORD_END.search(token) else 0


def token_hierarchy(tokens: list[str]) -> np.ndarray:
    """A linkage matrix over ``tokens`` whose every node is a run of adjacent tokens.

    A run is split at its strongest boundary (sentence end, then clause end, then a space),
    the one nearest its middle, so sentences stay together, then clauses, then neighbouring words.
    The merge distance of a node is its number of tokens (monotone, as scipy expects).
    """
    n = len(tokens)
    strength = np.array([_boundary(token) for token in tokens[:-1]], dtype=np.int64)
    rows: list[list[float]] = []

    def build(start: int, stop: int) -> int:
        if stop - start == 1:
            return start
        inner = strength[start : stop - 1]  # boundary after token i splits before i + 1
        candidates = np.flatnonzero(inner == inner.max()) + start + 1
        middle = (start + stop) / 2
        split = int(candidates[np.argmin(np.abs(candidates - middle))])
        left, right = build(start, split), build(split, stop)
        rows.append([left, right, float(stop - start), float(stop - start)])
        return n + len(rows) - 1

    if n > 1:
        build(0, n)
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


class Text(Masker):
    """Hides tokens of a text, replacing each with a mask token.

    The model receives a 1-D array of strings (the masked texts) and returns one output row per
    string. Each text is explained on its own: its tokens are its features, and a hierarchy over
    adjacent tokens (sentences, clauses, words) lets the Partition explainer compute Owen values.

    Args:
        tokenizer: a regular expression of separators (each token is a word and the separator
            after it, so tokens join back to the text), or a function ``text -> list of tokens``
            (joined with spaces unless they join back to the text without them).
        mask_token: the string that stands for a hidden token.
        collapse_mask_token: write a run of hidden tokens as one mask token; 'auto' (shap's
            default spelling) does so.
    """

    per_text = True
    has_hierarchy = True  # each text's own, from for_text(text).clustering

    def __init__(
        self,
        tokenizer: str | Callable[[str], list[str]] | None = r"\W+",
        mask_token: str = "...",
        collapse_mask_token: bool | str = "auto",
    ) -> None:
        if tokenizer is None:
            tokenizer = r"\W+"
        if isinstance(tokenizer, str):
            pattern = re.compile(tokenizer)
            if pattern.match(""):
                raise ValueError(
                    f"the tokenizer pattern {tokenizer!r} matches the empty string; pass a pattern "
                    r"of separators such as r'\W+'"
                )
            self.tokenize: Callable[[str], list[str]] = lambda text: _split_on(pattern, text)
        elif callable(tokenizer):
            self.tokenize = lambda text: [str(token) for token in tokenizer(text)]
        else:
            raise TypeError(
                "tokenizer must be a regular expression of separators or a function that "
                f"returns the tokens of a text; got {type(tokenizer).__name__}"
            )
        if collapse_mask_token not in (True, False, "auto"):
            raise ValueError(
                f"collapse_mask_token must be True, False or 'auto'; got {collapse_mask_token!r}"
            )
        self.mask_token = str(mask_token)
        self.collapse_mask_token = collapse_mask_token in (True, "auto")

    def for_text(self, text: str) -> TextTokens:
        """The masker of one text's tokens."""
        if not isinstance(text, str):
            raise TypeError(f"the Text masker explains strings; got a {type(text).__name__}")
        tokens = self.tokenize(text)
        if not tokens:
            raise ValueError(f"the text {text!r} has no tokens to explain")
        joiner = "" if "".join(tokens) == text else " "
        return TextTokens(tokens, joiner, self.mask_token, self.collapse_mask_token)

    def __call__(self, mask: Any, text: Any) -> tuple[np.ndarray, ...]:
        """The masked text for one mask over the tokens of ``text``, as a tuple of one array of
        one string (shap's masker protocol; True / False keeps / hides every token)."""
        tokens = self.for_text(text)
        mask = standard_mask(mask, len(tokens.tokens)).reshape(1, -1)
        return (tokens.masked_batch(mask, tokens.x)[0],)


class TextTokens(Masker):
    """The masker of one text: masks over its tokens give masked strings, shape (K, 1) (one
    string per coalition; ``x``, the tokens, is fixed at construction)."""

    def __init__(self, tokens: list[str], joiner: str, mask_token: str, collapse: bool) -> None:
        self.tokens = tokens
        self.x = np.array(tokens, dtype=object)
        self.shape = (1, len(tokens))
        self.clustering = token_hierarchy(tokens)
        self.feature_names = list(tokens)
        self._joiner = joiner
        self._mask_token = mask_token
        self._collapse = collapse

    def _hidden(self, token: str) -> str:
        """What a hidden token is written as: the mask token, keeping trailing whitespace."""
        if self._joiner:
            return self._mask_token
        return self._mask_token + token[len(token.rstrip()) :]

    def masked_string(self, mask: np.ndarray) -> str:
        pieces: list[str] = []
        previous_hidden = False
        for token, keep in zip(self.tokens, mask, strict=True):
            if keep:
                pieces.append(token)
            elif self._collapse and previous_hidden:
                pieces[-1] = self._hidden(token)  # one mask token for the run
            else:
                pieces.append(self._hidden(token))
            previous_hidden = not keep
        return self._joiner.join(pieces)

    def masked_batch(self, masks: np.ndarray, x: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks, dtype=bool)
        if masks.shape[1:] != (len(self.tokens),):
            raise ValueError(
                f"masks over {masks.shape[1:]} features for a text of {len(self.tokens)} tokens"
            )
        out = np.empty((len(masks), 1), dtype=object)
        out[:, 0] = [self.masked_string(mask) for mask in masks]
        return out
