"""The Text masker: the features of a text are its tokens; a hidden token becomes a mask token."""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np

from shapwise.maskers._base import Masker

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


def token_hierarchy(tokens: list[str], fixed_ends: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A linkage matrix over ``tokens`` whose every node is a run of adjacent tokens.

    A run is split at its strongest boundary (sentence end, then clause end, then a space),
    the one nearest its middle, so sentences stay together, then clauses, then neighbouring words.
    ``fixed_ends`` (tokens at the start, at the end) are split off before anything else: a
    tokenizer's special tokens, which are never hidden. The merge distance of a node is its number
    of tokens (monotone, as scipy expects).
    """
    n = len(tokens)
    strength = np.array([_boundary(token) for token in tokens[:-1]], dtype=np.int64)
    prefix, suffix = fixed_ends
    if prefix:
        strength[:prefix] = 4
    if suffix:
        strength[n - 1 - suffix :] = 4
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


def is_hf_tokenizer(tokenizer: Any) -> bool:
    """Whether ``tokenizer`` looks like a Hugging Face tokenizer (called on a text it gives
    ``input_ids``; it can turn ids back into tokens)."""
    return (
        callable(tokenizer)
        and not isinstance(tokenizer, str)
        and (hasattr(tokenizer, "convert_ids_to_tokens") or hasattr(tokenizer, "decode"))
    )


def special_ends(tokenizer: Any) -> tuple[int, int]:
    """How many special tokens ``tokenizer`` adds before and after every text: those it gives the
    empty string, split evenly between the ends; a single one is an end-of-text token unless it
    is the beginning-of-text token."""
    ids = list(tokenizer("")["input_ids"])
    if len(ids) == 1:
        bos = getattr(tokenizer, "bos_token_id", None)
        eos = getattr(tokenizer, "eos_token_id", None)
        return (1, 0) if ids[0] == bos and ids[0] != eos else (0, 1)
    if len(ids) % 2:
        raise ValueError(
            f"the tokenizer gives the empty string {len(ids)} special tokens, which cannot be "
            "split between the start and the end of a text; pass a tokenizer function instead"
        )
    return (len(ids) // 2, len(ids) // 2)


def hf_pieces(tokenizer: Any, text: str, ends: tuple[int, int]) -> list[str]:
    """The pieces of ``text`` that a Hugging Face tokenizer's tokens cover (special tokens at the
    ends left out), each with the whitespace after it; they join back to the text."""
    try:
        encoded = tokenizer(text, return_offsets_mapping=True)
    except (NotImplementedError, TypeError):  # a tokenizer that has no offsets to give
        encoded = tokenizer(text)
    ids = list(encoded["input_ids"])
    prefix, suffix = ends
    offsets = encoded.get("offset_mapping") if hasattr(encoded, "get") else None
    content = slice(prefix, len(ids) - suffix)
    if offsets is None:  # a tokenizer without offsets: find each token in the text
        spans = _find_tokens(tokenizer, text, ids[content])
    else:
        spans = [(None, None) if span is None else span for span in list(offsets)[content]]
    starts: list[int] = []
    for start, stop in spans:
        if start is None:
            continue
        while start < stop and text[start].isspace():  # offsets that include a leading space
            start += 1
        if start >= stop or (starts and start <= starts[-1]):
            continue  # no visible text of its own: it joins the piece before
        starts.append(start)
    if not starts:
        return []
    bounds = [0, *starts[1:], len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


def _find_tokens(tokenizer: Any, text: str, ids: list[int]) -> list[tuple[int | None, int | None]]:
    """Spans of the tokens ``ids`` in ``text``, found in order (word-piece and space markers
    removed, case ignored); a token not found (unknown) gets (None, None)."""
    if hasattr(tokenizer, "convert_ids_to_tokens"):
        tokens = [str(token) for token in tokenizer.convert_ids_to_tokens(ids)]
    else:
        tokens = [str(tokenizer.decode([i])) for i in ids]
    lowered = text.lower()
    spans: list[tuple[int | None, int | None]] = []
    cursor = 0
    for token in tokens:
        word = token.removeprefix("##").replace("\u0120", " ").replace("\u2581", " ").strip()
        found = lowered.find(word.lower(), cursor) if word else -1
        if found < 0:
            spans.append((None, None))
            continue
        spans.append((found, found + len(word)))
        cursor = found + len(word)
    return spans


class Text(Masker):
    """Hides tokens of a text, replacing each with a mask token.

    The model receives a 1-D array of strings (the masked texts) and returns one output row per
    string. Each text is explained on its own: its tokens are its features, and a hierarchy over
    adjacent tokens (sentences, clauses, words) lets the Partition explainer compute Owen values.

    With a Hugging Face tokenizer, the features are the pieces of text its tokens cover (from
    its offsets mapping, or by finding each of ``convert_ids_to_tokens``'s tokens in the text
    for a tokenizer without offsets), each with the whitespace after it, so the pieces join back
    to the text. A token that covers no visible text of its own (a lone space token, a second
    byte of one character) joins the piece before it. The special tokens the tokenizer adds at
    each end (found, as shap finds them, by tokenizing the empty string) are features too, as in
    shap's explanations, but are never hidden: their data is "" and their value is 0. A hidden
    piece is written as the mask token followed by the whitespace that followed the piece, so
    "I loved the acting" with "loved" and "the" hidden (one token each) reads
    "I [MASK] [MASK] acting", and the full coalition is the text itself. (shap drops that whitespace, "I [MASK] [MASK]acting", and
    normalises all whitespace; for WordPiece tokenizers the token ids are the same either way,
    for byte-level BPE ones shap's spelling changes the next word's token.)

    Args:
        tokenizer: a regular expression of separators (each token is a word and the separator
            after it, so tokens join back to the text), a function ``text -> list of tokens``
            (joined with spaces unless they join back to the text without them), or a Hugging
            Face tokenizer.
        mask_token: the string that stands for a hidden token; by default the tokenizer's own
            ``mask_token``, else "...".
        collapse_mask_token: write a run of hidden tokens as one mask token; 'auto' (shap's
            default) does so unless the mask token is the tokenizer's own.
    """

    per_text = True
    has_hierarchy = True  # each text's own, from for_text(text).clustering

    def __init__(
        self,
        tokenizer: str | Callable[[str], list[str]] | Any = r"\W+",
        mask_token: str | None = None,
        collapse_mask_token: bool | str = "auto",
    ) -> None:
        if tokenizer is None:
            tokenizer = r"\W+"
        self.hf_tokenizer = tokenizer if is_hf_tokenizer(tokenizer) else None
        own_mask = None
        if self.hf_tokenizer is not None:
            self.special_ends = special_ends(tokenizer)
            own_mask = getattr(tokenizer, "mask_token", None)
        elif isinstance(tokenizer, str):
            self.separators = tokenizer  # the pattern, kept for saving
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
        if mask_token is None:
            mask_token = own_mask if own_mask is not None else "..."
            if own_mask is not None and collapse_mask_token == "auto":
                collapse_mask_token = False  # the tokenizer's mask token stands for one token
        self.mask_token = str(mask_token)
        self.collapse_mask_token = collapse_mask_token in (True, "auto")

    def for_text(self, text: str) -> TextTokens:
        """The masker of one text's tokens."""
        if not isinstance(text, str):
            raise TypeError(f"the Text masker explains strings; got a {type(text).__name__}")
        if self.hf_tokenizer is not None:
            pieces = hf_pieces(self.hf_tokenizer, text, self.special_ends)
            if not pieces:
                raise ValueError(f"the text {text!r} has no tokens to explain")
            prefix, suffix = self.special_ends
            tokens = [""] * prefix + pieces + [""] * suffix
            return TextTokens(
                tokens, "", self.mask_token, self.collapse_mask_token, self.special_ends
            )
        tokens = self.tokenize(text)
        if not tokens:
            raise ValueError(f"the text {text!r} has no tokens to explain")
        joiner = "" if "".join(tokens) == text else " "
        return TextTokens(tokens, joiner, self.mask_token, self.collapse_mask_token)

    def __call__(self, mask: Any, text: Any) -> Any:
        """The masked text for one mask over the tokens of ``text``, as a tuple of one array of
        one string (shap's masker protocol; True / False keeps / hides every token); several
        coalitions give ``((strings,), varying)`` as :meth:`Masker.__call__` describes."""
        tokens = self.for_text(text)
        return tokens(mask, tokens.x)


class TextTokens(Masker):
    """The masker of one text: masks over its tokens give masked strings, shape (K, 1) (one
    string per coalition; ``x``, the tokens, is fixed at construction). ``fixed_ends`` tokens
    at the start and at the end are kept whatever the mask (a tokenizer's special tokens)."""

    def __init__(
        self,
        tokens: list[str],
        joiner: str,
        mask_token: str,
        collapse: bool,
        fixed_ends: tuple[int, int] = (0, 0),
    ) -> None:
        self.tokens = tokens
        self.x = np.array(tokens, dtype=object)
        self.shape = (1, len(tokens))
        self.clustering = token_hierarchy(tokens, fixed_ends)
        self.feature_names = list(tokens)
        self.fixed_ends = fixed_ends
        self._joiner = joiner
        self._mask_token = mask_token
        self._collapse = collapse
        self._fixed = np.zeros(len(tokens), dtype=bool)
        self._fixed[: fixed_ends[0]] = True
        self._fixed[len(tokens) - fixed_ends[1] :] = True

    def _hidden(self, token: str) -> str:
        """What a hidden token is written as: the mask token, keeping trailing whitespace."""
        if self._joiner:
            return self._mask_token
        return self._mask_token + token[len(token.rstrip()) :]

    def masked_string(self, mask: np.ndarray) -> str:
        pieces: list[str] = []
        previous_hidden = False
        for token, keep, fixed in zip(self.tokens, mask, self._fixed, strict=True):
            if keep or fixed:
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
