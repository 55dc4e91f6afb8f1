"""The coalition estimators' part of the driver: rows in, one coalition game per explanation,
an :class:`Attribution` out (Exact, Permutation, Partition and Kernel subclass it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from shapwise.explainers._driver import (
    Attribution,
    Driver,
    build_explanation,
    check_additivity,
    check_batch_size,
    check_names,
    outputs_by_rank,
    picked_output_names,
    select_outputs,
)
from shapwise.explainers._game import CoalitionGame, RowGame
from shapwise.explainers._seeds import RowSeeds, root_seed, text_keys
from shapwise.explanation import Explanation, OpChain, join_texts, object_array
from shapwise.links import Link, get_link
from shapwise.maskers._base import CallableMasker, Masker
from shapwise.maskers.tabular import Independent
from shapwise.models import Model, as_model
from shapwise.numeric import align_columns, check_finite, read_table

# values (rows, M, O), base values (rows, O), outputs (rows, O), and optionally the values'
# standard errors (rows, M, O), for sampling estimators that know them
Estimate = tuple[np.ndarray, ...]


def estimate_attribution(estimate: Estimate, value_shape: tuple[int, ...]) -> Attribution:
    """The :class:`Attribution` of an estimate, its values (and standard errors) shaped
    (rows, *value_shape, outputs)."""
    values, base_values, outputs = estimate[:3]
    errors = estimate[3] if len(estimate) > 3 else None
    shape = (len(values), *value_shape, values.shape[-1])
    return Attribution(
        values.reshape(shape),
        base_values,
        outputs,
        standard_errors=None if errors is None else errors.reshape(shape),
    )


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


def _known_width(masker: Masker) -> int | None:
    """The masker's number of features, or None while a function masker has not masked a row."""
    try:
        return masker.shape[1]
    except ValueError:
        return None


class ExplainerBase(Driver):
    """A coalition estimator: subclasses say how to turn the coalition game into values.

    Args:
        model: a function of a 2-D array, a torch module, a Keras model or an sklearn estimator.
        masker: a masker, or background data (wrapped in ``maskers.Independent``).
        link: 'identity' or 'logit': the space in which the values add up.
        feature_names / output_names: labels for the explanation.
        batch_size: the most rows passed to the model at once.
        seed: root seed of the random choices (sampling explainers): each row draws from a
            generator seeded by (seed, a hash of the row), so its values do not depend on the
            other rows of the call (None: a fresh root each call; a call's ``seed=`` overrides).
    """

    algorithm = "base"
    # what this estimator never attributes exactly, added to every explanation's notes
    estimator_notes: tuple[str, ...] = ()
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
        self.model: Model = as_model(model, check_batch_size(batch_size))
        self.masker = as_masker(masker)
        self.model.expect_columns(self.masker.columns)
        self.link = get_link(link)
        width = None if self.masker.per_text else _known_width(self.masker)
        self.feature_names = check_names(feature_names, width, "feature") or (
            self.masker.feature_names
        )
        self.output_names = check_names(output_names, None, "output") or getattr(
            self.model, "output_names", None
        )
        self.seed = seed

    # --------------------------------------------------------------- estimator hooks
    def estimate_row(
        self, row: RowGame, max_evals: int, rng: np.random.Generator, **options: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (values (n_features, n_outputs), base value (n_outputs,), output (n_outputs,))."""
        raise NotImplementedError

    def estimate(
        self,
        game: CoalitionGame,
        max_evals: int,
        seeds: RowSeeds,
        done: Callable[[int], Any],
        **options: Any,
    ) -> Estimate:
        """Explain every row of ``game`` (``done(n)`` after each n rows): values (rows, M, O),
        base values (rows, O) and outputs (rows, O); one row at a time unless overridden.

        ``seeds.row(i)`` is row i's random generator."""
        rows = []
        for index in range(game.n_rows):
            rows.append(self.estimate_row(game.row(index), max_evals, seeds.row(index), **options))
            done(1)
        return tuple(np.stack(part) for part in zip(*rows, strict=True))  # type: ignore[return-value]

    def default_max_evals(self, n_features: int) -> int:
        return 500

    def check_budget(self, max_evals: int, n_features: int) -> None:
        """Raise a ValueError when ``max_evals`` is below what this estimator needs."""
        if max_evals < 2:
            raise ValueError(f"max_evals must be at least 2; got {max_evals}")

    # --------------------------------------------------------------- the call
    def __call__(self, *args: Any, **options: Any) -> Any:
        """Explain ``X``; texts may come with a target text each, ``explainer(prompts,
        targets)``, for a model that explains a target (``models.TeacherForcing``)."""
        if len(args) == 2 and self.masker.per_text:
            return self.explain(args[0], targets=args[1], **options)
        return super().__call__(*args, **options)

    def explain(
        self,
        X: Any,
        max_evals: int | str = "auto",
        batch_size: int | str | None = "auto",
        outputs: Any = None,
        silent: bool = False,
        check_additivity: bool = True,
        **options: Any,
    ) -> Explanation:
        """Explain the rows of ``X``; returns an :class:`Explanation`.

        ``batch_size`` (rows per model call) holds for this call only; ``options`` are the
        estimator's own per-call options.
        """
        call = {
            "max_evals": max_evals,
            "batch_size": check_batch_size(batch_size),
            "outputs": outputs,
            "silent": silent,
            "check_additivity": check_additivity,
            **options,
        }
        if self.masker.per_text:
            return self._explain_texts(X, **call)
        return self._explain_rows(X, **call)

    def _budget(self, max_evals: int | str, n_features: int) -> int:
        budget = self.default_max_evals(n_features) if max_evals == "auto" else int(max_evals)
        self.check_budget(budget, n_features)
        return budget

    def _explain_rows(
        self,
        X_raw: Any,
        max_evals: int | str,
        batch_size: int | None,
        outputs: Any,
        silent: bool,
        check_additivity: bool,
        **options: Any,
    ) -> Explanation:
        """Explain rows that share one feature layout (tables, images)."""
        from shapwise._progress import progress

        X, call_names = self._rows(X_raw)
        budget = self._budget(max_evals, self.masker.shape[1])
        feature_names = self.feature_names or call_names
        check_names(feature_names, self.masker.shape[1], "feature")
        seeds = RowSeeds.of_rows(options.pop("seed", self.seed), X)
        if isinstance(outputs, OpChain):  # e.g. Explanation.argsort.flip[:3]: top outputs
            outputs = outputs_by_rank(outputs, self.link(self.model(X, batch_size)))
        game = CoalitionGame(
            self.model,
            self.masker,
            X,
            self.link,
            outputs=select_outputs(outputs, len(X), None),
            linearize_link=self.linearize_link,
            batch_size=batch_size,
        )
        with progress(len(X), f"{type(self).__name__}", silent) as bar:
            estimate = self.estimate(game, budget, seeds, bar.update, **options)
        attribution = estimate_attribution(estimate, X.shape[1:])
        return self._finish(attribution, outputs, X, feature_names, self.masker, check_additivity)

    def _explain_texts(
        self,
        texts_raw: Any,
        max_evals: int | str,
        batch_size: int | None,
        outputs: Any,
        silent: bool,
        check_additivity: bool,
        targets: Any = None,
        **options: Any,
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
        root = root_seed(options.pop("seed", self.seed))
        # a text's key: the text, and its target when it has one
        keyed = texts
        if targets is not None:
            keyed = [f"{text}\x00{target}" for text, target in zip(texts, targets, strict=True)]
        keys = text_keys(keyed)
        if isinstance(outputs, OpChain):
            model_outputs = self.model(object_array(texts), batch_size)
            outputs = outputs_by_rank(outputs, self.link(model_outputs))
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
                    masker.x[None],
                    self.link,
                    outputs=own_outputs,
                    linearize_link=self.linearize_link,
                    batch_size=batch_size,
                )
                budget = self._budget(max_evals, masker.shape[1])
                seeds = RowSeeds(root, keys[i : i + 1])
                estimate = self.estimate(game, budget, seeds, _no_progress, **options)
                attribution = estimate_attribution(estimate, estimate[0].shape[1:-1])
                one = self._finish(
                    attribution, own_outputs, masker.x[None], None, masker, check_additivity
                )
                explained.append(one[0])
                bar.update(1)
        if len({np.shape(one.base_values) for one in explained}) > 1:
            raise ValueError(
                "the texts have targets of different numbers of tokens; explain them one at a time"
            )
        return join_texts(explained)

    def _finish(
        self,
        attribution: Attribution,
        outputs: Any,
        X: np.ndarray,
        feature_names: list[str] | None,
        masker: Masker,
        check: bool,
    ) -> Explanation:
        """The chosen outputs of ``attribution``, checked, as the Explanation of rows ``X``; its
        clustering is that of ``masker`` (a text's own masker for a text)."""
        indices = select_outputs(outputs, len(X), attribution.values.shape[-1])
        if indices is not None:
            attribution = attribution.take_outputs(indices)
        if self.estimator_notes:
            attribution = replace(attribution, notes=(*attribution.notes, *self.estimator_notes))
        if check:
            check_additivity(attribution, self.model.output_dtype, self.algorithm)
        check_names(
            self.output_names, attribution.outputs.shape[-1] if indices is None else None, "output"
        )
        return build_explanation(
            attribution,
            data=X,
            algorithm=self.algorithm,
            model_dtype=self.model.output_dtype,
            single_output=bool(self.model.single_output) and indices is None,
            feature_names=feature_names,
            output_names=picked_output_names(self.output_names, indices),
            clustering=masker.clustering,
        )

    # --------------------------------------------------------------- legacy API
    def shap_values(self, X: Any, **kwargs: Any) -> np.ndarray:
        """The legacy API: the values array, (rows, features) or (rows, features, outputs)."""
        return self(X, **kwargs).values

    @property
    def expected_value(self) -> float | np.ndarray:
        """The base value: the linked mean model output with every feature hidden."""
        from shapwise.explainers._driver import legacy_expected_value

        if self.masker.per_text:
            raise AttributeError(
                "with a Text masker each text has its own base value (all its tokens hidden); "
                "read it from explanation.base_values"
            )
        background = self.masker.data
        if background is None:
            raise AttributeError(
                "expected_value needs a masker with background data; read it from "
                "explanation.base_values"
            )
        base = getattr(self, "_base_value", None)  # one model pass over the background, once
        if base is None:
            game = CoalitionGame(self.model, self.masker, background[:1], self.link)
            base = self._base_value = game.values(np.zeros((1, self.masker.shape[1]), bool))[0]
        return legacy_expected_value(base, bool(self.model.single_output))

    # --------------------------------------------------------------- helpers
    def _rows(self, X_raw: Any) -> tuple[np.ndarray, list[str] | None]:
        """The rows to explain, their columns matched by name to the background's, and the
        names of this call's DataFrame."""
        columns = self.masker.columns
        if columns is not None:
            X_raw = align_columns(X_raw, columns.names, "the rows to explain")
        table = read_table(X_raw, name="the rows to explain")
        X = table.values
        if X.ndim < 2 or len(X) == 0:
            raise ValueError(
                "pass the rows to explain as an array of at least one row (rows, features...); "
                f"got shape {X.shape}"
            )
        check_finite(X, "the rows to explain")
        self.masker.check_row(X[0])
        return X, table.names
