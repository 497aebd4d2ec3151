"""Drift and novel categories in one categorical feature, over tumbling windows.

Each window of ``window`` non-missing values is compared with the reference counts (the
reference's categories plus one "other" bucket) by Jensen-Shannon distance and a two-sample
chi-square test (which holds its false-alarm rate whether the reference is a 5,000-value
window or a large training set). Values absent from the reference are reported as novel
categories once they make up a visible share of a window. Alongside, the detector keeps a
bounded summary of the most frequent live categories and a HyperLogLog estimate of how many
distinct values it saw.

Rules
-----
- **Drift**: a window drifts when ``js >= js_threshold`` *and* ``p_value <= p_value_threshold``.
  JS distance (base 2, in [0, 1]) is the effect size, scale-free whatever the category mix;
  the p-value keeps small, noisy windows from flagging.
- **Novel category**: a value outside the reference's categories is reported once, at the
  record where its count *within the current window* reaches
  ``max(1, ceil(novel_min_share * window))``. With the defaults (0.5 % of 5,000 = 25) a value
  at 2 % of traffic is caught about 1,250 values after it starts, a one-off typo never is;
  ``novel_min_share=0`` reports every novel value at its first occurrence. When the
  reference lists only its top categories (``ref_complete=False``) a "novel" value may still
  have been rare in training: the report says so with ``confirmed=False``.
- **No reference** (``ref_counts=None``): the first full window becomes the reference (every
  category in it, ``ref_complete=True``); it is not itself reported.

Memory bound
------------
Independent of stream length and cardinality, at most: the current window's distinct values
with two integers each (``window`` entries), the reference's categories, a Misra-Gries
summary of ``top_k`` categories (the mergeable form of space-saving; fed whole windows, so
every category with more than ``n / (top_k + 1)`` of the ``n`` values of completed windows
is in it, each count low by ``heavy_error <= n / (top_k + 1)`` at most),
``MAX_REPORTED_NOVEL`` already-reported novel values (later novel values are counted in
``novel_suppressed``, not reported) and a ``2**hll_lg_k``-byte HLL sketch (4 KiB by default).
Everything is ordered by value or hashed by DataSketches' fixed-seed MurmurHash3, never by
Python's salted ``hash()``, so a snapshot is the same in every process; sketches are fed
whole windows, so reports and state at window ends do not depend on batch boundaries.
"""

from __future__ import annotations

import base64
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Self

import datasketches
import numpy as np
import numpy.typing as npt

from detectors.window_stats import chi_square_two_sample, js_distance

__all__ = ["MAX_REPORTED_NOVEL", "CategoricalDrift", "CategoricalReport", "NovelCategoryReport"]

MAX_REPORTED_NOVEL: Final[int] = 1000
_TOP_LIVE: Final[int] = 5
# Wider values are sorted as Python objects, so a long value cannot inflate a batch's copy.
_MAX_FIXED_WIDTH: Final[int] = 64
_SNAPSHOT_KIND: Final[str] = "CategoricalDrift"
_SNAPSHOT_VERSION: Final[int] = 1

# Distinct values, sorted: fixed-width unicode (compared in C) or, when some value is longer
# than _MAX_FIXED_WIDTH, Python str objects.
_Keys = npt.NDArray[Any]
_Counts = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CategoricalReport:
    """The comparison of one full window with the reference.

    ``index`` is the record (in the batch) that closed the window, ``n`` the window size,
    ``top_live`` the window's most frequent categories with their shares, and
    ``cardinality_estimate`` the HLL estimate of distinct values in the stream up to and
    including this window.
    """

    index: int
    n: int
    js: float
    chi2: float
    p_value: float
    drift: bool
    top_live: tuple[tuple[str, float], ...]
    cardinality_estimate: float


@dataclass(frozen=True, slots=True)
class NovelCategoryReport:
    """A value absent from the reference that crossed ``novel_min_share`` of a window.

    ``index`` is the record (in the batch) at which it crossed, ``first_index`` its first
    occurrence in the current window (negative when that was in an earlier batch: -1 is the
    previous batch's last record), ``count`` and ``share`` its count and share of the window
    at ``index``; ``confirmed`` is False when the reference listed only its top categories.
    """

    value: str
    index: int
    first_index: int
    count: int
    share: float
    confirmed: bool


def _object_array(items: Sequence[str | None]) -> npt.NDArray[np.object_]:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _sortable(values: npt.NDArray[np.object_]) -> _Keys:
    """``values`` as fixed-width unicode when all are short (sorted in C), else as they are.

    Fixed width drops trailing NUL characters, so "a" and "a\\x00" count as one category.
    """
    as_strings = values.astype(np.dtypes.StringDType())
    width = int(np.strings.str_len(as_strings).max(initial=0))
    if width > _MAX_FIXED_WIDTH:
        return values
    return as_strings.astype(f"<U{max(width, 1)}")


def _keys(items: Sequence[str]) -> _Keys:
    return _sortable(_object_array(items))


def _lookup(keys: _Keys, values: _Keys) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Positions of ``values`` in sorted ``keys`` and whether each is there."""
    if keys.dtype.kind != values.dtype.kind:
        keys, values = keys.astype(object), values.astype(object)
    if keys.size == 0:
        return np.zeros(values.size, dtype=np.intp), np.zeros(values.size, dtype=np.bool_)
    positions = np.minimum(np.searchsorted(keys, values), keys.size - 1)
    return positions, np.asarray(keys[positions] == values, dtype=np.bool_)


def _sort_by_key(keys: _Keys, *columns: _Counts) -> tuple[_Keys, ...]:
    order = np.argsort(keys, kind="stable")
    return (keys[order], *(column[order] for column in columns))


class CategoricalDrift:
    """Window-by-window drift, novel categories, top-K and cardinality of a categorical feature.

    Parameters (thresholds are plain attributes, changeable between calls):

    - ``ref_counts``: the reference's (top) categories with their counts; ``None`` to learn
      the reference from the first full window.
    - ``ref_other_count``: training values outside ``ref_counts``.
    - ``ref_complete``: whether ``ref_counts`` lists every training category.
    - ``window``: non-missing values per tumbling window.
    - ``top_k``: capacity of the live heavy-hitter summary.
    - ``js_threshold``, ``p_value_threshold``: the drift rule (both must hold).
    - ``novel_min_share``: share of a window a novel value must reach to be reported.
    - ``hll_lg_k``: log2 of the HLL register count (12: about 1.6 % relative error).

    ``update_many`` skips ``None`` (counted in ``n_missing``) and returns the reports of the
    batch ordered by index.

    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> colours = np.array(["red", "green", "blue", "teal"], dtype=object)
    >>> before = colours[rng.choice(3, size=3000, p=[0.5, 0.3, 0.2])]
    >>> after = colours[rng.choice(4, size=3000, p=[0.35, 0.3, 0.3, 0.05])]
    >>> detector = CategoricalDrift({"red": 500, "green": 300, "blue": 200}, window=1000)
    >>> for report in detector.update_many(np.concatenate([before, after])):
    ...     if isinstance(report, NovelCategoryReport):
    ...         print("novel", report.value, "at", report.index, "first seen", report.first_index)
    ...     elif report.drift:
    ...         print("drift at", report.index, "js", round(report.js, 3))
    novel teal at 3061 first seen 3009
    drift at 3999 js 0.196
    drift at 4999 js 0.176
    drift at 5999 js 0.204
    """

    def __init__(
        self,
        ref_counts: Mapping[str, int] | None,
        ref_other_count: int = 0,
        ref_complete: bool = True,
        window: int = 5000,
        top_k: int = 64,
        js_threshold: float = 0.1,
        p_value_threshold: float = 1e-6,
        novel_min_share: float = 0.005,
        hll_lg_k: int = 12,
    ) -> None:
        if window < 1 or top_k < 1:
            raise ValueError(f"window and top_k must be >= 1, got {window} and {top_k}")
        self.window: Final[int] = window
        self.top_k: Final[int] = top_k
        self.js_threshold = js_threshold
        self.p_value_threshold = p_value_threshold
        self.novel_min_share = novel_min_share
        self.n_missing = 0
        self.n_seen = 0
        self.novel_suppressed = 0
        self.heavy_error = 0
        self._drift_detected = False
        self._n_records = 0
        self._ref_keys, self._ref_counts = _keys([]), np.zeros(0, dtype=np.int64)
        self._ref_other, self._ref_complete = int(ref_other_count), bool(ref_complete)
        self._has_reference = ref_counts is not None
        if ref_counts is not None:
            counts = np.asarray(list(ref_counts.values()), dtype=np.int64)
            self._set_reference(_keys(list(ref_counts)), counts)
        self._win_keys, self._win_counts = _keys([]), np.zeros(0, dtype=np.int64)
        self._win_first = np.zeros(0, dtype=np.int64)
        self._heavy_keys, self._heavy_counts = _keys([]), np.zeros(0, dtype=np.int64)
        self._reported = _keys([])
        self._hll = datasketches.hll_sketch(hll_lg_k, datasketches.tgt_hll_type.HLL_8)

    @property
    def drift_detected(self) -> bool:
        """Whether the last window closed drifted."""
        return self._drift_detected

    @property
    def cardinality_estimate(self) -> float:
        """HLL estimate of the number of distinct values in the windows completed so far."""
        return float(self._hll.get_estimate())

    def heavy_hitters(self) -> list[tuple[str, int]]:
        """Categories of the top-K summary of completed windows, most frequent first.

        Each true count lies in ``[count, count + heavy_error]``; every category with more
        than ``(n_seen - window_fill) / (top_k + 1)`` values in completed windows is listed.
        """
        order = np.argsort(-self._heavy_counts, kind="stable")
        return [(str(self._heavy_keys[i]), int(self._heavy_counts[i])) for i in order]

    def update(self, x: str | None) -> list[CategoricalReport | NovelCategoryReport]:
        """Feed one value; return its reports."""
        return self.update_many(_object_array([x]))

    def update_many(self, values: npt.ArrayLike) -> list[CategoricalReport | NovelCategoryReport]:
        """Feed a batch of ``str`` (``None`` for missing); return its reports by index."""
        array = np.asarray(values, dtype=object)
        if array.ndim != 1:
            raise ValueError(f"expected a 1-D array of values, got shape {array.shape}")
        kept = np.flatnonzero(array != None)  # noqa: E711 (elementwise, not identity)
        self.n_missing += array.size - kept.size
        sortable = _sortable(array[kept])
        reports: list[CategoricalReport | NovelCategoryReport] = []
        start = 0
        while start < kept.size:
            stop = min(start + self.window - int(self._win_counts.sum()), kept.size)
            reports.extend(self._absorb(sortable[start:stop], kept[start:stop]))
            start = stop
        self._n_records += array.size
        return reports

    def _absorb(
        self, segment: _Keys, indices: npt.NDArray[np.intp]
    ) -> list[CategoricalReport | NovelCategoryReport]:
        """Add a segment (batch ``indices``) that lies inside one window; close it if full."""
        uniques, counts = np.unique(segment, return_counts=True)
        self.n_seen += segment.size
        positions, in_window = _lookup(self._win_keys, uniques)
        prior = np.zeros(uniques.size, dtype=np.int64)
        prior[in_window] = self._win_counts[positions[in_window]]
        # Global record number of each value's first occurrence in the window; tracked for
        # novel values only (their reports need it), -1 for the others.
        first_seen = np.full(uniques.size, -1, dtype=np.int64)
        first_seen[in_window] = self._win_first[positions[in_window]]
        reports: list[CategoricalReport | NovelCategoryReport] = []
        if self._has_reference:
            novel = ~_lookup(self._ref_keys, uniques)[1]
            needed = self._novel_count_needed()
            crossing = novel & (prior < needed) & (prior + counts >= needed)
            crossing[crossing] &= ~_lookup(self._reported, uniques[crossing])[1]
            entering = novel & ~in_window
            if crossing.any() or entering.any():
                # The inverse is paid for only here: the k-th occurrence of unique u in the
                # segment is at order[starts[u] + k - 1].
                order = np.argsort(np.searchsorted(uniques, segment), kind="stable")
                starts = np.cumsum(counts) - counts
                first_seen[entering] = self._n_records + indices[order[starts[entering]]]
                crossing_at = indices[order[(starts + needed - prior - 1)[crossing]]]
                reports.extend(self._report_novel(uniques, crossing, crossing_at, first_seen))
        self._win_counts[positions[in_window]] += counts[in_window]
        new = ~in_window
        self._win_keys, self._win_counts, self._win_first = _sort_by_key(
            np.concatenate([self._win_keys, uniques[new]]),
            np.concatenate([self._win_counts, counts[new]]),
            np.concatenate([self._win_first, first_seen[new]]),
        )
        if int(self._win_counts.sum()) == self.window:
            report = self._close_window(int(indices[-1]))
            if report is not None:
                reports.append(report)
        return reports

    def _novel_count_needed(self) -> int:
        return max(1, math.ceil(self.novel_min_share * self.window))

    def _report_novel(
        self,
        uniques: _Keys,
        crossing: npt.NDArray[np.bool_],
        crossing_at: npt.NDArray[np.intp],
        first_seen: _Counts,
    ) -> list[NovelCategoryReport]:
        """Reports for novel values crossing the share, by index, within the reported cap."""
        by_index = np.argsort(crossing_at, kind="stable")
        room = MAX_REPORTED_NOVEL - self._reported.size
        self.novel_suppressed += max(0, by_index.size - room)
        chosen, at = np.flatnonzero(crossing)[by_index[:room]], crossing_at[by_index[:room]]
        self._reported = np.sort(np.concatenate([self._reported, uniques[chosen]]))
        needed = self._novel_count_needed()
        return [
            NovelCategoryReport(
                value=str(uniques[u]),
                index=int(i),
                first_index=int(first_seen[u] - self._n_records),
                count=needed,
                share=needed / self.window,
                confirmed=self._ref_complete,
            )
            for u, i in zip(chosen.tolist(), at.tolist(), strict=True)
        ]

    def _merge_heavy(self, uniques: _Keys, counts: _Counts) -> None:
        """Misra-Gries merge of a window's exact counts into the top-K summary."""
        positions, found = _lookup(uniques, self._heavy_keys)
        merged = counts.copy()
        merged[positions[found]] += self._heavy_counts[found]
        keys = np.concatenate([uniques, self._heavy_keys[~found]])
        values = np.concatenate([merged, self._heavy_counts[~found]])
        if keys.size > self.top_k:
            # Subtracting the (top_k + 1)-th largest count leaves at most top_k positive.
            kth_largest = int(np.partition(values, keys.size - self.top_k - 1)[-self.top_k - 1])
            values = values - kth_largest
            self.heavy_error += kth_largest
            keys, values = keys[values > 0], values[values > 0]
        self._heavy_keys, self._heavy_counts = _sort_by_key(keys, values)

    def _close_window(self, index: int) -> CategoricalReport | None:
        """Compare the full window with the reference (or adopt it); start the next one."""
        keys, counts = self._win_keys, self._win_counts
        self._win_keys, self._win_counts = _keys([]), np.zeros(0, dtype=np.int64)
        self._win_first = np.zeros(0, dtype=np.int64)
        # Sketches take whole windows, in sorted order: their state (and the HLL's
        # order-sensitive estimate) then does not depend on how batches were cut.
        deque(map(self._hll.update, keys.tolist()), maxlen=0)
        self._merge_heavy(keys, counts)
        if not self._has_reference:
            self._ref_other, self._ref_complete, self._has_reference = 0, True, True
            self._set_reference(keys, counts)
            return None
        positions, found = _lookup(self._ref_keys, keys)
        live = np.zeros(self._ref_keys.size + 1, dtype=np.int64)
        live[positions[found]] = counts[found]
        live[-1] = self.window - int(counts[found].sum())
        reference = np.append(self._ref_counts, self._ref_other)
        used = (reference > 0) | (live > 0)
        js = js_distance(reference[used], live[used])
        chi2, p_value = chi_square_two_sample(reference[used], live[used])
        self._drift_detected = js >= self.js_threshold and p_value <= self.p_value_threshold
        top = np.argsort(-counts, kind="stable")[:_TOP_LIVE]
        return CategoricalReport(
            index=index,
            n=self.window,
            js=float(js),
            chi2=float(chi2),
            p_value=float(p_value),
            drift=self._drift_detected,
            top_live=tuple((str(keys[i]), int(counts[i]) / self.window) for i in top),
            cardinality_estimate=self.cardinality_estimate,
        )

    def _set_reference(self, keys: _Keys, counts: _Counts) -> None:
        if (counts.size and int(counts.min()) < 0) or self._ref_other < 0:
            raise ValueError("reference counts must be >= 0")
        if int(counts.sum()) + self._ref_other == 0:
            raise ValueError("the reference is empty: give ref_counts with some count > 0")
        self._ref_keys, self._ref_counts = _sort_by_key(keys, counts)

    def snapshot(self) -> dict[str, Any]:
        """Return the full state as a JSON-serialisable dict."""
        return {
            "kind": _SNAPSHOT_KIND,
            "version": _SNAPSHOT_VERSION,
            "params": {
                "window": self.window,
                "top_k": self.top_k,
                "js_threshold": self.js_threshold,
                "p_value_threshold": self.p_value_threshold,
                "novel_min_share": self.novel_min_share,
                "hll_lg_k": self._hll.lg_config_k,
            },
            "reference": {
                "known": self._has_reference,
                "keys": self._ref_keys.tolist(),
                "counts": self._ref_counts.tolist(),
                "other": self._ref_other,
                "complete": self._ref_complete,
            },
            "window_state": {
                "keys": self._win_keys.tolist(),
                "counts": self._win_counts.tolist(),
                "first_seen": self._win_first.tolist(),
            },
            "heavy": {"keys": self._heavy_keys.tolist(), "counts": self._heavy_counts.tolist()},
            "heavy_error": self.heavy_error,
            "reported_novel": self._reported.tolist(),
            "hll": base64.b64encode(self._hll.serialize_updatable()).decode("ascii"),
            "counters": {
                "n_missing": self.n_missing,
                "n_seen": self.n_seen,
                "n_records": self._n_records,
                "novel_suppressed": self.novel_suppressed,
                "drift_detected": self._drift_detected,
            },
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> Self:
        """Rebuild a detector from ``snapshot()`` output; it makes the same future reports."""
        if state.get("kind") != _SNAPSHOT_KIND or state.get("version") != _SNAPSHOT_VERSION:
            raise ValueError(
                f"not a {_SNAPSHOT_KIND} v{_SNAPSHOT_VERSION} snapshot: "
                f"kind={state.get('kind')!r} version={state.get('version')!r}"
            )
        reference, window = state["reference"], state["window_state"]
        detector = cls(None, **state["params"])
        detector._has_reference = reference["known"]
        detector._ref_keys = _keys(reference["keys"])
        detector._ref_counts = np.asarray(reference["counts"], dtype=np.int64)
        detector._ref_other, detector._ref_complete = reference["other"], reference["complete"]
        detector._win_keys = _keys(window["keys"])
        detector._win_counts = np.asarray(window["counts"], dtype=np.int64)
        detector._win_first = np.asarray(window["first_seen"], dtype=np.int64)
        detector._heavy_keys = _keys(state["heavy"]["keys"])
        detector._heavy_counts = np.asarray(state["heavy"]["counts"], dtype=np.int64)
        detector.heavy_error = state["heavy_error"]
        detector._reported = _keys(state["reported_novel"])
        detector._hll = datasketches.hll_sketch.deserialize(base64.b64decode(state["hll"]))
        counters = state["counters"]
        detector.n_missing, detector.n_seen = counters["n_missing"], counters["n_seen"]
        detector._n_records = counters["n_records"]
        detector.novel_suppressed = counters["novel_suppressed"]
        detector._drift_detected = counters["drift_detected"]
        return detector
