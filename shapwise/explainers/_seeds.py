"""Per-row random generators: a row's random choices depend on the call's root seed and the row.

A sampling explainer draws each row's coalitions, orders or noise from a generator seeded by
(root seed, key of the row), where the key is a hash of the row's content. So a row gets the same
values whichever other rows it is explained with, in whatever order, in one call or in many, and
on whichever worker of a Dask or Spark job: no global row index is needed. Identical rows get
identical explanations.

Keys:
- numeric rows: their values as float64 (``-0.0`` counted as ``0.0``), hashed word by word;
- other rows (object or mixed tables): a stable text encoding of each item (its type and repr);
- texts: their UTF-8 bytes;
- rows of several inputs (multi-input models): the keys of every part, combined.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

_MASK64 = (1 << 64) - 1


def _mix(words: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer on uint64 words: every input bit changes about half the output bits."""
    z = words + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _numeric_keys(X: np.ndarray) -> np.ndarray:
    """Keys of numeric rows (rows, ...): a hash of every value as float64, in order."""
    rows = np.ascontiguousarray(X.reshape(len(X), -1), dtype=np.float64) + 0.0  # -0.0 -> 0.0
    words = rows.view(np.uint64)
    keys = np.full(len(rows), np.uint64(rows.shape[1]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in range(words.shape[1]):
            keys = _mix(keys ^ _mix(words[:, column]))
    return keys


def _bytes_key(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _item_encoding(item: Any) -> bytes:
    """A stable encoding of one item of an object row: numbers by value, others by repr."""
    if isinstance(item, (bool, np.bool_)):
        return b"b" + repr(bool(item)).encode()
    if isinstance(item, (int, float, np.integer, np.floating)):
        return b"f" + np.float64(item).tobytes() if float(item) != 0 else b"f0"
    if isinstance(item, str):
        return b"s" + item.encode("utf-8")
    return b"o" + type(item).__name__.encode() + b":" + repr(item).encode("utf-8")


def _object_keys(X: np.ndarray) -> np.ndarray:
    rows = X.reshape(len(X), -1)
    return np.array(
        [_bytes_key(b"\x1f".join(_item_encoding(item) for item in row)) for row in rows],
        dtype=np.uint64,
    )


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """Keys of texts: a hash of each one's UTF-8 bytes."""
    return np.array([_bytes_key(b"t" + text.encode("utf-8")) for text in texts], dtype=np.uint64)


def row_keys(X: Any) -> np.ndarray:
    """One uint64 key per row of ``X``, from the row's content alone.

    ``X``: an array (rows, ...) as the driver read it, numeric or object, or a list/tuple of such
    arrays (the inputs of a multi-input model, one row each per row).
    """
    if isinstance(X, (list, tuple)):
        parts = [row_keys(part) for part in X]
        keys = np.full(len(parts[0]), np.uint64(len(parts)), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for part in parts:
                keys = _mix(keys ^ part)
        return keys
    X = np.asarray(X)
    if X.ndim == 0:
        X = X[None]
    if X.dtype.kind in "biuf":
        return _numeric_keys(X)
    if X.dtype.kind in "US" and X.ndim == 1:
        return text_keys([str(text) for text in X])
    return _object_keys(X)


def fresh_root() -> int:
    """A new root seed, from the operating system's entropy (for ``seed=None``)."""
    return int(np.random.SeedSequence().entropy) & _MASK64


def root_seed(seed: int | None) -> int:
    """The root seed of a call: ``seed`` itself, or a fresh one when it is None."""
    if seed is None:
        return fresh_root()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer or None; got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None; got {seed}")
    return int(seed)


def row_generator(root: int, key: int | np.integer) -> np.random.Generator:
    """The generator of one row: seeded by (root seed, row key)."""
    return np.random.default_rng([int(root), int(key)])


class RowSeeds:
    """The random generators of one call: one per row, from the root seed and the row keys.

    Args:
        root: the call's root seed (:func:`root_seed`).
        keys: one key per row (:func:`row_keys`).
    """

    def __init__(self, root: int, keys: np.ndarray) -> None:
        self.root = int(root)
        self.keys = np.asarray(keys, dtype=np.uint64)

    @classmethod
    def of_rows(cls, seed: int | None, X: Any) -> RowSeeds:
        """The generators of rows ``X`` for the explainer's ``seed`` (fresh when None)."""
        return cls(root_seed(seed), row_keys(X))

    def __len__(self) -> int:
        return len(self.keys)

    def row(self, index: int) -> np.random.Generator:
        """The generator of row ``index``."""
        return row_generator(self.root, self.keys[index])

    def shared(self) -> np.random.Generator:
        """A generator of the root seed alone, for draws that belong to the call, not to a row
        (these do depend on how rows are grouped into calls)."""
        return np.random.default_rng(self.root)
