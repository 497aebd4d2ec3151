"""Single-feature ROC AUC against a label: how well one feature alone predicts the label.

A feature that predicts the training label almost perfectly on its own (AUC near 1) is
usually a leak: the label, or something computed after it, copied into the features.

- Numeric feature: the Mann-Whitney AUC of the raw values (average ranks with numpy),
  folded so that a perfectly decreasing relation counts too: ``max(auc, 1 - auc)``.
  Computed on a uniform sample of at most ``sample_size`` labelled rows (bottom-k on seeded
  random keys, so the sample does not depend on chunk boundaries), which bounds memory at
  ``sample_size * (features + 2) * 8`` bytes.
- Categorical feature: each row is scored by the label rate of its category computed
  *without that row* (leave-one-out; a category seen once scores the overall rate), from
  exact (category, class) counts over all rows; null is a category of its own. Without
  leaving the row out, every near-unique category would look perfectly predictive.
- A label with more than two classes (at most ``MAX_CLASSES``): the macro average of the
  one-vs-rest AUCs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_CLASSES",
    "AucAccumulator",
    "average_ranks",
    "categorical_auc",
    "numeric_auc",
    "weighted_auc",
]

MAX_CLASSES = 20
MAX_CATEGORY_CLASS_PAIRS = 200_000


def average_ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """1-based ranks with ties given their average rank.

    >>> average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist()
    [3.5, 1.0, 3.5, 2.0]
    """
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2.0)[inverse]


def numeric_auc(values: npt.NDArray[np.float64], classes: npt.NDArray[np.int64]) -> float | None:
    """Folded AUC of ``values`` for class codes ``classes`` (NaN values left out).

    None when fewer than two classes have values.

    >>> x = np.array([0.1, 0.4, 0.35, 0.8, np.nan])
    >>> numeric_auc(x, np.array([0, 0, 1, 1, 1])), numeric_auc(-x, np.array([0, 0, 1, 1, 0]))
    (0.75, 0.75)
    """
    keep = ~np.isnan(values)
    values, classes = values[keep], classes[keep]
    ranks = average_ranks(values)
    present = np.unique(classes)
    if present.size < 2:
        return None
    aucs = []
    for c in present[1:] if present.size == 2 else present:
        positive = classes == c
        n_pos = int(positive.sum())
        n_neg = values.size - n_pos
        auc = (ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
        aucs.append(max(auc, 1.0 - auc))
    return float(np.mean(aucs))


def weighted_auc(
    scores: npt.NDArray[np.float64],
    positives: npt.NDArray[np.float64],
    negatives: npt.NDArray[np.float64],
) -> float | None:
    """AUC of groups with a score and weights of positive and negative rows (ties count 1/2).

    >>> weighted_auc(np.array([0.2, 0.9]), np.array([1.0, 3.0]), np.array([4.0, 0.0]))
    0.875
    """
    unique, inverse = np.unique(scores, return_inverse=True)
    pos = np.bincount(inverse, weights=positives, minlength=unique.size)
    neg = np.bincount(inverse, weights=negatives, minlength=unique.size)
    if pos.sum() == 0 or neg.sum() == 0:
        return None
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))


def categorical_auc(counts: Mapping[tuple[Any, int], int], n_classes: int) -> float | None:
    """Leave-one-out AUC from exact ``{(category, class code): rows}`` counts.

    >>> counts = {("a", 1): 2, ("b", 0): 3, ("c", 1): 1, ("c", 0): 1}
    >>> categorical_auc(counts, n_classes=2)
    0.7083333333333334
    """
    categories = {category: i for i, category in enumerate({c for c, _ in counts})}
    table = np.zeros((len(categories), n_classes))
    for (category, code), n in counts.items():
        table[categories[category], code] += n
    per_category = table.sum(axis=1)
    others = np.maximum(per_category - 1, 1)
    seen_once = per_category <= 1
    aucs = []
    present = np.flatnonzero(table.sum(axis=0))
    for c in present[1:] if present.size == 2 else present:
        pos = table[:, c]
        prior = pos.sum() / per_category.sum()
        pos_score = np.where(seen_once, prior, (pos - 1) / others)
        neg_score = np.where(seen_once, prior, pos / others)
        auc = weighted_auc(
            np.concatenate((pos_score, neg_score)),
            np.concatenate((pos, np.zeros_like(pos))),
            np.concatenate((np.zeros_like(pos), per_category - pos)),
        )
        if auc is not None:
            aucs.append(auc)
    return float(np.mean(aucs)) if aucs else None


class AucAccumulator:
    """Streams labelled rows; ``results()`` gives each feature's single-feature AUC.

    >>> rng = np.random.default_rng(0)
    >>> y = [str(v) for v in rng.integers(0, 2, 1000)]
    >>> leaky = np.array([float(v) for v in y]) + rng.normal(0, 0.1, 1000)
    >>> noise = rng.normal(size=1000)
    >>> acc = AucAccumulator(numeric=["leaky", "noise"], categorical=["copy"])
    >>> acc.update(y, {"leaky": leaky, "noise": noise}, {"copy": ["c" + v for v in y]})
    >>> {name: round(auc, 3) for name, auc in acc.results().items()}
    {'leaky': 1.0, 'noise': 0.528, 'copy': 1.0}
    """

    def __init__(
        self,
        numeric: Sequence[str],
        categorical: Sequence[str],
        sample_size: int = 100_000,
        seed: int = 0,
    ) -> None:
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.sample_size = sample_size
        self.classes: dict[str, int] = {}
        self.notes: list[str] = []
        self._rng = np.random.default_rng(seed)
        self._keys = np.empty(0)
        self._x = np.empty((0, len(self.numeric)))
        self._y = np.empty(0, dtype=np.int64)
        self._pairs: dict[str, Counter[tuple[object, int]]] = {n: Counter() for n in categorical}

    def update(
        self,
        labels: Sequence[str | None],
        numeric: Mapping[str, npt.NDArray[np.float64]],
        categorical: Mapping[str, Sequence[object]],
    ) -> None:
        """Add rows: their ``labels`` (None: unlabelled, skipped) and feature columns."""
        if len(self.classes) > MAX_CLASSES or not labels:
            return
        for label in set(labels) - {None} - set(self.classes):
            self.classes[label] = len(self.classes)  # type: ignore[index]
        if len(self.classes) > MAX_CLASSES:
            self.notes.append(f"the label has more than {MAX_CLASSES} classes: AUC not computed")
            return
        labelled = np.fromiter((label is not None for label in labels), np.bool_, len(labels))
        codes = np.fromiter(
            (self.classes.get(label, -1) for label in labels),  # type: ignore[arg-type]
            np.int64,
            len(labels),
        )[labelled]
        self._sample(codes, labelled, numeric)
        for name, pairs in list(self._pairs.items()):
            column = categorical.get(name)
            if column is None:
                continue
            kept = [value for value, keep in zip(column, labelled, strict=True) if keep]
            pairs.update(zip(kept, codes.tolist(), strict=True))
            if len(pairs) > MAX_CATEGORY_CLASS_PAIRS:
                del self._pairs[name]
                self.notes.append(f"{name}: too many categories for the AUC check")

    def _sample(
        self,
        codes: npt.NDArray[np.int64],
        labelled: npt.NDArray[np.bool_],
        numeric: Mapping[str, npt.NDArray[np.float64]],
    ) -> None:
        n = codes.size
        missing = np.full(int(labelled.sum()), np.nan)
        x = np.column_stack(
            [numeric[name][labelled] if name in numeric else missing for name in self.numeric]
            or [np.empty((n, 0))]
        )
        keys = np.concatenate((self._keys, self._rng.random(n)))
        x_all = np.concatenate((self._x, x.reshape(n, len(self.numeric))))
        y_all = np.concatenate((self._y, codes))
        if keys.size > self.sample_size:
            keep = np.argpartition(keys, self.sample_size)[: self.sample_size]
            keys, x_all, y_all = keys[keep], x_all[keep], y_all[keep]
        self._keys, self._x, self._y = keys, x_all, y_all

    def results(self) -> dict[str, float]:
        """AUC per feature that has values in at least two classes."""
        if len(self.classes) > MAX_CLASSES or len(self.classes) < 2:
            return {}
        found: dict[str, float | None] = {}
        for i, name in enumerate(self.numeric):
            found[name] = numeric_auc(self._x[:, i], self._y)
        for name, pairs in self._pairs.items():
            found[name] = categorical_auc(pairs, len(self.classes))
        return {name: auc for name, auc in found.items() if auc is not None}
