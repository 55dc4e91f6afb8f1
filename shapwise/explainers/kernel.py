"""KernelSHAP: Shapley values as a constrained, Shapley-kernel-weighted regression over coalitions.

The Shapley values of a game v are the coefficients phi of the linear model
v(S) - v(empty) ~ sum_{i in S} phi_i that best fits every coalition S under the Shapley kernel
weights, with the constraint sum(phi) = v(full) - v(empty). The constraint is solved exactly, so
the values always add up to the model output. Within a budget of ``max_evals`` coalitions:

- the sizes whose coalitions the budget covers in full (the smallest and largest first, where the
  kernel weight is highest) are enumerated, with their exact weights;
- the other sizes are sampled without replacement, stratified by size (each size gets its share of
  the samples and exactly its share of the kernel weight), and every sample comes with its
  complement (paired sampling cancels the even-order terms of the fit);
- by default the values are regression-adjusted (``_kernel_surrogate``: a pairwise fit and a
  surrogate of the game take over what they can explain); ``regression_adjustment=False`` gives
  plain KernelSHAP, the linear fit alone.

With a budget of 2^M coalitions every coalition is evaluated and the values are exact.
"""

from __future__ import annotations

import re
from math import comb
from typing import Any

import numpy as np

from shapwise.explainers._base import ExplainerBase
from shapwise.explainers._coalitions import all_coalitions, coalitions_of_size, shapley_from_table
from shapwise.explainers._driver import is_lazy
from shapwise.explainers._game import RowGame
from shapwise.explainers._kernel_inputs import (
    ArrayModel,
    FrameModel,
    as_frame,
    dense,
    is_sparse,
    is_text_array,
    kernel_link,
    not_equal,
)
from shapwise.explainers._kernel_surrogate import adjusted_kernel_values
from shapwise.explainers._regression import linear_kernel_values
from shapwise.explanation import Explanation
from shapwise.links import Link
from shapwise.maskers._base import Masker
from shapwise.maskers.tabular import Independent

# l1_reg="auto" selects features (AIC) when less than this share of the coalitions is evaluated.
AUTO_L1_FRACTION = 0.2

# "rank(k)" is the older spelling of "num_features(k)" that shap's README examples still use.
_NUM_FEATURES = re.compile(r"^(?:num_features|rank)\((\d+)\)$")


# ------------------------------------------------------------------------------------ sampling plan
def size_weight(n_features: int, size: int) -> float:
    """Total Shapley-kernel weight of all coalitions of ``size`` (up to a common factor)."""
    return (n_features - 1) / (size * (n_features - size))


def _size_groups(n_features: int) -> list[tuple[int, ...]]:
    """Coalition sizes paired with their complements' sizes: (1, M-1), (2, M-2), ..., (M/2,)."""
    return [
        (size,) if 2 * size == n_features else (size, n_features - size)
        for size in range(1, n_features // 2 + 1)
    ]


def _group_count(n_features: int, group: tuple[int, ...]) -> int:
    return sum(comb(n_features, size) for size in group)


def _group_weight(n_features: int, group: tuple[int, ...]) -> float:
    return sum(size_weight(n_features, size) for size in group)


def _sample_pairs(n_features: int, size: int, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """``n_pairs`` distinct coalitions of ``size`` (distinct up to complement when 2*size == M)."""
    self_complementary = 2 * size == n_features
    seen: set[bytes] = set()
    chosen: list[np.ndarray] = []
    while len(chosen) < n_pairs:
        order = rng.random((2 * (n_pairs - len(chosen)) + 4, n_features)).argsort(axis=1)
        candidates = np.zeros(order.shape, dtype=bool)
        np.put_along_axis(candidates, order[:, :size], True, axis=1)
        for mask in candidates:
            key = mask if not self_complementary or mask[0] else ~mask
            code = np.packbits(key).tobytes()
            if code not in seen:
                seen.add(code)
                chosen.append(mask)
                if len(chosen) == n_pairs:
                    break
    return np.array(chosen, dtype=bool).reshape(-1, n_features)


def plan_coalitions(
    n_features: int, n_samples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Coalitions (K, M) other than the empty and full ones, with their regression weights (K,).

    Size groups (s, M-s) are enumerated in full, smallest s first, while the budget's share of a
    group (in proportion to its kernel weight) covers all its coalitions. The rest of the budget
    is split over the remaining groups in proportion to their kernel weight; each is sampled
    without replacement in complement pairs, and its coalitions share the group's kernel weight.
    """
    groups = _size_groups(n_features)
    masks: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    left = n_samples
    while groups:
        group = groups[0]
        count = _group_count(n_features, group)
        total = sum(_group_weight(n_features, g) for g in groups)
        share = left * _group_weight(n_features, group) / total
        if count > left or share < count - 1e-9:
            break
        for size in group:
            enumerated = coalitions_of_size(n_features, size)
            masks.append(enumerated)
            weights.append(
                np.full(len(enumerated), size_weight(n_features, size) / len(enumerated))
            )
        left -= count
        groups.pop(0)
    if not groups or left < 2:
        if not masks:  # a budget of just the empty and full coalitions
            return np.zeros((0, n_features), dtype=bool), np.zeros(0)
        return np.concatenate(masks), np.concatenate(weights)
    # Whole complement pairs per group, in proportion to kernel weight, largest remainders first.
    total = sum(_group_weight(n_features, g) for g in groups)
    wanted = np.array([left / 2 * _group_weight(n_features, g) / total for g in groups])
    available = np.array([_group_count(n_features, g) // 2 for g in groups])
    pairs = np.minimum(np.floor(wanted).astype(np.int64), available)
    spare = left // 2 - int(pairs.sum())
    for index in np.argsort(-(wanted - pairs)):
        if spare <= 0:
            break
        if pairs[index] < available[index]:
            pairs[index] += 1
            spare -= 1
    for group, n_pairs in zip(groups, pairs, strict=True):
        if n_pairs == 0:
            continue
        sampled = _sample_pairs(n_features, group[0], int(n_pairs), rng)
        both = np.concatenate([sampled, ~sampled])
        sizes = both.sum(axis=1)
        masks.append(both)
        # each size of the group keeps exactly its kernel weight, shared by its sampled coalitions
        per_size = {
            size: size_weight(n_features, size) / np.count_nonzero(sizes == size)
            for size in np.unique(sizes)
        }
        weights.append(np.array([per_size[size] for size in sizes]))
    return np.concatenate(masks), np.concatenate(weights)


# ------------------------------------------------------------------------------------ feature selection
def check_l1_reg(l1_reg: Any) -> Any:
    """Validate an ``l1_reg`` option; returns it unchanged (False for None/0)."""
    if l1_reg is None or l1_reg is False or (isinstance(l1_reg, (int, float)) and l1_reg == 0):
        return False
    if isinstance(l1_reg, str):
        if l1_reg in ("auto", "aic", "bic") or _NUM_FEATURES.match(l1_reg):
            return l1_reg
    elif isinstance(l1_reg, (int, float)) and not isinstance(l1_reg, bool) and l1_reg > 0:
        return float(l1_reg)
    raise ValueError(
        f"unknown l1_reg {l1_reg!r}; use False, 'auto', 'aic', 'bic', 'num_features(k)' "
        "(or 'rank(k)') or a positive float (the Lasso alpha)"
    )


def select_features(
    l1_reg: Any,
    masks: np.ndarray,
    weights: np.ndarray,
    targets: np.ndarray,
    total: float,
) -> np.ndarray:
    """Indices of the features an l1-penalised fit keeps (at least one), for one output.

    The efficiency constraint enters softly, by fitting each coalition from both ends: v(S) -
    v(empty) from the features in S and v(S) - v(full) from the features outside S.
    """
    from sklearn.linear_model import Lasso, LassoLarsIC, lars_path

    n = masks.shape[1]
    sizes = masks.sum(axis=1)
    z = masks.astype(np.float64)
    root = np.sqrt(np.concatenate([weights * (n - sizes), weights * sizes]))
    design = root[:, None] * np.vstack([z, z - 1.0])
    target = root * np.concatenate([targets, targets - total])
    if isinstance(l1_reg, str) and _NUM_FEATURES.match(l1_reg):
        keep = int(_NUM_FEATURES.match(l1_reg).group(1))
        chosen = lars_path(design, target, max_iter=keep)[1]
    elif l1_reg in ("aic", "bic"):
        spread = design.std(axis=0)
        spread[spread == 0] = 1.0
        fit = LassoLarsIC(criterion=l1_reg, fit_intercept=False).fit(design / spread, target)
        chosen = np.flatnonzero(fit.coef_)
    else:
        fit = Lasso(alpha=float(l1_reg), fit_intercept=False).fit(design, target)
        chosen = np.flatnonzero(fit.coef_)
    chosen = np.unique(np.asarray(chosen, dtype=np.int64))
    if len(chosen) == 0:  # keep the first feature to enter, so the values still add up
        chosen = np.asarray(lars_path(design, target, max_iter=1)[1], dtype=np.int64)[:1]
    return chosen


# ------------------------------------------------------------------------------------ explainer
def _as_background(data: Any) -> Masker:
    """A masker from background data, a masker, or a weighted summary (shap's DenseData too)."""
    from shapwise.background import WeightedBackground

    if isinstance(data, Masker):
        return data
    if data is None or isinstance(data, (str, bytes)):
        raise (ValueError if data is None else TypeError)(
            "KernelExplainer needs background data (rows, features) to hide features, e.g. "
            f"KernelExplainer(model, shapwise.kmeans(X_train, 10)); got {data!r}"
        )
    data = dense(data)  # shap takes scipy sparse backgrounds (CSR, CSC, ...)
    if hasattr(data, "weights") and hasattr(data, "data") and not hasattr(data, "shape"):
        names = getattr(data, "group_names", None)
        return WeightedBackground(data.data, data.weights, feature_names=names)
    rows = np.asarray(data) if not hasattr(data, "shape") else data
    return Independent(data, max_samples=max(len(rows), 1))


class KernelExplainer(ExplainerBase):
    """KernelSHAP with exact small and large coalition sizes, paired stratified sampling for the
    rest, and by default a regression adjustment (a pairwise fit and a surrogate of the game, see
    ``_kernel_surrogate``); always additive.

    Args:
        model: a function of a 2-D array, torch module, Keras model or sklearn estimator.
        data: background rows (array, DataFrame or scipy sparse matrix, all of them are used),
            ``shapwise.kmeans(X, k)`` / ``shapwise.sample(X, n)``, shap's ``DenseData``, or any
            masker.
        feature_names: names of the features (taken from a DataFrame otherwise).
        link: 'identity' or 'logit': values add up to link(output); v(S) is the link of the
            background-averaged output, as in shap's KernelExplainer. As there, 'logit' reads
            probabilities of exactly 0 or 1 as 1e-15 from them, so certain predictions get
            finite log-odds.
        l1_reg: default feature selection, see :meth:`shap_values`.
        nsamples: default number of sampled coalitions of a call ("auto": 2M + 2048).
        regression_adjustment: False for plain KernelSHAP (the kernel-weighted linear fit only).
        seed / random_state: seed of the coalition sampling (``random_state`` is shap's name).
        keep_index: the model is given DataFrames with the background's columns (shap's
            ``keep_index``; the model sees the columns by name, the rows' index is not kept).
        keep_index_ordered: accepted with ``keep_index``, as shap does; it changes nothing here.
    """

    algorithm = "kernel"

    def __init__(
        self,
        model: Any,
        data: Any,
        feature_names: list[str] | None = None,
        link: str | Link = "identity",
        *,
        output_names: list[str] | None = None,
        l1_reg: Any = False,
        nsamples: int | str = "auto",
        regression_adjustment: bool = True,
        batch_size: int | None = None,
        seed: int | None = 0,
        random_state: int | None = None,
        keep_index: bool = False,
        keep_index_ordered: bool = False,
    ) -> None:
        data = dense(data)
        self._text_dtype = data.dtype if is_text_array(data) else None
        if self._text_dtype is not None:  # strings or objects, for a model that encodes them
            model, data = ArrayModel(model, self._text_dtype), as_frame(data)
        masker = _as_background(data)
        if keep_index:
            model = _frame_model(model, data)
        super().__init__(
            model,
            masker,
            link=kernel_link(link),
            feature_names=feature_names,
            output_names=output_names,
            batch_size=batch_size,
            seed=seed if random_state is None else random_state,
        )
        self.l1_reg = check_l1_reg(l1_reg)
        self.nsamples = _check_nsamples(nsamples)
        self.regression_adjustment = bool(regression_adjustment)
        self.keep_index = bool(keep_index)
        self.keep_index_ordered = bool(keep_index_ordered)

    not_equal = staticmethod(not_equal)

    def default_max_evals(self, n_features: int) -> int:
        """shap's default: 2M + 2048 sampled coalitions, plus the empty and full ones (or the
        constructor's ``nsamples``)."""
        if self.nsamples != "auto":
            return int(self.nsamples) + 2
        return 2 * n_features + 2048 + 2

    def check_budget(self, max_evals: int, n_features: int) -> None:
        """Coalitions come in complement pairs, and for a linear fit a pair tells only one thing
        more than the constraint does: the regression needs M - 1 pairs at the very least, and
        is well determined from M pairs, 2M sampled coalitions (unless the budget covers every
        coalition)."""
        super().check_budget(max_evals, n_features)
        least = 2 * n_features
        if max_evals < 2**n_features and max_evals - 2 < least:
            raise ValueError(
                f"KernelExplainer needs at least {least} sampled coalitions for {n_features} "
                f"features (nsamples >= {least}, i.e. max_evals >= {least + 2}); got nsamples "
                f"= {max_evals - 2}. Fewer leave the regression undetermined"
            )

    # --------------------------------------------------------------- shap's attributes
    @property
    def data_feature_names(self) -> list[str] | None:
        """The feature names (given, or the background DataFrame's), as shap names them."""
        return self.feature_names

    @property
    def N(self) -> int:
        """The number of background rows."""
        return len(self.masker.data)

    @property
    def P(self) -> int:
        """The number of features."""
        return self.masker.shape[1]

    @property
    def fnull(self) -> np.ndarray:
        """The background-averaged model output, one per output (before the link)."""
        return np.atleast_1d(self.link.inverse(np.asarray(self.expected_value, np.float64)))

    @property
    def vector_out(self) -> bool:
        """Whether the model has an output axis (shap's name)."""
        self.expected_value  # noqa: B018 (calls the model once, which tells its outputs)
        return not self.model.single_output

    @property
    def D(self) -> int:
        """The number of model outputs."""
        return len(self.fnull)

    # --------------------------------------------------------------- public API
    def __call__(self, *args: Any, **options: Any) -> Any:
        """Explain rows (an Explanation); one row (1-D, or a pandas Series) gives the
        Explanation of that row, values (features[, outputs])."""
        if len(args) == 2 and self.masker.per_text:
            return self._explanation(args[0], targets=args[1], **options)
        if len(args) != 1:
            raise TypeError("pass the rows to explain as one array, DataFrame or tensor")
        X = args[0]
        if is_lazy(X):
            from shapwise._dask import explain_lazily

            return explain_lazily(self, X, **options)
        if not self.masker.per_text and _is_one_row(X):
            return self._explanation(_as_one_row(X), **options)[0]
        return self._explanation(X, **options)

    def _explanation(
        self,
        X: Any,
        max_evals: int | str = "auto",
        l1_reg: Any = None,
        nsamples: int | str | None = None,
        gc_collect: bool = False,
        **options: Any,
    ) -> Explanation:
        """The Explanation of rows ``X``; ``max_evals`` counts coalitions, including the empty
        and full ones (``nsamples``, shap's count, leaves those two out)."""
        if nsamples is not None and nsamples != "auto":
            max_evals = int(nsamples) + 2
        chosen = self.l1_reg if l1_reg is None else check_l1_reg(l1_reg)
        X = dense(X)
        if self._text_dtype is not None and isinstance(X, np.ndarray):
            X = as_frame(X)
        return super().explain(X, max_evals=max_evals, l1_reg=chosen, **options)

    def explain(self, incoming_instance: Any, **kwargs: Any) -> np.ndarray:
        """shap's one-row call: the values of one row (1-D, (1, M), or a pandas Series) as an
        array (features,) or (features, outputs). Takes the options of :meth:`shap_values`."""
        row = _as_one_row(incoming_instance)
        kwargs.pop("silent", None)
        return np.asarray(self._explanation(row, silent=True, **kwargs).values[0])

    def shap_values(  # type: ignore[override]
        self,
        X: Any,
        nsamples: int | str = "auto",
        l1_reg: Any = None,
        silent: bool = False,
        gc_collect: bool = False,
    ) -> np.ndarray:
        """Values in shap 0.51's layout: (rows, features), or (rows, features, outputs) for a
        model with several outputs; a single row (1-D ``X`` or a pandas Series) drops the rows
        axis.

        Args:
            X: rows (array, DataFrame, scipy sparse matrix), or one row.
            nsamples: coalitions to evaluate besides the empty and full ones ("auto": the
                constructor's, else 2M + 2048).
            l1_reg: feature selection before the regression, for budgets far below 2^M:
                'num_features(k)' (or 'rank(k)') keeps k features (LARS), 'aic' / 'bic' choose
                the number by an information criterion, a float is a Lasso penalty, 'auto' uses
                'aic' when fewer than 20% of the coalitions are evaluated, False (the default,
                unlike shap's 'num_features(10)') keeps every feature. Unselected features get 0
                and the selected ones still add up to the output.
            silent: hide the progress bar.
            gc_collect: accepted for shap compatibility; nothing is kept between rows here.
        """
        from shapwise.errors import DimensionError

        X = dense(X)
        if not self.masker.per_text and np.ndim(X) not in (1, 2):
            raise DimensionError(
                f"Instance must have 1 or 2 dimensions! Got shape {np.shape(X)}; pass rows "
                "(rows, features) or one row (features,)"
            )
        one_row = not self.masker.per_text and _is_one_row(X)  # texts: a list is many rows
        rows = _as_one_row(X) if one_row else X
        values = self._explanation(rows, nsamples=nsamples, l1_reg=l1_reg, silent=silent).values
        return values[0] if one_row else values

    # --------------------------------------------------------------- one row
    def estimate_row(
        self, game: RowGame, max_evals: int, rng: np.random.Generator, **options: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        l1_reg = options.get("l1_reg", self.l1_reg)
        n = game.n_features
        varying = _varying_features(game)
        m = len(varying)
        ends = np.zeros((2, n), dtype=bool)
        ends[1] = True
        exact = m <= 30 and 2**m <= max_evals
        if exact and (m <= 1 or not l1_reg or l1_reg == "auto"):
            table = game.values(_expand(all_coalitions(m), varying, n))
            values = np.zeros((n, table.shape[1]))
            values[varying] = shapley_from_table(table, m)
            return values, table[0], table[-1]
        if exact:
            masks = all_coalitions(m)[1:-1]
            sizes = masks.sum(axis=1)
            weights = np.array([size_weight(m, s) / comb(m, s) for s in sizes])
        else:
            masks, weights = plan_coalitions(m, max_evals - 2, rng)
        table = game.values(np.concatenate([ends, _expand(masks, varying, n)]))
        empty, full, sampled = table[0], table[1], table[2:]
        values = np.zeros((n, table.shape[1]))
        if m > 0:
            fraction = (len(masks) + 2) / 2.0**m
            values[varying] = self._solve(
                masks, weights, sampled - empty, full - empty, fraction, l1_reg
            )
        return values, empty, full

    def _solve(
        self,
        masks: np.ndarray,
        weights: np.ndarray,
        targets: np.ndarray,
        total: np.ndarray,
        fraction: float,
        l1_reg: Any,
    ) -> np.ndarray:
        m = masks.shape[1]
        if l1_reg == "auto":
            l1_reg = "aic" if fraction < AUTO_L1_FRACTION else False
        if not l1_reg:
            adjusted = None
            if self.regression_adjustment:
                adjusted = adjusted_kernel_values(masks, weights, targets, total)
            if adjusted is not None:
                return adjusted
            return linear_kernel_values(masks, weights, targets, total)
        values = np.zeros((m, targets.shape[1]))
        for output in range(targets.shape[1]):
            kept = select_features(l1_reg, masks, weights, targets[:, output], float(total[output]))
            values[kept, output] = linear_kernel_values(
                masks[:, kept], weights, targets[:, output : output + 1], total[output : output + 1]
            )[:, 0]
        return values


def _check_nsamples(nsamples: int | str) -> int | str:
    if isinstance(nsamples, str) and nsamples == "auto":
        return nsamples
    if isinstance(nsamples, bool) or not isinstance(nsamples, (int, np.integer)) or nsamples < 1:
        raise ValueError(f"nsamples must be a positive integer or 'auto'; got {nsamples!r}")
    return int(nsamples)


def _is_one_row(X: Any) -> bool:
    """A pandas Series or a 1-D array: one row of features."""
    if type(X).__name__ == "Series" and type(X).__module__.startswith("pandas"):
        return True
    return not is_sparse(X) and not hasattr(X, "columns") and np.ndim(X) == 1


def _as_one_row(X: Any) -> Any:
    """One row (1-D, a Series, or already (1, M)) as a (1, M) array or one-row DataFrame."""
    if type(X).__name__ == "Series" and type(X).__module__.startswith("pandas"):
        return X.to_frame().T if X.index.is_unique else np.asarray(X)[None]
    X = dense(X)
    if hasattr(X, "columns"):
        return X
    return np.asarray(X).reshape(1, -1) if np.ndim(X) == 1 else X


def _frame_model(model: Any, data: Any) -> FrameModel:
    """``model`` fed DataFrames with the background's columns (``keep_index``)."""
    columns = getattr(data, "columns", None)
    if columns is None:
        raise ValueError(
            "keep_index=True gives the model DataFrames with the background's columns; pass the "
            "background as a pandas DataFrame"
        )
    return FrameModel(model, list(columns))


def _expand(masks: np.ndarray, varying: np.ndarray, n_features: int) -> np.ndarray:
    """Masks over the varying features as masks over all features (the others hidden)."""
    full = np.zeros((len(masks), n_features), dtype=bool)
    full[:, varying] = masks
    return full


def _varying_features(game: RowGame) -> np.ndarray:
    """Features whose value in the row differs from some background row.

    A feature equal to the row's value in every background row cannot change the model input, so
    its Shapley value is exactly 0; leaving it out of the regression spends the budget on the
    others. Known for maskers that declare the background rows hidden features are taken from.
    """
    n = game.n_features
    background = game.masker.data
    if background is None:
        return np.arange(n)
    x = np.asarray(game.x).reshape(-1)
    if background.ndim != 2 or background.shape[1] != n or x.shape[0] != n:
        return np.arange(n)
    return np.flatnonzero(np.any(background != x[None, :], axis=0))


Kernel = KernelExplainer
