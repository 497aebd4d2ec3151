"""Distances between a reference histogram and a live one, computed on bin counts.

Every function takes two 1-D arrays of non-negative counts over the same bins (the reference
first, the live window second) and returns plain Python floats. Both totals must be positive.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt
from scipy.special import chdtrc

__all__ = ["chi_square", "chi_square_two_sample", "js_distance", "psi"]


@numba.njit(cache=True)
def _totals(ref: npt.NDArray[np.float64], live: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Both totals, or NaN totals when a count is negative or NaN."""
    ref_total = 0.0
    live_total = 0.0
    for i in range(ref.size):
        r = ref[i]
        q = live[i]
        if not (r >= 0.0 and q >= 0.0):
            return np.nan, np.nan
        ref_total += r
        live_total += q
    return ref_total, live_total


def _count_pair(
    ref_counts: npt.ArrayLike, live_counts: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float, float]:
    """Return both count arrays as float64 with their totals, after checking them."""
    ref = np.ascontiguousarray(ref_counts, dtype=np.float64)
    live = np.ascontiguousarray(live_counts, dtype=np.float64)
    if ref.ndim != 1 or ref.shape != live.shape or ref.size == 0:
        raise ValueError(
            f"expected two 1-D count arrays over the same bins, got shapes {ref.shape} "
            f"and {live.shape}"
        )
    ref_total, live_total = _totals(ref, live)
    if math.isnan(ref_total):
        raise ValueError("counts must be non-negative numbers")
    if not (0 < ref_total < math.inf and 0 < live_total < math.inf):
        raise ValueError(f"counts must have finite positive totals, got {ref_total}, {live_total}")
    return ref, live, ref_total, live_total


# The kernels below run once per closed window over a few dozen bins: compiled, they cost
# about a microsecond where the equivalent chain of numpy calls costs tens.


@numba.njit(cache=True)
def _psi(
    ref: npt.NDArray[np.float64],
    live: npt.NDArray[np.float64],
    ref_total: float,
    live_total: float,
    eps: float,
) -> float:
    total = 0.0
    for i in range(ref.size):
        p = max(ref[i] / ref_total, eps)
        q = max(live[i] / live_total, eps)
        total += (q - p) * math.log(q / p)
    return total


@numba.njit(cache=True)
def _js_divergence_nats(
    ref: npt.NDArray[np.float64], live: npt.NDArray[np.float64], ref_total: float, live_total: float
) -> float:
    total = 0.0
    for i in range(ref.size):
        p = ref[i] / ref_total
        q = live[i] / live_total
        m = 0.5 * (p + q)
        if p > 0.0:
            total += p * math.log(p / m)
        if q > 0.0:
            total += q * math.log(q / m)
    return total


@numba.njit(cache=True)
def _two_sample_statistic(
    ref: npt.NDArray[np.float64], live: npt.NDArray[np.float64], ref_total: float, live_total: float
) -> tuple[float, int]:
    total = 0.0
    columns = 0
    for i in range(ref.size):
        column = ref[i] + live[i]
        if column > 0.0:
            deviation = ref[i] * live_total - live[i] * ref_total
            total += deviation * deviation / column
            columns += 1
    return total / (ref_total * live_total), columns


def psi(ref_counts: npt.ArrayLike, live_counts: npt.ArrayLike, eps: float = 1e-4) -> float:
    """Population stability index of the live histogram against the reference one.

    ``PSI = sum_i (q_i - p_i) * ln(q_i / p_i)`` where ``p`` and ``q`` are the reference and live
    bin proportions, each floored at ``eps`` (and not renormalised) so that an empty bin gives
    a large but finite term. It is the symmetrised Kullback-Leibler divergence, in nats.

    >>> psi([50, 30, 20], [50, 30, 20])
    0.0
    >>> round(psi([50, 30, 20], [20, 30, 50]), 4)
    0.5498
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    ref, live, ref_total, live_total = _count_pair(ref_counts, live_counts)
    return float(_psi(ref, live, ref_total, live_total, eps))


def js_distance(ref_counts: npt.ArrayLike, live_counts: npt.ArrayLike) -> float:
    """Jensen-Shannon distance (base 2, so in [0, 1]) between the two histograms.

    The square root of the Jensen-Shannon divergence of the bin proportions; empty bins need
    no smoothing. 0 means identical proportions, 1 means disjoint supports.

    >>> js_distance([50, 30, 20], [50, 30, 20])
    0.0
    >>> js_distance([10, 0], [0, 10])
    1.0
    >>> round(js_distance([50, 30, 20], [20, 30, 50]), 4)
    0.3095
    """
    ref, live, ref_total, live_total = _count_pair(ref_counts, live_counts)
    # p ln(p / m) summed, with 0 where p == 0; halved and converted to bits.
    divergence = _js_divergence_nats(ref, live, ref_total, live_total) / (2.0 * math.log(2.0))
    return min(1.0, math.sqrt(max(divergence, 0.0)))


def _p_value(statistic: float, dof: int) -> float:
    if dof < 1:
        return 1.0
    if math.isinf(statistic):
        return 0.0
    return float(chdtrc(dof, statistic))


def chi_square(ref_counts: npt.ArrayLike, live_counts: npt.ArrayLike) -> tuple[float, float]:
    """Pearson goodness-of-fit of the live counts to the reference proportions.

    Returns ``(statistic, p_value)``. Expected counts are ``n_live * ref_i / n_ref``, so the
    reference is taken as exact: use ``chi_square_two_sample`` when it is a sample too.

    Bins where the reference is empty: when the live window is empty there as well, the bin
    carries no information and is dropped (one degree of freedom fewer); when the live
    window has values there, the live data are impossible under the reference, so the result
    is ``(inf, 0.0)``. With fewer than two informative bins the result is ``(0.0, 1.0)``.

    >>> statistic, p_value = chi_square([50, 30, 20], [40, 30, 30])
    >>> round(statistic, 3), round(p_value, 4)
    (7.0, 0.0302)
    >>> chi_square([50, 50, 0], [50, 49, 1])
    (inf, 0.0)
    """
    ref, live, ref_total, live_total = _count_pair(ref_counts, live_counts)
    expected = ref * (live_total / ref_total)
    informative = expected > 0
    if np.any(live[~informative] > 0):
        return math.inf, 0.0
    observed = live[informative]
    expected = expected[informative]
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, _p_value(statistic, int(observed.size) - 1)


def chi_square_two_sample(
    ref_counts: npt.ArrayLike, live_counts: npt.ArrayLike
) -> tuple[float, float]:
    """Pearson chi-square test that both histograms come from one distribution.

    The test of homogeneity on the 2 x bins contingency table (no continuity correction).
    Unlike ``chi_square`` it accounts for the sampling noise of the reference too, so its
    false-alarm rate holds whether the reference has 5,000 or 5,000,000 values. Bins empty
    in both histograms are dropped; with fewer than two remaining bins the result is
    ``(0.0, 1.0)``. Returns ``(statistic, p_value)``.

    >>> statistic, p_value = chi_square_two_sample([50, 30, 20], [40, 30, 30])
    >>> round(statistic, 3), round(p_value, 4)
    (3.111, 0.2111)
    """
    ref, live, ref_total, live_total = _count_pair(ref_counts, live_counts)
    # For two rows, sum((O - E)^2 / E) reduces to one sum over the non-empty columns.
    statistic, columns = _two_sample_statistic(ref, live, ref_total, live_total)
    return float(statistic), _p_value(float(statistic), int(columns) - 1)
