"""The reference histogram HistogramDrift compares live windows with, and how it is built.

The bin convention is documented on ``HistogramDrift``: ``k`` interior quantile edges
give ``k + 3`` full bins (underflow, ``k + 1`` quantile bins, overflow), and a value's bin is
``np.searchsorted(search_edges, x, side="right")`` over ``[ref_min, *edges,
nextafter(ref_max, inf)]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.histogram_kernel import BinLookup, ranked_values

__all__ = [
    "HistogramReference",
    "exact_samples_worth",
]


def _search_edges(
    ref_min: float, edges: npt.NDArray[np.float64], ref_max: float
) -> npt.NDArray[np.float64]:
    return np.concatenate(([ref_min], edges, [np.nextafter(ref_max, np.inf)])).astype(np.float64)


@dataclass(frozen=True, slots=True)
class HistogramReference:
    """The reference histogram over the full bins, with what the live side derives from it.

    ``drift_starts`` maps full bins to drift bins (see ``HistogramDrift``) for
    ``np.add.reduceat``; ``drift_counts`` are the reference counts per drift bin; ``shift``
    is the value live moments are summed around; ``lookup`` bins live values.

    >>> import numpy as np
    >>> reference = HistogramReference.from_values(np.arange(100.0), n_bins=4)
    >>> reference.edges.tolist(), reference.counts.tolist(), reference.drift_counts.tolist()
    ([25.0, 50.0, 75.0], [0, 25, 25, 25, 25, 0], [25, 25, 25, 25])
    """

    edges: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int64]
    ref_min: float
    ref_max: float
    search_edges: npt.NDArray[np.float64]
    drift_starts: npt.NDArray[np.intp]
    drift_counts: npt.NDArray[np.int64]
    shift: float
    lookup: BinLookup

    @classmethod
    def build(
        cls,
        edges: npt.NDArray[np.float64],
        counts: npt.NDArray[np.int64],
        ref_min: float,
        ref_max: float,
    ) -> HistogramReference:
        """Derive the rest from checked interior ``edges``, full-bin ``counts`` and range.

        >>> import numpy as np
        >>> reference = HistogramReference.build(np.array([1.0]), np.array([0, 5, 5, 0]),
        ...                                      0.0, 2.0)
        >>> reference.drift_starts.tolist(), reference.shift
        ([0, 2], 1.0)
        """
        # Each drift bin starts at a full bin with reference mass; empty full bins (under-
        # and overflow, tied edges) join the preceding drift bin, leading ones the first.
        drift_starts = np.concatenate(([0], np.flatnonzero(counts > 0)[1:])).astype(np.intp)
        search_edges = _search_edges(ref_min, edges, ref_max)
        return cls(
            edges=edges,
            counts=counts,
            ref_min=ref_min,
            ref_max=ref_max,
            search_edges=search_edges,
            drift_starts=drift_starts,
            drift_counts=np.add.reduceat(counts, drift_starts),
            # Window moments are summed around the reference median so that a large offset
            # (a timestamp) does not cancel catastrophically in the variance.
            shift=float(edges[edges.size // 2]) if edges.size else ref_min,
            lookup=BinLookup.build(search_edges),
        )

    @classmethod
    def from_profile(
        cls,
        edges: Sequence[float],
        ref_counts: Sequence[int] | None,
        ref_min: float | None,
        ref_max: float | None,
    ) -> HistogramReference:
        """Check a profile's histogram (the ``HistogramDrift`` arguments) and build it.

        >>> HistogramReference.from_profile([1.0], [0, 5, 5, 0], 0.0, 2.0).search_edges.tolist()
        [0.0, 1.0, 2.0000000000000004]
        """
        if ref_counts is None or ref_min is None or ref_max is None:
            raise ValueError("edges need ref_counts, ref_min and ref_max: pass all four or none")
        interior = np.asarray(edges, dtype=np.float64)
        counts = np.asarray(ref_counts, dtype=np.float64)
        if interior.ndim != 1 or not np.all(np.isfinite(interior)):
            raise ValueError("edges must be a 1-D sequence of finite numbers")
        if np.any(np.diff(interior) <= 0):
            raise ValueError(
                "edges must be strictly increasing (de-duplicate quantile edges first)"
            )
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
        return cls.build(interior, counts.astype(np.int64), float(ref_min), float(ref_max))

    @classmethod
    def from_values(cls, values: npt.NDArray[np.float64], n_bins: int) -> HistogramReference:
        """The histogram of finite ``values`` in ``n_bins`` quantile bins (edge ``j`` is the
        value of 0-based rank ``j * len(values) // n_bins``; tied edges are merged).

        >>> import numpy as np
        >>> HistogramReference.from_values(np.array([3.0, 1.0, 2.0, 2.0]), 2).counts.tolist()
        [0, 1, 3, 0]
        """
        # Edges are sample values, so every quantile bin [e_j, e_j+1) holds at least e_j;
        # an edge equal to the minimum would bound an empty first bin and is dropped.
        n = values.size
        at, below = ranked_values(values, np.arange(1, n_bins, dtype=np.int64) * n // n_bins)
        ref_min = float(values.min())
        ref_max = float(values.max())
        keep = (at > ref_min) & np.append(True, at[1:] != at[:-1])
        # Full bin b holds the values from search edge b - 1 (included) to search edge b
        # (excluded); below[j] values are under edge j, none under ref_min, all under
        # nextafter(ref_max).
        counts = np.diff(np.concatenate(([0, 0], below[keep], [n, n]))).astype(np.int64)
        return cls.build(at[keep].astype(np.float64), counts, ref_min, ref_max)


# A KLL sketch's stated rank error (99 % confidence, any query) is about five standard
# deviations of the error its bin counts actually carry: with that, windows drawn from the
# training distribution fail the chi-square test at about its nominal rate (measured: 8
# profiles of 100,000 normal or lognormal values, 200 windows each, p < 0.05 in 2.3 % and
# p < 0.01 in 0.4 % of windows; 15 % and 5.5 % when the counts are taken as exact).
_SKETCH_ERROR_SDS = 5.0


def exact_samples_worth(total: float, bins: int, rank_error: float) -> float:
    """How many exact samples a reference of ``total`` counts is worth when each bin
    boundary's rank is within ``rank_error * total``: the sample size whose noise on a share
    of ``1 / bins`` equals the reference's own sampling noise plus the sketch's (two
    boundaries per bin)."""
    if rank_error <= 0.0 or bins < 2:
        return total
    share = 1.0 / bins
    sketch_variance = 2.0 * (rank_error / _SKETCH_ERROR_SDS) ** 2
    return 1.0 / (1.0 / total + sketch_variance / (share * (1.0 - share)))
