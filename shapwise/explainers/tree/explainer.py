"""TreeExplainer: exact Shapley values of tree ensembles, with shap 0.51's API.

The model is parsed once into the node table (``_table.py``), checked against the model's own
output, and explained by the compiled core (``_core.cpp``):

- ``feature_perturbation="tree_path_dependent"`` (no background): a hidden feature follows the
  training cover of each split, E[f(x) | x_S] under the trees' own distribution (oblivious
  trees, CatBoost's, explain each leaf the rows reach once and sum per-leaf tables,
  ``_oblivious.py``, where the rows are many);
- ``"interventional"`` (a background): E_b[f(x_S, b_rest)] over every background row given;
- ``"auto"``: interventional with a background, path-dependent without, as shap does.

``model_output`` is "raw" (the margin) or, with a background and a logistic / softmax objective,
"probability" (the Shapley values of the probability game E_b[sigmoid(margin(x_S, b_rest))], or
softmax) or "log_loss" (of the labels passed as ``y``). Each (row, background row) pair's game is
enumerated over the coalitions of the features on which the trees send the two rows different
ways, exactly when there are at most ``max_exact_features`` (12) of them; a pair with more is
estimated from antithetic permutations (values that still add up exactly), which a warning and
the additivity error's notes name.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from shapwise.errors import ShapwiseWarning
from shapwise.explainers._driver import (
    Attribution,
    Driver,
    build_explanation,
    check_additivity,
    legacy_expected_value,
)
from shapwise.explanation import Explanation
from shapwise.numeric import align_columns, feature_names_of, to_numpy

from . import _core_calls as core
from . import _oblivious as oblivious
from ._table import IDENTITY, LEFT_IF_IN_CATEGORIES, TreeEnsemble, check_against_model

PERTURBATIONS = ("auto", "tree_path_dependent", "interventional")
MODEL_OUTPUTS = ("raw", "probability", "log_loss")
CHECK_ROWS = 32  # rows the parsed table is checked on against the model
INTERACTION_CHUNK_BYTES = 2**27  # full interaction matrices held at once for chosen features


def read_model(model: Any) -> tuple[TreeEnsemble, Any]:
    """The node table of ``model`` and the function giving the model's own margin (None for a
    table passed as it is).

    Raises:
        TypeError: ``model`` is not a tree model shapwise reads (the message names those it does).
    """
    if isinstance(model, TreeEnsemble):
        return model, None
    from . import parse

    return parse.parse_model(model), parse.model_margin


def is_tree_model(model: Any) -> bool:
    """Whether ``model`` is a tree model TreeExplainer reads (checked by type, nothing imported)."""
    from . import parse

    return isinstance(model, TreeEnsemble) or parse.is_tree_model(model)


def check_rows(ensemble: TreeEnsemble, seed: int = 0) -> np.ndarray:
    """Rows on and around the table's thresholds (and small categories), where a wrongly parsed
    split shows."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(CHECK_ROWS, ensemble.n_features))
    internal = ensemble.left >= 0
    for j in range(ensemble.n_features):
        at = internal & (ensemble.feature == j)
        numeric = ensemble.threshold[at & (ensemble.decision != LEFT_IF_IN_CATEGORIES)]
        numeric = numeric[np.isfinite(numeric)]
        if (at & (ensemble.decision == LEFT_IF_IN_CATEGORIES)).any():
            rows[:, j] = rng.integers(0, 8, size=CHECK_ROWS)
        elif len(numeric):
            picked = rng.choice(numeric, size=CHECK_ROWS)
            step = rng.choice([-1.0, 0.0, 1.0], size=CHECK_ROWS)
            rows[:, j] = picked + step * 1e-3 * np.maximum(np.abs(picked), 1.0)
    rows[rng.random(rows.shape) < 0.05] = np.nan
    return rows


class TreeExplainer(Driver):
    """Exact Tree SHAP values of a tree ensemble.

    Args:
        model: a fitted scikit-learn, xgboost, LightGBM or CatBoost tree model, an ONNX tree
            ensemble, or a parsed TreeEnsemble.
        data: background rows (array, DataFrame or a masker with ``.data``) for interventional
            values; every row is used.
        model_output: "raw", "probability" or "log_loss" (the last two need a background).
        feature_perturbation: "auto", "tree_path_dependent" or "interventional".
        feature_names: labels for the explanation (default: DataFrame columns or the model's).
        n_jobs: threads (default: every core).
        memory_budget: bytes the background's per-leaf patterns may take (beyond: every
            (row, background row) pair is walked, same values).
        check_model: check that the parsed trees predict what the model predicts.
        max_exact_features / permutations: for "probability" and "log_loss", a (row, background
            row) pair whose trees differ on up to ``max_exact_features`` features is explained
            exactly over all their coalitions; beyond, from ``permutations`` antithetic
            permutations (named in a warning and in the additivity error's notes).
    """

    algorithm = "tree"

    def __init__(
        self,
        model: Any,
        data: Any = None,
        model_output: str = "raw",
        feature_perturbation: str = "auto",
        feature_names: list[str] | None = None,
        *,
        output_names: list[str] | None = None,
        n_jobs: int | None = None,
        memory_budget: float = core.DEFAULT_MEMORY_BUDGET,
        check_model: bool = True,
        max_exact_features: int = 12,
        permutations: int = 64,
    ) -> None:
        if feature_perturbation == "independent":  # shap's old name
            feature_perturbation = "interventional"
        if feature_perturbation not in PERTURBATIONS:
            raise ValueError(
                f"feature_perturbation must be one of {PERTURBATIONS}; got {feature_perturbation!r}"
            )
        if model_output not in MODEL_OUTPUTS:
            raise ValueError(f"model_output must be one of {MODEL_OUTPUTS}; got {model_output!r}")
        self.model = model
        self.ensemble, model_margin = read_model(model)
        self.n_jobs = core.default_jobs(n_jobs)
        self.memory_budget = float(memory_budget)
        self.model_output = model_output
        # a scikit-learn forest classifier's raw outputs are its class probabilities already
        # (its boosting classifiers' are log-odds, with a logistic or softmax objective)
        probabilities = (
            self.ensemble.library == "sklearn"
            and hasattr(model, "classes_")
            and self.ensemble.objective == IDENTITY
        )
        self._output = "raw" if model_output == "probability" and probabilities else model_output
        self._data_names: list[str] | None = None
        self.data = None if data is None else self._read_background(data)
        if feature_perturbation == "auto":
            feature_perturbation = "tree_path_dependent" if self.data is None else "interventional"
        if feature_perturbation == "tree_path_dependent" and not self.ensemble.has_covers:
            raise ValueError(
                f"this {self.ensemble.library} {self.ensemble.model_type} stores no training "
                "covers, so tree path-dependent values would not follow the training data: pass "
                "background rows, TreeExplainer(model, data=X_background), for interventional "
                "values"
            )
        if feature_perturbation == "interventional" and self.data is None:
            raise ValueError(
                "feature_perturbation='interventional' needs background data: pass "
                "TreeExplainer(model, data=X_background)"
            )
        if self._output != "raw" and self.data is None:
            raise ValueError(
                f"model_output={model_output!r} needs background data (the tree path-dependent "
                "values are exact only for the raw margin): pass TreeExplainer(model, "
                "data=X_background)"
            )
        if self._output != "raw" and self.ensemble.objective == IDENTITY:
            raise ValueError(
                f"model_output={model_output!r} needs a logistic or softmax objective; this "
                f"{self.ensemble.library} {self.ensemble.model_type} outputs its values directly "
                "(explain model_output='raw')"
            )
        self.max_exact_features = int(max_exact_features)
        self.permutations = int(permutations)
        self._transform = self._transform_code()
        self.feature_perturbation = feature_perturbation
        self.feature_names = (
            list(feature_names)
            if feature_names is not None
            else self._data_names or self.ensemble.feature_names
        )
        self._names_given = feature_names is not None or self._data_names is not None
        if check_model and model_margin is not None:
            self._check_model(model_margin)
        self._single_output = self.ensemble.n_outputs == 1 or model_output == "log_loss"
        self.output_names = None if output_names is None else list(output_names)
        self._base = self._base_values()
        self._tree_limited: TreeExplainer | None = None  # see shap_values(tree_limit=)

    # ------------------------------------------------------------------ construction
    def _read_background(self, data: Any) -> np.ndarray:
        data = getattr(data, "data", data) if not hasattr(data, "shape") else data
        self._data_names = feature_names_of(data)
        data = _category_codes(data, self.model, self.ensemble.library)
        rows = to_numpy(data, name="the background").astype(np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.ensemble.n_features:
            raise ValueError(
                f"the background must have shape (rows, {self.ensemble.n_features}) for this "
                f"model's {self.ensemble.n_features} features; got {rows.shape}"
            )
        if len(rows) == 0:
            raise ValueError("the background has no rows; pass at least one background row")
        return rows

    def _check_model(self, model_margin: Any) -> None:
        rows = check_rows(self.ensemble)
        if self.data is not None:
            rows = np.concatenate([rows, self.data[:CHECK_ROWS]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. scikit-learn on arrays without column names
            try:
                expected = np.asarray(model_margin(self.model, rows))
            except ValueError:  # a model that refuses missing values is checked without them
                rows = np.nan_to_num(rows, nan=0.0)
                expected = np.asarray(model_margin(self.model, rows))
        check_against_model(self.ensemble, rows, expected)

    def _transform_code(self) -> int | None:
        if self._output == "raw":
            return None
        softmax = self.ensemble.n_outputs > 1
        if self._output == "probability":
            return core.SOFTMAX if softmax else core.SIGMOID
        return core.SOFTMAX_LOSS if softmax else core.LOGISTIC_LOSS

    def _base_values(self) -> np.ndarray | None:
        if self.feature_perturbation == "tree_path_dependent":
            return core.expected_margin(self.ensemble)
        margins = core.predict(self.ensemble, self.data, self.n_jobs)
        if self._output == "raw":
            return margins.mean(axis=0)
        if self._output == "probability":
            return core.link(margins, self._transform).mean(axis=0)
        return None  # the log loss's base value depends on each row's label

    def _loss_base(self, labels: np.ndarray) -> np.ndarray:
        """E_b[loss(margin(b), y)] for each label y: (rows, 1)."""
        margins = core.predict(self.ensemble, self.data, self.n_jobs)
        if self._transform == core.LOGISTIC_LOSS:
            mean = np.logaddexp(0.0, margins[:, 0]).mean() - labels * margins[:, 0].mean()
        else:
            top = margins.max(axis=1, keepdims=True)
            log_total = top[:, 0] + np.log(np.exp(margins - top).sum(axis=1))
            mean = log_total.mean() - margins.mean(axis=0)[labels.astype(np.int64)]
        return np.asarray(mean, dtype=np.float64).reshape(-1, 1)

    def _labels(self, y: Any, n_rows: int) -> np.ndarray | None:
        if self._output != "log_loss":
            if y is not None:
                raise ValueError("labels y are only used with model_output='log_loss'")
            return None
        if y is None:
            raise ValueError("model_output='log_loss' explains the loss of labels: pass y")
        labels = np.asarray(to_numpy(y, name="y"), dtype=np.float64).reshape(-1)
        if len(labels) != n_rows:
            raise ValueError(f"y has {len(labels)} labels for {n_rows} rows; pass one per row")
        if self._transform == core.LOGISTIC_LOSS and not ((labels >= 0) & (labels <= 1)).all():
            raise ValueError("the labels of a binary model must lie in [0, 1]")
        return labels

    @property
    def expected_value(self) -> Any:
        """The base value in shap 0.51's layout: a float for one output (an array of one for
        scikit-learn path-dependent models), else one per output (a list for xgboost and LightGBM
        path-dependent models)."""
        limited = getattr(self, "_tree_limited", None)
        if limited is not None:  # the last call's first rounds, as shap
            return limited.expected_value
        if self._output == "log_loss":  # as shap: a function of the label
            return lambda y: self._loss_base(np.atleast_1d(np.asarray(y, np.float64)))[:, 0]
        path_dependent = self.feature_perturbation == "tree_path_dependent"
        if self._single_output and path_dependent and self.ensemble.library == "sklearn":
            return self._base.copy()
        value = legacy_expected_value(self._base, self._single_output)
        if (
            not self._single_output
            and path_dependent
            and self.ensemble.library
            in (
                "xgboost",
                "lightgbm",
            )
        ):
            return [float(v) for v in value]
        return value

    # ------------------------------------------------------------------ explaining
    def _rows(self, X: Any) -> tuple[np.ndarray, list[str] | None]:
        X = _from_dmatrix(X)
        expected = self._data_names or self.ensemble.feature_names
        spelled = _lightgbm_spelling if self.ensemble.library == "lightgbm" else None
        X = align_columns(X, expected, "the rows to explain", spelled)
        names = feature_names_of(X)
        X = _category_codes(X, self.model, self.ensemble.library)
        rows = to_numpy(X, name="the rows to explain").astype(np.float64)
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        n_features = self.ensemble.n_features
        if rows.ndim != 2 or rows.shape[1] != n_features:
            raise ValueError(
                f"the rows to explain must have shape (rows, {n_features}) for this model's "
                f"{n_features} features; got {rows.shape}"
            )
        if len(rows) == 0:
            raise ValueError("there are no rows to explain; pass at least one row")
        return rows, names

    def attribute(self, rows: np.ndarray, y: Any = None, interactions: bool = False) -> Attribution:
        """Values (rows, features[, features], outputs), base values and outputs of ``rows``."""
        labels = self._labels(y, len(rows))
        if self._output != "raw":
            return self._attribute_transformed(rows, labels, interactions)
        if self.feature_perturbation == "tree_path_dependent":
            values = self._path_dependent(rows, interactions)
        else:
            values, _ = core.interventional(
                self.ensemble,
                rows,
                self.data,
                interactions=interactions,
                n_jobs=self.n_jobs,
                memory_budget=self.memory_budget,
            )
        outputs = core.predict(self.ensemble, rows, self.n_jobs)
        base = np.broadcast_to(self._base, outputs.shape).copy()
        return Attribution(values=values, base_values=base, outputs=outputs)

    def _path_dependent(self, rows: np.ndarray, interactions: bool) -> np.ndarray:
        """Path-dependent values: from per-leaf tables where the trees are oblivious and the rows
        many enough for the tables to pay (``_oblivious.py``), else every tree walked per row."""
        levels = oblivious.oblivious_levels(self.ensemble)
        if levels is not None and oblivious.leaf_tables_pay(
            len(rows), self.ensemble, levels, interactions
        ):
            return oblivious.path_dependent(
                self.ensemble, levels, rows, interactions=interactions, n_jobs=self.n_jobs
            )
        return core.path_dependent(
            self.ensemble, rows, interactions=interactions, n_jobs=self.n_jobs
        )

    def _attribute_transformed(
        self, rows: np.ndarray, labels: np.ndarray | None, interactions: bool
    ) -> Attribution:
        if interactions:
            raise ValueError(
                "interaction values are computed for model_output='raw' (the margin); explain "
                "the raw output for interactions"
            )
        values, sampled = core.transformed(
            self.ensemble,
            rows,
            self.data,
            self._transform,
            labels,
            n_jobs=self.n_jobs,
            max_exact=self.max_exact_features,
            permutations=self.permutations,
        )
        margins = core.predict(self.ensemble, rows, self.n_jobs)
        outputs = core.link(margins, self._transform, labels)
        if self._output == "log_loss":
            base = self._loss_base(labels)
        else:
            base = np.broadcast_to(self._base, outputs.shape).copy()
        notes: tuple[str, ...] = ()
        if sampled:
            notes = (
                f"{sampled} of {len(rows) * len(self.data)} (row, background row) pairs differ "
                f"on more than {self.max_exact_features} features; their {self.model_output} "
                f"values were estimated from {self.permutations} antithetic permutations each "
                "(raise max_exact_features for exact values)",
            )
            warnings.warn(notes[0], ShapwiseWarning, stacklevel=4)
        return Attribution(values=values, base_values=base, outputs=outputs, notes=notes)

    def __call__(
        self,
        X: Any,
        y: Any = None,
        interactions: bool = False,
        check_additivity: bool = True,
        silent: bool = False,
    ) -> Explanation:
        """Explain the rows of ``X`` (shap's signature: labels ``y`` for the log loss, pair
        interactions with ``interactions=True``); returns an :class:`Explanation`. ``silent`` is
        taken as the other explainers take it; Tree SHAP shows no progress bar."""
        return super().__call__(
            X, y=y, interactions=interactions, check_additivity=check_additivity
        )

    def explain(
        self,
        X: Any,
        y: Any = None,
        interactions: bool = False,
        check_additivity: bool = True,
        **ignored: Any,
    ) -> Explanation:
        """Explain the rows of ``X``; an :class:`Explanation` (interaction values with
        ``interactions=True``)."""
        rows, names = self._rows(X)
        attribution = self.attribute(rows, y, interactions)
        if check_additivity:
            self._check(attribution, interactions)
        return build_explanation(
            attribution,
            data=rows,
            algorithm=self.algorithm,
            model_dtype="float64",
            single_output=self._single_output,
            # the rows' own column names over the model's spelling of them (LightGBM's)
            feature_names=self.feature_names if self._names_given or not names else names,
            output_names=self.output_names,
        )

    def _check(self, attribution: Attribution, interactions: bool) -> None:
        if interactions:  # each row of the matrix sums to the feature's value
            n_rows, n_features = attribution.values.shape[:2]
            values = attribution.values.reshape(n_rows, n_features * n_features, -1)
            attribution = Attribution(
                values=values,
                base_values=attribution.base_values,
                outputs=attribution.outputs,
                notes=attribution.notes,
            )
        check_additivity(attribution, "float64", "TreeExplainer")

    def shap_values(
        self,
        X: Any,
        y: Any = None,
        tree_limit: int | None = None,
        approximate: bool = False,
        check_additivity: bool = True,
    ) -> np.ndarray:
        """shap's layout: (rows, features) for one output, else (rows, features, outputs); a
        1-D ``X`` gives one row's values. With ``tree_limit`` (xgboost: the first rounds),
        ``expected_value`` is then that of those rounds, until a call without it (as shap)."""
        self._refuse(approximate)
        explainer = self._limited(tree_limit)
        self._tree_limited = None if explainer is self else explainer
        one_row = np.ndim(X) == 1
        values = explainer.explain(X, y, check_additivity=check_additivity).values
        return values[0] if one_row else values

    def shap_interaction_values(
        self,
        X: Any,
        y: Any = None,
        tree_limit: int | None = None,
        features: list[int | str] | None = None,
    ) -> np.ndarray:
        """Pair interactions: (rows, features, features[, outputs]); each row of a matrix sums
        to the feature's Shapley value, off-diagonal entries are half the interaction index.

        ``features`` (positions or names) keeps only those rows and columns of each matrix
        (the diagonal is still each feature's main effect against all others); rows are then
        computed in chunks, so memory grows with the chosen features only.
        """
        limited = self._limited(tree_limit)
        self._tree_limited = None if limited is self else limited
        if limited is not self:
            return limited.shap_interaction_values(X, y, features=features)
        one_row = np.ndim(X) == 1
        if features is None:
            values = self.explain(X, y, interactions=True).values
            return values[0] if one_row else values
        chosen = self._positions(features)
        rows, _ = self._rows(X)
        labels = None if y is None else np.asarray(y).reshape(-1)
        n_features, n_outputs = self.ensemble.n_features, self.ensemble.n_outputs
        chunk = max(1, INTERACTION_CHUNK_BYTES // (8 * n_features * n_features * n_outputs))
        kept = []
        for start in range(0, len(rows), chunk):
            part = slice(start, start + chunk)
            attribution = self.attribute(
                rows[part], None if labels is None else labels[part], interactions=True
            )
            self._check(attribution, True)
            kept.append(attribution.values[:, chosen][:, :, chosen])
        values = np.concatenate(kept)
        if self._single_output:
            values = values[..., 0]
        return values[0] if one_row else values

    def _positions(self, features: list[int | str]) -> np.ndarray:
        names = list(self.feature_names or [])
        positions = []
        for feature in features:
            if isinstance(feature, str):
                if feature not in names:
                    raise ValueError(f"unknown feature {feature!r}; the features are {names}")
                positions.append(names.index(feature))
            elif not 0 <= int(feature) < self.ensemble.n_features:
                raise ValueError(
                    f"feature {feature} is out of range for {self.ensemble.n_features} features"
                )
            else:
                positions.append(int(feature))
        return np.asarray(positions, dtype=np.int64)

    def _limited(self, tree_limit: int | None) -> TreeExplainer:
        """This explainer over the model's first ``tree_limit`` boosting rounds (shap's
        ``tree_limit``, for xgboost models), or itself where there is no limit (None, -1)."""
        if tree_limit is None or tree_limit == -1:
            return self
        if self.ensemble.library != "xgboost":
            raise ValueError(
                f"tree_limit is supported for xgboost models (their first rounds); this is a "
                f"{self.ensemble.library} {self.ensemble.model_type}: explain a model with fewer "
                "trees instead"
            )
        from .parse_xgboost import booster_of

        booster = booster_of(self.model)
        rounds = booster.num_boosted_rounds()
        if not 0 < int(tree_limit) <= rounds:
            raise ValueError(
                f"tree_limit must be between 1 and {rounds} (rounds); got {tree_limit}"
            )
        return TreeExplainer(
            booster[: int(tree_limit)],
            data=self.data,
            model_output=self.model_output,
            feature_perturbation=self.feature_perturbation,
            feature_names=self.feature_names,
            output_names=self.output_names,
            n_jobs=self.n_jobs,
            memory_budget=self.memory_budget,
            max_exact_features=self.max_exact_features,
            permutations=self.permutations,
        )

    @staticmethod
    def _refuse(approximate: bool) -> None:
        if approximate:
            raise ValueError(
                "approximate=True (Saabas values) is not supported: TreeExplainer's values are "
                "exact and fast; leave approximate at False"
            )


Tree = TreeExplainer


def _lightgbm_spelling(name: str) -> str:
    """A column name as LightGBM stores it: spaces written as underscores."""
    return name.replace(" ", "_")


def _from_dmatrix(X: Any) -> Any:
    """An xgboost DMatrix as a DataFrame of its features (a NumPy array when they have no
    names), what it leaves out missing (NaN), as xgboost reads it; anything else unchanged."""
    kind = type(X)
    if kind.__name__ not in ("DMatrix", "QuantileDMatrix") or not kind.__module__.startswith(
        "xgboost"
    ):
        return X
    try:
        stored = X.get_data().tocoo()
    except Exception as error:  # a QuantileDMatrix keeps bins, not values
        raise TypeError(
            f"this xgboost {kind.__name__} does not give back its values ({error}); pass the "
            "rows as an array or DataFrame"
        ) from None
    rows = np.full((X.num_row(), X.num_col()), np.nan)
    rows[stored.row, stored.col] = stored.data
    if X.feature_names is None:
        return rows
    import pandas as pd

    return pd.DataFrame(rows, columns=list(X.feature_names))


def _category_codes(frame: Any, model: Any, library: str) -> Any:
    """A LightGBM model's pandas category columns as the codes it was trained on (its
    ``pandas_categorical``; a category it did not see is missing), as LightGBM's own predict
    reads them; anything else unchanged."""
    booster = getattr(model, "booster_", model)
    trained = getattr(booster, "pandas_categorical", None)
    if library != "lightgbm" or not trained or not hasattr(frame, "dtypes"):
        return frame
    import pandas as pd

    columns = [c for c, dtype in frame.dtypes.items() if isinstance(dtype, pd.CategoricalDtype)]
    if len(columns) != len(trained):
        raise ValueError(
            f"this LightGBM model was trained on {len(trained)} category columns; the rows "
            f"have {len(columns)} ({', '.join(map(repr, columns)) or 'none'})"
        )
    coded = frame.copy()
    for column, categories in zip(columns, trained, strict=True):
        code = {category: float(i) for i, category in enumerate(categories)}
        coded[column] = frame[column].astype(object).map(code).astype(np.float64)
    return coded
