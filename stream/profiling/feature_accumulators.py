"""Mergeable per-feature accumulators behind a profile.

``NumericAccumulator``: count, nulls, exact moments (Chan's parallel update, so merging two
accumulators equals accumulating all the values), exact min and max, a KLL quantile sketch
(``datasketches.kll_doubles_sketch``) for the bin edges and bin counts, and, while every
value is an integer, a ``DistinctCounter`` (to spot identifier columns). Memory is fixed:
about ``3 * k`` doubles for the KLL sketch plus 32 KiB for the distinct counter.

``CategoricalAccumulator``: exact counts per category up to ``EXACT_CATEGORY_LIMIT`` distinct
categories; past that, the detectors' ``MisraGries`` summary of ``HEAVY_HITTER_CAPACITY``
labels (counts within ``1 / 12,289 = 0.0081 %`` of the total) and a ``DistinctCounter``.
Memory: at most ``EXACT_CATEGORY_LIMIT`` labels, then fixed.

Both round-trip through ``to_state()`` / ``from_state()`` (JSON-serialisable, sketches as
base64 bytes), which is how ``profile merge`` combines profiles built apart.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any, Self

import datasketches
import numpy as np
import numpy.typing as npt

from driftwarden.detectors.misra_gries import MisraGries
from driftwarden.detectors.profile import CategoricalSummary, NumericSummary
from driftwarden.stream.sketches.distinct_counter import DistinctCounter
from driftwarden.stream.sketches.hashing import number_hashes, string_hash

__all__ = [
    "EXACT_CATEGORY_LIMIT",
    "HEAVY_HITTER_CAPACITY",
    "KLL_K",
    "KLL_RANK_ERROR",
    "CategoricalAccumulator",
    "NumericAccumulator",
]

KLL_K = 400
#: Normalised rank error of a KLL quantile of the default k, at 99 % confidence (0.68 %).
KLL_RANK_ERROR = datasketches.kll_doubles_sketch.get_normalized_rank_error(KLL_K, False)
EXACT_CATEGORY_LIMIT = 20_000
#: Labels kept past the exact limit (as many as datasketches' frequent-items sketch of
#: lg_max_k 14 held, which profiles used before): each count within ``total / 12,289``.
HEAVY_HITTER_CAPACITY = 12_288


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class NumericAccumulator:
    """Moments, range, quantile sketch and null count of a numeric feature.

    >>> import numpy as np
    >>> acc = NumericAccumulator()
    >>> acc.update(np.arange(1.0, 101.0), present=110)
    >>> summary = acc.summary(bins=4)
    >>> acc.count, acc.null_count, summary.mean, summary.bin_edges, summary.bin_counts
    (110, 10, 50.5, [26.0, 51.0, 76.0], [0, 25, 25, 25, 25, 0])
    """

    def __init__(self, kll_k: int = KLL_K) -> None:
        self.count = 0
        self.null_count = 0
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.kll = datasketches.kll_doubles_sketch(kll_k)
        self.distinct: DistinctCounter | None = DistinctCounter()

    def add_nulls(self, present: int, nulls: int) -> None:
        """Count ``present`` appearances of the feature of which ``nulls`` were null."""
        self.count += present
        self.null_count += nulls

    def update(self, values: npt.NDArray[np.float64], present: int) -> None:
        """Absorb finite non-null ``values`` out of ``present`` appearances of the feature."""
        self.add_nulls(present, present - values.size)
        if not values.size:
            return
        chunk_mean = float(values.mean())
        self._combine(values.size, chunk_mean, float(np.square(values - chunk_mean).sum()))
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))
        self.kll.update(values)
        if self.distinct is not None:
            if np.array_equal(values, np.trunc(values)):
                self.distinct.update(number_hashes(values))
            else:
                self.distinct = None

    def _combine(self, n: int, mean: float, m2: float) -> None:
        total = self.n + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total

    def merge(self, other: NumericAccumulator) -> None:
        """Absorb ``other``, as if its values had been fed here."""
        self.add_nulls(other.count, other.null_count)
        if other.n == 0:
            return
        self._combine(other.n, other.mean, other.m2)
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        self.kll.merge(other.kll)
        if self.distinct is not None and other.distinct is not None:
            self.distinct.merge(other.distinct)
        else:
            self.distinct = None

    def distinct_estimate(self) -> float | None:
        """Estimated distinct values while all values are integers; else None."""
        return self.distinct.estimate() if self.distinct is not None and self.n else None

    def summary(self, bins: int) -> NumericSummary | None:
        """The profile summary with ``bins`` quantile bins (None when there are no values).

        Edges are the KLL quantiles at ranks ``i / bins`` strictly inside ``(min, max)``
        (ties removed); counts are the sketch's rank differences times the number of values,
        exact until the sketch starts compacting, then within ``KLL_RANK_ERROR * n`` each.
        """
        if self.n == 0:
            return None
        edges = np.empty(0)
        if bins > 1:
            quantiles = np.asarray(self.kll.get_quantiles([i / bins for i in range(1, bins)]))
            edges = np.unique(quantiles[(quantiles > self.min) & (quantiles < self.max)])
        below = np.asarray(self.kll.get_cdf(edges.tolist()))[:-1] if edges.size else np.empty(0)
        cumulative = np.concatenate(([0], np.rint(below * self.n).astype(np.int64), [self.n]))
        inner = np.diff(np.maximum.accumulate(cumulative))
        return NumericSummary(
            mean=self.mean,
            std=math.sqrt(max(self.m2, 0.0) / self.n),
            min=self.min,
            max=self.max,
            bin_edges=edges.tolist(),
            bin_counts=[0, *inner.tolist(), 0],
            bin_counts_rank_error=KLL_RANK_ERROR if self.kll.is_estimation_mode() else 0.0,
        )

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state for ``from_state``."""
        return {
            "kind": "numeric",
            "count": self.count,
            "null_count": self.null_count,
            "n": self.n,
            "mean": self.mean,
            "m2": self.m2,
            "min": self.min if self.n else None,
            "max": self.max if self.n else None,
            "kll": _b64(self.kll.serialize()),
            "distinct": None if self.distinct is None else self.distinct.to_state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild an accumulator from ``to_state()`` output."""
        acc = cls()
        acc.count, acc.null_count, acc.n = state["count"], state["null_count"], state["n"]
        acc.mean, acc.m2 = float(state["mean"]), float(state["m2"])
        if acc.n:
            acc.min, acc.max = float(state["min"]), float(state["max"])
        acc.kll = datasketches.kll_doubles_sketch.deserialize(base64.b64decode(state["kll"]))
        distinct = state.get("distinct")
        acc.distinct = None if distinct is None else DistinctCounter.from_state(distinct)
        return acc


class CategoricalAccumulator:
    """Category counts (exact, then a Misra-Gries summary) and null count.

    >>> acc = CategoricalAccumulator()
    >>> acc.update({"FR": 3, "DE": 1}, present=5)
    >>> acc.update({"DE": 2, "IT": 1}, present=3)
    >>> s = acc.summary(max_categories=2)
    >>> s.top, s.other_count, s.complete, s.distinct_estimate, acc.null_count
    ({'DE': 3, 'FR': 3}, 1, False, 3.0, 1)
    """

    def __init__(self) -> None:
        self.count = 0
        self.null_count = 0
        self.total = 0
        self.exact: dict[str, int] | None = {}
        self.heavy: MisraGries | None = None
        self.distinct: DistinctCounter | None = None

    def add_nulls(self, present: int, nulls: int) -> None:
        """Count ``present`` appearances of the feature of which ``nulls`` were null."""
        self.count += present
        self.null_count += nulls

    def update(self, counts: Mapping[str, int], present: int) -> None:
        """Absorb non-null category ``counts`` out of ``present`` appearances of the feature."""
        non_null = sum(counts.values())
        self.add_nulls(present, present - non_null)
        self.total += non_null
        if self.exact is not None:
            for label, n in counts.items():
                self.exact[label] = self.exact.get(label, 0) + n
            if len(self.exact) > EXACT_CATEGORY_LIMIT:
                self._switch_to_sketch()
        else:
            self._sketch_update(counts)

    def _switch_to_sketch(self) -> None:
        exact, self.exact = self.exact or {}, None
        self.heavy = MisraGries(HEAVY_HITTER_CAPACITY)
        self.distinct = DistinctCounter()
        self._sketch_update(exact)

    def _sketch_update(self, counts: Mapping[str, int]) -> None:
        assert self.heavy is not None and self.distinct is not None
        self.heavy.update(counts)
        hashes = np.fromiter(map(string_hash, counts), dtype=np.uint64, count=len(counts))
        self.distinct.update(hashes)

    def merge(self, other: CategoricalAccumulator) -> None:
        """Absorb ``other``, as if its values had been fed here."""
        if other.exact is not None:
            self.update(other.exact, present=other.count)
            return
        self.add_nulls(other.count, other.null_count)
        self.total += other.total
        if self.exact is not None:
            self._switch_to_sketch()
        assert self.heavy is not None and other.heavy is not None
        self.heavy.merge(other.heavy)
        assert self.distinct is not None and other.distinct is not None
        self.distinct.merge(other.distinct)

    def distinct_estimate(self) -> float:
        """Distinct categories: exact below the limit, estimated past it."""
        if self.exact is not None:
            return float(len(self.exact))
        assert self.distinct is not None
        return self.distinct.estimate()

    def summary(self, max_categories: int) -> CategoricalSummary:
        """The ``max_categories`` most frequent categories (ties by label) and the rest.

        Past the exact limit each count is the summary's upper bound (its count plus its
        error): exact for a category kept since the summary began, never low.
        """
        if self.exact is not None:
            ranked = sorted(self.exact.items(), key=lambda item: (-item[1], item[0]))
            complete = len(ranked) <= max_categories
        else:
            assert self.heavy is not None
            error = self.heavy.error
            ranked = [(label, count + error) for label, count in self.heavy.most_frequent()]
            complete = False
        top = dict(ranked[:max_categories])
        return CategoricalSummary(
            top=top,
            other_count=max(0, self.total - sum(top.values())),
            complete=complete,
            distinct_estimate=self.distinct_estimate(),
        )

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state for ``from_state``."""
        return {
            "kind": "categorical",
            "count": self.count,
            "null_count": self.null_count,
            "total": self.total,
            "exact": self.exact,
            "heavy": None if self.heavy is None else self.heavy.to_state(),
            "distinct": None if self.distinct is None else self.distinct.to_state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild an accumulator from ``to_state()`` output."""
        acc = cls()
        acc.count, acc.null_count, acc.total = state["count"], state["null_count"], state["total"]
        acc.exact = None if state["exact"] is None else dict(state["exact"])
        if state.get("heavy") is not None:
            acc.heavy = MisraGries.from_state(state["heavy"])
        elif state.get("frequent") is not None:
            acc.heavy = _heavy_of_frequent_items(state["frequent"])
        if state["distinct"] is not None:
            acc.distinct = DistinctCounter.from_state(state["distinct"])
        return acc


def _heavy_of_frequent_items(encoded: str) -> MisraGries:
    """The summary of a sidecar written when profiles kept a datasketches frequent-items
    sketch: its lower bounds as counts, the spread of its bounds as the error."""
    sketch = datasketches.frequent_strings_sketch.deserialize(base64.b64decode(encoded))
    rows = sketch.get_frequent_items(datasketches.frequent_items_error_type.NO_FALSE_NEGATIVES, 0)
    counts = {str(label): int(lower) for label, _, lower, _ in rows if lower > 0}
    error = int(sketch.get_upper_bound("") - sketch.get_lower_bound(""))
    return MisraGries(HEAVY_HITTER_CAPACITY, counts, error)
