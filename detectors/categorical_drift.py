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
- Values are ``str``; ``None`` is missing; any other object counts as ``str(value)``.

Memory bound
------------
Independent of stream length and cardinality, at most: the current window's distinct values
with two integers each (``window`` entries), the reference's categories, a ``MisraGries``
summary of ``top_k`` categories (fed whole windows, so every category with more than
``n / (top_k + 1)`` of the ``n`` values of completed windows is in it, each count low by
``heavy_error <= n / (top_k + 1)`` at most),
``MAX_REPORTED_NOVEL`` already-reported novel values (later novel values are counted in
``novel_suppressed``, not reported) and a ``2**hll_lg_k``-byte HLL sketch (4 KiB by default).
While a batch is processed, its counting takes memory proportional to the batch.
Python's salted ``hash()`` only counts values while a batch is processed; state is ordered
by value and the HLL sketch hashes with DataSketches' fixed-seed MurmurHash3, so a snapshot
is the same in every process. The summaries are fed whole windows, so reports and state at
window ends do not depend on batch boundaries.
"""

from __future__ import annotations

import base64
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import filterfalse, repeat
from typing import Any, Final, Self

import datasketches
import numpy as np
import numpy.typing as npt

from driftwarden.detectors.category_counts import (
    CountedSegment,
    count_coded_segments,
    count_window_segments,
)
from driftwarden.detectors.misra_gries import MisraGries
from driftwarden.detectors.snapshots import check_snapshot
from driftwarden.detectors.window_stats import chi_square_two_sample, js_distance

__all__ = ["MAX_REPORTED_NOVEL", "CategoricalDrift", "CategoricalReport", "NovelCategoryReport"]

MAX_REPORTED_NOVEL: Final[int] = 1000
_TOP_LIVE: Final[int] = 5
_SNAPSHOT_KIND: Final[str] = "CategoricalDrift"
_SNAPSHOT_VERSION: Final[int] = 1

_Counts = npt.NDArray[np.int64]
_Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CategoricalReport:
    """The comparison of one full window with the reference.

    ``index`` is the record (in the batch) that closed the window, ``n`` the window size,
    ``top_live`` the window's most frequent categories with their shares, and
    ``cardinality_estimate`` the HLL estimate of distinct values in the stream up to and
    including this window.

    >>> import numpy as np
    >>> detector = CategoricalDrift({"a": 50, "b": 50}, window=100)
    >>> (report,) = detector.update_many(np.array(["a"] * 90 + ["b"] * 10, dtype=object))
    >>> report.index, report.drift, report.top_live[0]
    (99, True, ('a', 0.9))
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

    >>> import numpy as np
    >>> detector = CategoricalDrift({"a": 50, "b": 50}, window=100, novel_min_share=0.05)
    >>> values = np.array(["a", "b", "zz", "a"] * 25, dtype=object)
    >>> novel = [r for r in detector.update_many(values) if isinstance(r, NovelCategoryReport)]
    >>> novel[0].value, novel[0].index, novel[0].first_index, novel[0].count
    ('zz', 18, 2, 5)
    """

    value: str
    index: int
    first_index: int
    count: int
    share: float
    confirmed: bool


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
        self._drift_detected = False
        self._n_records = 0
        # Sorted keys with aligned counts (and the "other" bucket appended), the bins where
        # that is 0, and the set that answers "in the reference?" for a segment's values.
        self._ref_keys: list[str] = []
        self._ref_counts: _Counts = np.zeros(0, dtype=np.int64)
        self._ref_bins: _Floats = np.zeros(1, dtype=np.float64)
        self._ref_empty_bins: list[int] = [0]
        self._ref_set: frozenset[str] = frozenset()
        self._ref_other, self._ref_complete = int(ref_other_count), bool(ref_complete)
        self._has_reference = ref_counts is not None
        if ref_counts is not None:
            merged: dict[str, int] = {}
            for key, count in ref_counts.items():
                merged[str(key)] = merged.get(str(key), 0) + int(count)
            self._set_reference(merged)
        # The current window: counts, and the global record number of the first occurrence
        # of each value outside the reference (novel reports point back to it).
        self._win: dict[str, int] = {}
        self._win_first: dict[str, int] = {}
        self._win_fill = 0
        self._heavy = MisraGries(top_k)
        self._reported: set[str] = set()
        self._hll = datasketches.hll_sketch(hll_lg_k, datasketches.tgt_hll_type.HLL_8)

    @property
    def drift_detected(self) -> bool:
        """Whether the last window closed drifted."""
        return self._drift_detected

    @property
    def cardinality_estimate(self) -> float:
        """HLL estimate of the number of distinct values in the windows completed so far."""
        return float(self._hll.get_estimate())

    @property
    def heavy_error(self) -> int:
        """How far below its true count a ``heavy_hitters()`` count may be."""
        return self._heavy.error

    def heavy_hitters(self) -> list[tuple[str, int]]:
        """Categories of the top-K summary of completed windows, most frequent first.

        Each true count lies in ``[count, count + heavy_error]``; every category with more
        than ``(n_seen - window_fill) / (top_k + 1)`` values in completed windows is listed.
        Ties are ordered by category.
        """
        return self._heavy.most_frequent()

    def update(self, x: str | None) -> list[CategoricalReport | NovelCategoryReport]:
        """Feed one value; return its reports."""
        return self.update_many(np.array([x], dtype=object))

    @property
    def reference_keys(self) -> list[str] | None:
        """The reference's categories, sorted (None while it is being learned)."""
        return list(self._ref_keys) if self._has_reference else None

    def update_many(
        self, values: npt.ArrayLike, codes: npt.NDArray[np.int32] | None = None
    ) -> list[CategoricalReport | NovelCategoryReport]:
        """Feed a batch of ``str`` (``None`` for missing); return its reports by index.

        ``codes``, optional, give each value's index in ``reference_keys`` (their count for
        a value outside them, -1 for a missing one): the windows are then counted from them,
        with the same reports.
        """
        array = np.asarray(values, dtype=object)
        if array.ndim != 1:
            raise ValueError(f"expected a 1-D array of values, got shape {array.shape}")
        reports: list[CategoricalReport | NovelCategoryReport] = []
        segments = (
            count_window_segments(array, self.window, self._win_fill)
            if codes is None or not self._has_reference
            else count_coded_segments(array, codes, self._ref_keys, self.window, self._win_fill)
        )
        for segment in segments:
            reports.extend(self._absorb(segment))
        self._n_records += array.size
        return reports

    def _absorb(self, segment: CountedSegment) -> list[CategoricalReport | NovelCategoryReport]:
        """Add a segment that lies inside the current window; close the window if full."""
        counts = segment.counts
        reports: list[CategoricalReport | NovelCategoryReport] = []
        if self._has_reference and not self._ref_set.issuperset(counts):
            reports.extend(self._track_novel(segment, counts.keys() - self._ref_set))
        if self._win:
            window_counts = self._win
            for key, count in counts.items():
                window_counts[key] = window_counts.get(key, 0) + count
        else:
            self._win = counts  # the segment's own counts: no copy needed
        self.n_missing += segment.n_missing
        self.n_seen += segment.n_values
        self._win_fill += segment.n_values
        if segment.closes_window:
            report = self._close_window(segment.stop - 1)
            if report is not None:
                reports.append(report)
        return reports

    def _track_novel(self, segment: CountedSegment, novel: set[str]) -> list[NovelCategoryReport]:
        """Note where novel values enter the window; report those crossing the share."""
        window_counts, counts = self._win, segment.counts
        entering = list(novel - window_counts.keys())
        if entering:
            base = self._n_records
            firsts = [base + first for first in segment.first_positions(entering)]
            self._win_first.update(zip(entering, firsts, strict=True))
        novel -= self._reported
        candidates = list(novel)
        if not candidates:
            return []
        needed = max(1, math.ceil(self.novel_min_share * self.window))
        prior = np.fromiter(
            map(window_counts.get, candidates, repeat(0)), np.int64, len(candidates)
        )
        added = np.fromiter(map(counts.__getitem__, candidates), np.int64, len(candidates))
        crosses = np.flatnonzero((prior < needed) & (prior + added >= needed)).tolist()
        if not crosses:
            return []
        room = MAX_REPORTED_NOVEL - len(self._reported)
        self.novel_suppressed += max(0, len(crosses) - room)
        if room <= 0:
            return []
        crossing = [candidates[i] for i in crosses]
        at = segment.positions(crossing, (needed - prior[crosses]).tolist())
        # Indices are distinct, so this order does not depend on the (hash) order of the set.
        chosen = sorted(zip(at, crossing, strict=True))[:room]
        self._reported.update(key for _, key in chosen)
        return [
            NovelCategoryReport(
                value=key,
                index=index,
                first_index=self._win_first[key] - self._n_records,
                count=needed,
                share=needed / self.window,
                confirmed=self._ref_complete,
            )
            for index, key in chosen
        ]

    def _close_window(self, index: int) -> CategoricalReport | None:
        """Compare the full window with the reference (or adopt it); start the next one."""
        window_counts = self._win
        self._win, self._win_first, self._win_fill = {}, {}, 0
        # Sketches take whole windows, in sorted order: their state (and the HLL's
        # order-sensitive estimate) then does not depend on how batches were cut. A value
        # in the top-K summary came from an earlier window, so the HLL holds it already
        # and updating it again would change nothing.
        keys = sorted(window_counts)
        deque(map(self._hll.update, filterfalse(self._heavy.labels().__contains__, keys)), maxlen=0)
        self._heavy.update(window_counts)
        if not self._has_reference:
            self._ref_other, self._ref_complete, self._has_reference = 0, True, True
            self._set_reference(window_counts)
            return None
        in_reference = list(map(window_counts.get, self._ref_keys, repeat(0)))
        in_reference.append(self.window - sum(in_reference))
        reference, live = self._informative_bins(in_reference)
        js = js_distance(reference, live)
        chi2, p_value = chi_square_two_sample(reference, live)
        self._drift_detected = js >= self.js_threshold and p_value <= self.p_value_threshold
        top = sorted(keys, key=window_counts.__getitem__, reverse=True)[:_TOP_LIVE]
        return CategoricalReport(
            index=index,
            n=self.window,
            js=float(js),
            chi2=float(chi2),
            p_value=float(p_value),
            drift=self._drift_detected,
            top_live=tuple([(key, window_counts[key] / self.window) for key in top]),
            cardinality_estimate=self.cardinality_estimate,
        )

    def _informative_bins(self, live: list[int]) -> tuple[_Floats, _Floats]:
        """Reference and live bin counts without the bins that are empty in both."""
        reference, live_bins = self._ref_bins, np.array(live, dtype=np.float64)
        dropped = [i for i in self._ref_empty_bins if live[i] == 0]
        if not dropped:
            return reference, live_bins
        if dropped == [len(live) - 1]:  # the usual case: no "other" values on either side
            return reference[:-1], live_bins[:-1]
        used = np.ones(len(live), dtype=np.bool_)
        used[dropped] = False
        return reference[used], live_bins[used]

    def _set_reference(self, counts: Mapping[str, int]) -> None:
        """Adopt ``counts`` (one per distinct category) as the reference."""
        keys = sorted(counts)
        values = np.array([counts[key] for key in keys], dtype=np.int64)
        if (values.size and int(values.min()) < 0) or self._ref_other < 0:
            raise ValueError("reference counts must be >= 0")
        if int(values.sum()) + self._ref_other == 0:
            raise ValueError("the reference is empty: give ref_counts with some count > 0")
        self._ref_keys, self._ref_counts, self._ref_set = keys, values, frozenset(keys)
        self._ref_bins = np.append(values, self._ref_other).astype(np.float64)
        self._ref_empty_bins = np.flatnonzero(self._ref_bins == 0).tolist()

    def snapshot(self) -> dict[str, Any]:
        """Return the full state as a JSON-serialisable dict."""
        window_keys, heavy = sorted(self._win), self._heavy.counts()
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
                "keys": list(self._ref_keys),
                "counts": self._ref_counts.tolist(),
                "other": self._ref_other,
                "complete": self._ref_complete,
            },
            "window_state": {
                "keys": window_keys,
                "counts": [self._win[key] for key in window_keys],
                "first_seen": [self._win_first.get(key, -1) for key in window_keys],
            },
            "heavy": {"keys": list(heavy), "counts": list(heavy.values())},
            "heavy_error": self._heavy.error,
            "reported_novel": sorted(self._reported),
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
        check_snapshot(state, _SNAPSHOT_KIND, _SNAPSHOT_VERSION)
        reference, window = state["reference"], state["window_state"]
        detector = cls(None, **state["params"])
        detector._ref_other, detector._ref_complete = reference["other"], reference["complete"]
        detector._has_reference = reference["known"]
        if detector._has_reference:
            detector._set_reference(dict(zip(reference["keys"], reference["counts"], strict=True)))
        detector._win = dict(zip(window["keys"], window["counts"], strict=True))
        detector._win_first = {
            key: first
            for key, first in zip(window["keys"], window["first_seen"], strict=True)
            if first >= 0
        }
        detector._win_fill = sum(window["counts"])
        heavy = dict(zip(state["heavy"]["keys"], state["heavy"]["counts"], strict=True))
        detector._heavy = MisraGries(detector.top_k, heavy, state["heavy_error"])
        detector._reported = set(state["reported_novel"])
        detector._hll = datasketches.hll_sketch.deserialize(base64.b64decode(state["hll"]))
        counters = state["counters"]
        detector.n_missing, detector.n_seen = counters["n_missing"], counters["n_seen"]
        detector._n_records = counters["n_records"]
        detector.novel_suppressed = counters["novel_suppressed"]
        detector._drift_detected = counters["drift_detected"]
        return detector
