"""What the model-agnostic explainers share: inputs in, one coalition game per row, Explanation out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from shapwise.errors import AdditivityError
from shapwise.explainers._game import CoalitionGame
from shapwise.explanation import Explanation, OpChain, join_texts, object_array
from shapwise.links import Link, get_link
from shapwise.maskers._base import CallableMasker, Masker
from shapwise.maskers.tabular import Independent
from shapwise.models import Model, as_model
from shapwise.numeric import additivity_tolerance, check_finite, feature_names_of, to_numpy


def as_masker(masker: Any) -> Masker:
    """A :class:`Masker` from a masker, background data, or a function ``masker(mask, x)``."""
    if masker is None:
        raise ValueError(
            "a masker or background data is needed to hide features, e.g. "
            "shapwise.Explainer(model, X_background) or maskers.Independent(X_background)"
        )
    if isinstance(masker, Masker):
        return masker
    if callable(masker):  # arrays, DataFrames and tensors are not callable
        return CallableMasker(masker)
    return Independent(masker, max_samples=100)


def _no_progress(rows: int) -> None:
    """Progress of texts is counted per text by the caller."""


def as_texts(texts: Any) -> list[str]:
    """One string or a sequence of strings (list, array, pandas Series) as a list of strings."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, Mapping) or np.ndim(texts) != 1:
        raise TypeError(
            "a Text masker explains strings: pass a string, a list of them or one column of a "
            f"table (df['review']); got a {type(texts).__name__}"
        )
    items = list(texts.tolist() if hasattr(texts, "tolist") else texts)
    wrong = [type(item).__name__ for item in items if not isinstance(item, str)]
    if wrong or not items:
        got = f"items of type {wrong[0]}" if wrong else "no texts"
        raise TypeError(
            f"a Text masker explains strings: pass a string or a list of them; got {got}"
        )
    return items


def outputs_by_rank(chain: OpChain, model_outputs: np.ndarray) -> np.ndarray:
    """Apply a chain such as ``Explanation.argsort.flip[:3]`` to each row's outputs: (rows, k)."""
    picked = [np.asarray(chain.apply(Explanation(row))) for row in model_outputs]
    return np.stack([np.asarray(getattr(p, "values", p)).reshape(-1) for p in picked]).astype(int)


def select_outputs(outputs: Any, n_rows: int, n_outputs: int | None) -> np.ndarray | None:
    """Per-row output indices (n_rows, k) from ``outputs``, or None for all outputs.

    ``n_outputs`` None skips the range check (the model has not been called yet).
    """
    if outputs is None:
        return None
    if isinstance(outputs, Explanation):
        outputs = outputs.values
    indices = np.asarray(outputs)
    if indices.dtype.kind not in "iu":
        raise TypeError("outputs must be integer output positions (e.g. [0, 2] or top-k per row)")
    if indices.ndim == 0:
        indices = indices.reshape(1)
    if indices.ndim == 1:
        indices = np.broadcast_to(indices, (n_rows, len(indices)))
    if indices.shape[0] != n_rows:
        raise ValueError(
            f"outputs has {indices.shape[0]} rows of indices but {n_rows} rows are explained"
        )
    if n_outputs is not None and (indices.min() < 0 or indices.max() >= n_outputs):
        raise ValueError(f"outputs must be between 0 and {n_outputs - 1}; got {indices.tolist()}")
    return indices


class ExplainerBase:
    """A model-agnostic explainer: subclasses say how to turn a row's coalition game into values.

    Args:
        model: a function of a 2-D array, a torch module, a Keras model or an sklearn estimator.
        masker: a masker, or background data (wrapped in ``maskers.Independent``).
        link: 'identity' or 'logit': the space in which the values add up.
        feature_names / output_names: labels for the explanation.
        batch_size: the most rows passed to the model at once.
        seed: seed of the random choices (sampling explainers).
    """

    algorithm = "base"
    linearize_link = False  # see CoalitionGame; explainers that follow shap's default set it

    def __init__(
        self,
        model: Any,
        masker: Any = None,
        link: str | Link = "identity",
        feature_names: list[str] | None = None,
        output_names: list[str] | None = None,
        batch_size: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.model: Model = as_model(model, batch_size)
        self.masker = as_masker(masker)
        self.link = get_link(link)
        self.feature_names = feature_names or getattr(self.masker, "feature_names", None)
        self.output_names = output_names or getattr(self.model, "output_names", None)
        self.seed = seed
        self._expected_value: np.ndarray | None = None

    # --------------------------------------------------------------- subclass hook
    def explain_row(
        self, game: CoalitionGame, max_evals: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (values (n_features, n_outputs), base value (n_outputs,), output (n_outputs,))."""
        raise NotImplementedError

    def explain_rows(
        self,
        games: list[CoalitionGame],
        max_evals: int,
        rng: np.random.Generator,
        done: Callable[[int], Any],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Explain every row (``done(n)`` after each n rows): values (rows, M, O), base values
        (rows, O) and outputs (rows, O); one row at a time unless overridden."""
        rows = []
        for game in games:
            rows.append(self.explain_row(game, max_evals, rng))
            done(1)
        return tuple(np.stack(part) for part in zip(*rows, strict=True))  # type: ignore[return-value]

    def default_max_evals(self, n_features: int) -> int:
        return 500

    # --------------------------------------------------------------- public API
    def __call__(
        self,
        *args: Any,
        max_evals: int | str = "auto",
        batch_size: int | str | None = "auto",
        outputs: Any = None,
        silent: bool = False,
        check_additivity: bool = True,
    ) -> Explanation:
        """Explain the rows of ``X``; returns an :class:`Explanation`. Texts may come with a
        target text each, ``explainer(prompts, targets)``, for a model that explains a target
        (``models.TeacherForcing``)."""
        targets = None
        if len(args) == 2 and self.masker.per_text:
            args, targets = args[:1], args[1]
        if len(args) != 1:
            raise TypeError("pass the rows to explain as one array or DataFrame")
        saved_batch_size = self.model.batch_size
        if batch_size not in ("auto", None):
            self.model.batch_size = int(batch_size)  # for this call only
        try:
            if self.masker.per_text:
                return self._explain_texts(
                    args[0], max_evals, outputs, silent, check_additivity, targets
                )
            return self._explain_rows(args[0], max_evals, outputs, silent, check_additivity)
        finally:
            self.model.batch_size = saved_batch_size

    def _budget(self, max_evals: int | str, n_features: int) -> int:
        budget = self.default_max_evals(n_features) if max_evals == "auto" else int(max_evals)
        if budget < 2:
            raise ValueError(f"max_evals must be at least 2; got {max_evals}")
        return budget

    def _explain_rows(
        self,
        X_raw: Any,
        max_evals: int | str,
        outputs: Any,
        silent: bool,
        check_additivity: bool,
    ) -> Explanation:
        """Explain rows that share one feature layout (tables, images)."""
        from shapwise._progress import progress

        X = self._rows(X_raw)
        budget = self._budget(max_evals, self.masker.shape[1])
        rng = np.random.default_rng(self.seed)
        if isinstance(outputs, OpChain):  # e.g. Explanation.argsort.flip[:3]: top outputs
            outputs = outputs_by_rank(outputs, self.link(self.model(X)))
        row_outputs = select_outputs(outputs, len(X), None)
        shared: dict = {}
        games = [
            CoalitionGame(
                self.model,
                self.masker,
                x,
                self.link,
                shared,
                outputs=None if row_outputs is None else row_outputs[i],
                linearize_link=self.linearize_link,
            )
            for i, x in enumerate(X)
        ]
        with progress(len(X), f"{type(self).__name__}", silent) as bar:
            values, base_values, output_values = self.explain_rows(games, budget, rng, bar.update)
        values = values.reshape(len(X), *X.shape[1:], values.shape[-1])
        if check_additivity:
            self._check_additivity(values, base_values, output_values)
        return self._explanation(values, base_values, output_values, X, outputs)

    def _explain_texts(
        self,
        texts_raw: Any,
        max_evals: int | str,
        outputs: Any,
        silent: bool,
        check_additivity: bool,
        targets: Any = None,
    ) -> Explanation:
        """Explain texts one by one: each has its own tokens (features) and hierarchy (and,
        for a model that explains a target, its own target and output names)."""
        from shapwise._progress import progress
        from shapwise.text_models import set_text_target

        texts = as_texts(texts_raw)
        targets = None if targets is None else as_texts(targets)
        if targets is not None and len(targets) != len(texts):
            raise ValueError(f"{len(texts)} texts were given with {len(targets)} targets")
        maskers = []
        for i, text in enumerate(texts):  # every text tokenized before the first model call
            try:
                maskers.append(self.masker.for_text(text))
            except ValueError as error:
                raise ValueError(f"text {i}: {error}") from None
        rng = np.random.default_rng(self.seed)
        if isinstance(outputs, OpChain):
            outputs = outputs_by_rank(outputs, self.link(self.model(object_array(texts))))
        row_outputs = select_outputs(outputs, len(texts), None)
        explained = []
        with progress(len(texts), f"{type(self).__name__}", silent) as bar:
            for i, masker in enumerate(maskers):
                target = None if targets is None else targets[i]
                names = set_text_target(self.model, texts[i], target)
                self.output_names = self.output_names if names is None else names
                own_outputs = None if row_outputs is None else row_outputs[i : i + 1]  # (1, k)
                game = CoalitionGame(
                    self.model,
                    masker,
                    masker.x,
                    self.link,
                    outputs=None if own_outputs is None else own_outputs[0],
                    linearize_link=self.linearize_link,
                )
                budget = self._budget(max_evals, masker.shape[1])
                values, base_values, output_values = self.explain_rows(
                    [game], budget, rng, _no_progress
                )
                if check_additivity:
                    self._check_additivity(values, base_values, output_values)
                one = self._explanation(
                    values, base_values, output_values, masker.x[None], own_outputs, masker
                )
                explained.append(one[0])
                bar.update(1)
        if len({np.shape(one.base_values) for one in explained}) > 1:
            raise ValueError(
                "the texts have targets of different numbers of tokens; explain them one at a time"
            )
        return join_texts(explained)

    def shap_values(self, X: Any, **kwargs: Any) -> np.ndarray:
        """The legacy API: the values array, (rows, features) or (rows, features, outputs)."""
        return self(X, **kwargs).values

    @property
    def expected_value(self) -> float | np.ndarray:
        """The base value: the linked mean model output with every feature hidden."""
        if self.masker.per_text:
            raise AttributeError(
                "with a Text masker each text has its own base value (all its tokens hidden); "
                "read it from explanation.base_values"
            )
        if self._expected_value is None:
            x = getattr(self.masker, "data", None)
            if x is None:
                raise AttributeError("expected_value is known after the first explanation")
            game = CoalitionGame(self.model, self.masker, x[0], self.link)
            self._expected_value = game.values(np.zeros((1, self.masker.shape[1]), bool))[0]
        return self._as_output(self._expected_value)

    # --------------------------------------------------------------- helpers
    def _as_output(self, per_output: np.ndarray) -> float | np.ndarray:
        if self.model.single_output and per_output.shape[-1] == 1:
            return float(per_output[..., 0]) if per_output.ndim == 1 else per_output[..., 0]
        return per_output

    def _rows(self, X_raw: Any) -> np.ndarray:
        names = feature_names_of(X_raw)
        if names is not None and self.feature_names is None:
            self.feature_names = names
        X = to_numpy(X_raw, name="the rows to explain")
        if X.ndim < 2 or len(X) == 0:
            raise ValueError(
                f"pass the rows to explain as an array of rows (rows, features...); got shape {X.shape}"
            )
        check_finite(X, "the rows to explain")
        self.masker.check_row(X[0])
        return X

    def _check_additivity(
        self, values: np.ndarray, base_values: np.ndarray, output_values: np.ndarray
    ) -> None:
        n = len(values)
        totals = values.reshape(n, -1, values.shape[-1]).sum(axis=1) + base_values
        error = np.abs(totals - output_values).max()
        dtype = self.model.output_dtype or "float64"
        tolerance = additivity_tolerance(dtype, np.abs(output_values).max())
        if not error <= tolerance:
            raise AdditivityError(
                f"{self.algorithm}: values + base value differ from the model output by {error:.3g} "
                f"(tolerance {tolerance:.3g} for a {dtype} model); please report this with the model"
            )

    def _explanation(
        self,
        values: np.ndarray,
        base_values: np.ndarray,
        output_values: np.ndarray,
        X: np.ndarray,
        outputs: Any,
        masker: Masker | None = None,
    ) -> Explanation:
        """The Explanation of rows ``X``; its clustering is that of ``masker`` (default: the
        explainer's; a text's own masker for a text)."""
        output_names = self.output_names
        indices = select_outputs(outputs, len(X), values.shape[-1])
        if indices is not None:
            values = np.take_along_axis(
                values, indices.reshape(len(X), *([1] * (X.ndim - 1)), -1), -1
            )
            base_values = np.take_along_axis(base_values, indices, axis=1)
            output_values = np.take_along_axis(output_values, indices, axis=1)
            if output_names is not None:
                picked = np.asarray(output_names, dtype=object)[indices]
                same = (indices == indices[0]).all()
                output_names = list(picked[0]) if same else None
        elif self.model.single_output and values.shape[-1] == 1:
            values, base_values, output_values = (
                values[..., 0],
                base_values[:, 0],
                output_values[:, 0],
            )
        return Explanation(
            values,
            base_values=base_values,
            data=X,
            feature_names=self.feature_names,
            output_names=output_names,
            clustering=(self.masker if masker is None else masker).clustering,
            output_values=output_values,
            model_dtype=self.model.output_dtype,
            algorithm=self.algorithm,
        )
