"""HistogramDrift: tumbling-window comparison of a numeric feature with its reference histogram."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from detectors.base import as_float_array
from detectors.window_stats import chi_square_two_sample, js_distance, psi

__all__ = ["HistogramDrift", "HistogramReport", "LiveSummary"]

_STATE_KIND = "HistogramDrift"
_STATE_VERSION = 1
# Constructor arguments that a snapshot carries besides the reference.
_SETTINGS = (
    "window",
    "n_bins",
    "sparse_min_count",
    "psi_threshold",
    "js_threshold",
    "p_value_threshold",
    "out_of_range_threshold",
    "sparse_threshold",
)


@dataclass(frozen=True, slots=True)
class LiveSummary:
    """Mean, population standard deviation, minimum and maximum of one live window."""

    mean: float
    std: float
    min: float
    max: float


@dataclass(frozen=True, slots=True)
class HistogramReport:
    """What one closed live window looked like against the reference.

    ``index`` is the position, in the batch passed to ``update_many``, of the value that closed
    the window; ``n`` the number of values in the window. ``psi``, ``js``, ``chi2`` and
    ``p_value`` compare the window with the reference over the drift bins (see
    ``HistogramDrift``); ``chi2``/``p_value`` are the two-sample test of homogeneity.
    ``out_of_range_rate`` is the share of values below the reference minimum or above its
    maximum, ``sparse_rate`` the share in bins where the reference had fewer than
    ``sparse_min_count`` values. The three flags apply the thresholds in force when the window
    closed.
    """

    index: int
    n: int
    psi: float
    js: float
    chi2: float
    p_value: float
    out_of_range_rate: float
    sparse_rate: float
    drift: bool
    out_of_range: bool
    sparse: bool
    live_summary: LiveSummary


def _search_edges(
    ref_min: float, edges: npt.NDArray[np.float64], ref_max: float
) -> npt.NDArray[np.float64]:
    return np.concatenate(([ref_min], edges, [np.nextafter(ref_max, np.inf)])).astype(np.float64)


@dataclass(frozen=True, slots=True)
class _Reference:
    """The reference histogram over the full bins (underflow, quantile bins, overflow)."""

    edges: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int64]
    ref_min: float
    ref_max: float
    search_edges: npt.NDArray[np.float64]
    drift_starts: npt.NDArray[np.intp]
    drift_counts: npt.NDArray[np.int64]
    shift: float


def _reference(
    edges: npt.NDArray[np.float64], counts: npt.NDArray[np.int64], ref_min: float, ref_max: float
) -> _Reference:
    # Each drift bin starts at a full bin with reference mass; empty full bins (under- and
    # overflow, tied edges) join the preceding drift bin, leading ones the first.
    drift_starts = np.concatenate(([0], np.flatnonzero(counts > 0)[1:])).astype(np.intp)
    return _Reference(
        edges=edges,
        counts=counts,
        ref_min=ref_min,
        ref_max=ref_max,
        search_edges=_search_edges(ref_min, edges, ref_max),
        drift_starts=drift_starts,
        drift_counts=np.add.reduceat(counts, drift_starts),
        # Window moments are summed around the reference median so that a large offset (a
        # timestamp) does not cancel catastrophically in the variance.
        shift=float(edges[edges.size // 2]) if edges.size else ref_min,
    )


def _reference_from_profile(
    edges: Sequence[float],
    ref_counts: Sequence[int] | None,
    ref_min: float | None,
    ref_max: float | None,
) -> _Reference:
    if ref_counts is None or ref_min is None or ref_max is None:
        raise ValueError("edges need ref_counts, ref_min and ref_max: pass all four or none")
    interior = np.asarray(edges, dtype=np.float64)
    counts = np.asarray(ref_counts, dtype=np.float64)
    if interior.ndim != 1 or not np.all(np.isfinite(interior)):
        raise ValueError("edges must be a 1-D sequence of finite numbers")
    if np.any(np.diff(interior) <= 0):
        raise ValueError("edges must be strictly increasing (de-duplicate quantile edges first)")
    if counts.shape != (interior.size + 3,):
        raise ValueError(
            f"ref_counts needs len(edges) + 3 = {interior.size + 3} counts (underflow, "
            f"quantile bins, overflow), got {counts.size}"
        )
    if np.any(counts < 0) or np.any(counts != np.floor(counts)) or counts.sum() <= 0:
        raise ValueError("ref_counts must be non-negative integers with a positive total")
    if not (math.isfinite(ref_min) and math.isfinite(ref_max) and ref_min <= ref_max):
        raise ValueError(f"need finite ref_min <= ref_max, got {ref_min} and {ref_max}")
    if interior.size and not (ref_min <= interior[0] and interior[-1] <= ref_max):
        raise ValueError("edges must lie within [ref_min, ref_max]")
    return _reference(interior, counts.astype(np.int64), float(ref_min), float(ref_max))


def _reference_from_values(values: npt.NDArray[np.float64], n_bins: int) -> _Reference:
    # Edges are sample values, so every quantile bin [e_j, e_j+1) holds at least e_j itself;
    # an edge equal to the minimum would bound an empty first bin and is dropped.
    ordered = np.sort(values)
    ref_min = float(ordered[0])
    ref_max = float(ordered[-1])
    edges = np.unique(ordered[np.arange(1, n_bins) * ordered.size // n_bins])
    edges = edges[edges > ref_min].astype(np.float64)
    bins = np.searchsorted(_search_edges(ref_min, edges, ref_max), values, side="right")
    counts = np.bincount(bins, minlength=edges.size + 3).astype(np.int64)
    return _reference(edges, counts, ref_min, ref_max)


class HistogramDrift:
    """Drift, out-of-range and sparse-support checks of a numeric feature, window by window.

    Live finite values are binned into **tumbling windows** of ``window`` values; when a
    window closes, its histogram is compared with the reference (training) histogram and a
    ``HistogramReport`` is returned. NaN and ±inf values are skipped and counted in ``n_nan``.

    **Bins.** ``edges`` are the reference's interior quantile edges ``e_0 < ... < e_{k-1}``,
    strictly increasing (de-duplicated). With ``ref_min``/``ref_max`` the training minimum
    and maximum there are ``k + 3`` full bins, and ``ref_counts`` has one count per full bin:
    underflow ``x < ref_min``; quantile bins ``[ref_min, e_0)``, ``[e_0, e_1)``, ...,
    ``[e_{k-1}, ref_max]``; overflow ``x > ref_max`` (under- and overflow counts are 0 when
    ``ref_min``/``ref_max`` are the training extremes). Inside the range a value's quantile
    bin is ``np.searchsorted(edges, x, side="right")``: a value equal to an edge belongs to
    the bin on its right.

    **Statistics.** ``psi``, ``js`` and the two-sample ``chi2``/``p_value`` are computed over
    *drift bins*: the full bins where the reference has mass, each empty full bin merged into
    its left neighbour (the first into its right one). So under- and overflow fold into the
    outer quantile bins and a few values past the training extremes do not register as drift
    by themselves; ``out_of_range_rate`` and ``sparse_rate`` report them. Rules, with the
    thresholds in force when the window closes (plain attributes, change them at any time):

    - ``drift``: ``psi >= psi_threshold or js >= js_threshold or p_value <= p_value_threshold``
    - ``out_of_range``: ``out_of_range_rate >= out_of_range_threshold``
    - ``sparse``: ``sparse_rate >= sparse_threshold``, where a full bin is sparse when the
      reference has fewer than ``sparse_min_count`` values in it (under- and overflow
      included, so out-of-range values are sparse unless ``ref_counts`` gives them mass).

    **No reference.** With ``edges=None`` the first ``window`` finite values become the
    reference: ``n_bins`` quantile bins (edge ``j`` is the sample value of 0-based rank
    ``j * window // n_bins``, so bins of distinct values hold equal shares),
    their counts, min and max. That window yields no report (compared with itself it carries
    no information); reports start with the second window.

    **Memory bound.** With ``k`` interior edges (``k = len(edges)``, or at most ``n_bins - 1``
    when learned) the state is ``k`` edge floats plus derived ``k + 2`` search edges, the
    reference and live counts and the drift-bin map (``k + 3`` int64 each) and 15 scalars
    (settings, counters, the open window's sums, min and max): O(n_bins), whatever the
    stream length. No value is stored, except that until a learned reference is complete its
    first window is buffered (at most ``window`` float64, freed then). ``update_many`` needs
    O(batch) temporary arrays.

    Parameters
    ----------
    edges, ref_counts, ref_min, ref_max
        The reference histogram, as above; all four or none.
    window
        Finite values per tumbling window.
    n_bins
        Quantile bins of a reference learned from the first window.
    sparse_min_count
        Reference count below which a full bin is sparse.
    psi_threshold, js_threshold, p_value_threshold
        Drift thresholds.
    out_of_range_threshold, sparse_threshold
        Thresholds on the out-of-range and sparse shares of a window.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(42)
    >>> detector = HistogramDrift.from_sample(rng.normal(size=100_000), window=1000)
    >>> stream = np.concatenate([rng.normal(0.0, 1.0, 3500), rng.normal(0.5, 1.0, 2500)])
    >>> for report in detector.update_many(stream):
    ...     print(report.index, report.drift, round(report.psi, 3))
    999 False 0.021
    1999 False 0.018
    2999 False 0.011
    3999 True 0.07
    4999 True 0.264
    5999 True 0.28
    """

    # Defaults measured on seeded data, reference from 100,000 samples, windows of 5000:
    # 2,000 stationary windows each of N(0, 1) and lognormal(0, 1) gave 0 drift, 0 out-of-range
    # and 0 sparse flags. Stationary noise sits far below each threshold: PSI mean 0.004
    # (~ (bins - 1) / window), max 0.010; JS mean 0.026, max 0.043; smallest p-value 1.8e-4
    # (p <= 1e-6 alone means ~1e-6 false flags per window). With a reference learned from the
    # first window, also 0/2,000 (PSI max 0.017, JS max 0.055, smallest p 2.0e-3). A 0.5 sigma
    # mean shift was flagged in the first full window after it in 200/200 trials (PSI >= 0.214,
    # p <= 1e-217).
    def __init__(
        self,
        edges: Sequence[float] | None = None,
        ref_counts: Sequence[int] | None = None,
        ref_min: float | None = None,
        ref_max: float | None = None,
        window: int = 5000,
        n_bins: int = 20,
        sparse_min_count: int = 5,
        psi_threshold: float = 0.2,
        js_threshold: float = 0.1,
        p_value_threshold: float = 1e-6,
        out_of_range_threshold: float = 0.01,
        sparse_threshold: float = 0.05,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        if n_bins < 1:
            raise ValueError(f"n_bins must be at least 1, got {n_bins}")
        self._window = int(window)
        self._n_bins = int(n_bins)
        self.sparse_min_count = sparse_min_count
        self.psi_threshold = psi_threshold
        self.js_threshold = js_threshold
        self.p_value_threshold = p_value_threshold
        self.out_of_range_threshold = out_of_range_threshold
        self.sparse_threshold = sparse_threshold
        self.n_nan = 0
        self._reference: _Reference | None = None
        self._buffer = np.empty(0, dtype=np.float64)
        self._n_buffered = 0
        if edges is None:
            if ref_counts is not None or ref_min is not None or ref_max is not None:
                raise ValueError("ref_counts, ref_min and ref_max need edges: pass all four")
            self._buffer = np.empty(self._window, dtype=np.float64)
        else:
            self._reference = _reference_from_profile(edges, ref_counts, ref_min, ref_max)
        self._reset_window()

    @classmethod
    def from_sample(cls, sample: npt.ArrayLike, n_bins: int = 20, **options: Any) -> Self:
        """Build a detector whose reference is ``sample``'s histogram, the way a learned one is.

        ``options`` are the other constructor arguments (``window``, thresholds).

        >>> import numpy as np
        >>> detector = HistogramDrift.from_sample(np.arange(100.0), n_bins=4)
        >>> detector.reference_edges, detector.reference_counts
        ([25.0, 50.0, 75.0], [0, 25, 25, 25, 25, 0])
        """
        values = as_float_array(sample)
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise ValueError("the reference sample has no finite value")
        reference = _reference_from_values(values, n_bins)
        return cls(
            reference.edges.tolist(),
            reference.counts.tolist(),
            reference.ref_min,
            reference.ref_max,
            n_bins=n_bins,
            **options,
        )

    @property
    def window(self) -> int:
        """Finite values per tumbling window."""
        return self._window

    @property
    def n_bins(self) -> int:
        """Quantile bins of a reference learned from the first window."""
        return self._n_bins

    @property
    def reference_ready(self) -> bool:
        """Whether the reference is known (given, or learned from a complete first window)."""
        return self._reference is not None

    @property
    def reference_edges(self) -> list[float] | None:
        """The interior quantile edges, or None while the reference is being learned."""
        return None if self._reference is None else self._reference.edges.tolist()

    @property
    def reference_counts(self) -> list[int] | None:
        """Reference counts of the full bins (underflow, quantile bins, overflow), or None."""
        return None if self._reference is None else self._reference.counts.tolist()

    def update_many(self, values: npt.ArrayLike) -> list[HistogramReport]:
        """Feed a 1-D float array; return a report for each window it closes, in order.

        NaN and ±inf are skipped (counted in ``n_nan``); a report's ``index`` is the position
        in ``values`` of the value that closed its window.
        """
        batch = as_float_array(values)
        finite = np.isfinite(batch)
        n_finite = int(np.count_nonzero(finite))
        self.n_nan += batch.size - n_finite
        positions = None if n_finite == batch.size else np.flatnonzero(finite)
        live = batch if positions is None else batch[positions]
        first = 0 if self._reference is not None else self._learn(live)
        if first == live.size:
            return []
        return self._accumulate(live, first, positions)

    def _learn(self, live: npt.NDArray[np.float64]) -> int:
        taken = min(self._window - self._n_buffered, live.size)
        self._buffer[self._n_buffered : self._n_buffered + taken] = live[:taken]
        self._n_buffered += taken
        if self._n_buffered == self._window:
            self._reference = _reference_from_values(self._buffer, self._n_bins)
            self._buffer = np.empty(0, dtype=np.float64)
            self._n_buffered = 0
            self._reset_window()
        return taken

    def _reset_window(self) -> None:
        n_full_bins = 0 if self._reference is None else self._reference.counts.size
        self._counts = np.zeros(n_full_bins, dtype=np.int64)
        self._n_in_window = 0
        self._sum = 0.0
        self._sum_sq = 0.0
        self._min = math.inf
        self._max = -math.inf

    def _accumulate(
        self,
        live: npt.NDArray[np.float64],
        first: int,
        positions: npt.NDArray[np.intp] | None,
    ) -> list[HistogramReport]:
        reference = self._reference
        assert reference is not None
        values = live[first:]
        n_values = values.size
        window = self._window
        n_closed, n_open = divmod(self._n_in_window + n_values, window)
        # Row r of this batch holds values[starts[r]:starts[r + 1]]: row 0 completes the open
        # window, the last row may be left open.
        starts = np.concatenate(([0], np.arange(window - self._n_in_window, n_values, window)))
        n_rows = starts.size
        n_full_bins = reference.counts.size
        bins = np.searchsorted(reference.search_edges, values, side="right")
        if n_rows > 1:
            rows = np.repeat(np.arange(n_rows), np.diff(starts, append=n_values))
            bins += rows * n_full_bins
        counts = np.bincount(bins, minlength=n_rows * n_full_bins).reshape(n_rows, n_full_bins)
        counts[0] += self._counts
        centred = values - reference.shift
        sums = np.add.reduceat(centred, starts)
        sums_sq = np.add.reduceat(np.square(centred, out=centred), starts)
        mins = np.minimum.reduceat(values, starts)
        maxs = np.maximum.reduceat(values, starts)
        sums[0] += self._sum
        sums_sq[0] += self._sum_sq
        mins[0] = min(mins[0], self._min)
        maxs[0] = max(maxs[0], self._max)
        ends = np.append(starts[1:], n_values)

        reports = []
        for row in range(n_closed):
            closing = first + int(ends[row]) - 1
            index = closing if positions is None else int(positions[closing])
            summary = _summary(
                window, reference.shift, sums[row], sums_sq[row], mins[row], maxs[row]
            )
            reports.append(self._report(index, counts[row], summary))
        self._reset_window()
        if n_open:
            self._counts = counts[-1].copy()
            self._n_in_window = n_open
            self._sum = float(sums[-1])
            self._sum_sq = float(sums_sq[-1])
            self._min = float(mins[-1])
            self._max = float(maxs[-1])
        return reports

    def _report(
        self, index: int, counts: npt.NDArray[np.int64], summary: LiveSummary
    ) -> HistogramReport:
        reference = self._reference
        assert reference is not None
        n = self._window
        drift_counts = np.add.reduceat(counts, reference.drift_starts)
        psi_value = psi(reference.drift_counts, drift_counts)
        js_value = js_distance(reference.drift_counts, drift_counts)
        chi2_value, p_value = chi_square_two_sample(reference.drift_counts, drift_counts)
        out_of_range_rate = float(counts[0] + counts[-1]) / n
        sparse_bins = reference.counts < self.sparse_min_count
        sparse_rate = float(counts[sparse_bins].sum()) / n
        return HistogramReport(
            index=index,
            n=n,
            psi=psi_value,
            js=js_value,
            chi2=chi2_value,
            p_value=p_value,
            out_of_range_rate=out_of_range_rate,
            sparse_rate=sparse_rate,
            drift=(
                psi_value >= self.psi_threshold
                or js_value >= self.js_threshold
                or p_value <= self.p_value_threshold
            ),
            out_of_range=out_of_range_rate >= self.out_of_range_threshold,
            sparse=sparse_rate >= self.sparse_threshold,
            live_summary=summary,
        )

    def snapshot(self) -> dict[str, Any]:
        """Return the full state as a JSON-serialisable dict (see ``restore``)."""
        reference = self._reference
        open_window = self._n_in_window > 0
        return {
            "kind": _STATE_KIND,
            "version": _STATE_VERSION,
            **{name: getattr(self, name) for name in _SETTINGS},
            "n_nan": self.n_nan,
            "reference": None
            if reference is None
            else {
                "edges": reference.edges.tolist(),
                "counts": reference.counts.tolist(),
                "min": reference.ref_min,
                "max": reference.ref_max,
            },
            "learning_buffer": self._buffer[: self._n_buffered].tolist(),
            "live": {
                "counts": self._counts.tolist(),
                "n": self._n_in_window,
                "sum": self._sum,
                "sum_sq": self._sum_sq,
                "min": self._min if open_window else None,
                "max": self._max if open_window else None,
            },
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> Self:
        """Rebuild a detector from ``snapshot()``; it makes the same future reports.

        >>> import json
        >>> import numpy as np
        >>> stream = np.random.default_rng(7).normal(size=2500)
        >>> detector = HistogramDrift(window=1000)
        >>> _ = detector.update_many(stream[:1700])
        >>> restored = HistogramDrift.restore(json.loads(json.dumps(detector.snapshot())))
        >>> restored.update_many(stream[1700:]) == detector.update_many(stream[1700:])
        True
        """
        if state.get("kind") != _STATE_KIND or state.get("version") != _STATE_VERSION:
            raise ValueError(
                f"not a {_STATE_KIND} v{_STATE_VERSION} snapshot: kind={state.get('kind')!r}, "
                f"version={state.get('version')!r}"
            )
        reference = state["reference"] or {}
        detector = cls(
            reference.get("edges"),
            reference.get("counts"),
            reference.get("min"),
            reference.get("max"),
            **{name: state[name] for name in _SETTINGS},
        )
        detector.n_nan = int(state["n_nan"])
        if not reference:
            buffered = np.asarray(state["learning_buffer"], dtype=np.float64)
            detector._buffer[: buffered.size] = buffered
            detector._n_buffered = int(buffered.size)
        live = state["live"]
        detector._counts = np.asarray(live["counts"], dtype=np.int64)
        if detector._counts.size != len(reference.get("counts", [])):
            raise ValueError("snapshot live counts do not match its reference bins")
        detector._n_in_window = int(live["n"])
        detector._sum = float(live["sum"])
        detector._sum_sq = float(live["sum_sq"])
        if live["n"]:
            detector._min = float(live["min"])
            detector._max = float(live["max"])
        return detector


def _summary(
    n: int, shift: float, total: float, total_sq: float, low: float, high: float
) -> LiveSummary:
    mean_offset = float(total) / n
    variance = max(float(total_sq) / n - mean_offset * mean_offset, 0.0)
    return LiveSummary(shift + mean_offset, math.sqrt(variance), float(low), float(high))
