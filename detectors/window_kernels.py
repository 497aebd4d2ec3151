"""Compiled window statistics the pane judges are made of: the variance inflation of a
window (``dependence.variance_inflation``), lag-1 autocorrelations from sums, a share's
binomial z with its floor test, PSI and Pearson's chi-square of a window's counts, and the
bookkeeping of which window fires strongest. Each mirrors its numpy counterpart in
``window_tests`` and ``dependence`` (those explain a firing pane; these decide)."""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from driftwarden.detectors.dependence import MAX_RHO

__all__ = [
    "column_sum",
    "distribution_counts",
    "indicator_rho",
    "inflation",
    "lag1",
    "note_firing",
    "prefix_sums",
    "psi_of",
    "rate_passes",
    "rate_z",
]


_PSI_EPS = 1e-4


@numba.njit(cache=True)
def inflation(rho: float, n: float) -> float:
    r = min(max(rho, 0.0), MAX_RHO)
    if r < 0.05:
        return 1.0 + 2.0 * r  # within 2 r / n of the exact value, without a power
    size = max(n, 1.0)
    value = (1.0 + r) / (1.0 - r) - 2.0 * r * (1.0 - r**size) / (size * (1.0 - r) ** 2)
    return max(value, 1.0)


@numba.njit(cache=True)
def prefix_sums(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``out[i]`` = the sum of ``rows[:i]``: exact for the count columns (integers in float64),
    and used only for them; a float column's window is summed from its rows."""
    out = np.zeros((rows.shape[0] + 1, rows.shape[1]), dtype=np.float64)
    for i in range(rows.shape[0]):
        for c in range(rows.shape[1]):
            out[i + 1, c] = out[i, c] + rows[i, c]
    return out


@numba.njit(cache=True)
def column_sum(rows: npt.NDArray[np.float64], start: int, end: int, column: int) -> float:
    """``rows[start:end, column]`` summed in order: a float column's window sum must not
    depend on where the history began (prefix sums would), so that a restart gives the same
    bits."""
    total = 0.0
    for i in range(start, end):
        total += rows[i, column]
    return total


@numba.njit(cache=True)
def lag1(n: float, total: float, total_sq: float, pairs: float, cross: float) -> float:
    if n <= 1.0 or pairs <= 0.0:
        return 0.0
    mean = total / n
    variance = total_sq / n - mean * mean
    if not variance > 1e-12 * max(mean * mean, 1.0):
        return 0.0
    rho = (cross / pairs - mean * mean) / variance
    return min(max(rho, -1.0), 1.0) if math.isfinite(rho) else 0.0


@numba.njit(cache=True)
def indicator_rho(records: float, hits: float, both: float) -> float:
    """Lag-1 autocorrelation of an indicator from its count and consecutive pairs."""
    n = max(records, 1.0)
    p = hits / n
    if not (0.0 < p < 1.0):
        return 0.0
    rho = (both / n - p * p) / (p * (1.0 - p))
    return min(max(rho, -1.0), 1.0) if math.isfinite(rho) else 0.0


@numba.njit(cache=True)
def rate_z(count: float, n: float, ref: float, vif: float) -> tuple[float, float]:
    """(change of the share, binomial z), the reference floored at half a record."""
    size = max(n, 1.0)
    floor = 0.5 / size
    v = min(max(ref, floor), 1.0 - floor)
    change = count / size - ref
    return change, change / math.sqrt(v * (1.0 - v) * vif / size)


@numba.njit(cache=True)
def psi_of(live: npt.NDArray[np.float64], n: float, ref_share: npt.NDArray[np.float64]) -> float:
    size = max(n, 1.0)
    psi = 0.0
    for g in range(live.size):
        q = max(live[g] / size, _PSI_EPS)
        p = max(ref_share[g], _PSI_EPS)
        psi += (q - p) * math.log(q / p)
    return psi


@numba.njit(cache=True)
def distribution_counts(
    cumulative: npt.NDArray[np.float64],
    end: int,
    start: int,
    offset: int,
    bins: npt.NDArray[np.intp],
    group: npt.NDArray[np.intp],
    n_groups: int,
    ref_share: npt.NDArray[np.float64],
    inverse_share: npt.NDArray[np.float64],
    worth: float,
    live: npt.NDArray[np.float64],
) -> tuple[float, float]:
    """(values, chi-square) of the window's counts (full columns ``offset + bins[i]``, summed
    into ``group[i]``, left in ``live``) against the reference, as
    ``window_tests.distribution_test`` computes it."""
    live[:] = 0.0
    for i in range(bins.size):
        column = offset + bins[i]
        live[group[i]] += cumulative[end, column] - cumulative[start, column]
    n = 0.0
    for g in range(n_groups):
        n += live[g]
    fit = 0.0
    for g in range(n_groups):
        deviation = live[g] - n * ref_share[g]
        fit += deviation * deviation * inverse_share[g]
    size = max(n, 1.0)
    return n, fit / size * (worth / (worth + size))


@numba.njit(cache=True)
def rate_passes(
    count: float, n: float, ref: float, vif: float, z_threshold: float, margin: float, floor: float
) -> bool:
    """A share's evidence against the reference (binomial z of the change, the reference
    floored at half a record) and its change beyond ``floor`` by ``margin`` standard errors
    of the live share (so that a share a little under the floor does not cross it by
    chance in a short window)."""
    size = max(n, 1.0)
    change, z = rate_z(count, n, ref, vif)
    rate = count / size
    live = min(max(rate, 1.0 / size), 1.0 - 1.0 / size)
    error = math.sqrt(live * (1.0 - live) * vif / size)
    return abs(z) >= z_threshold and abs(change) - margin * error >= floor


@numba.njit(cache=True)
def note_firing(
    out_fire: npt.NDArray[np.bool_],
    out_scale: npt.NDArray[np.int64],
    out_strength: npt.NDArray[np.float64],
    j: int,
    k: int,
    s: int,
    passes: bool,
    effect: float,
    floor: float,
) -> None:
    if not (passes and effect >= floor):
        return
    strength = effect / floor if floor > 0.0 else math.inf
    if not out_fire[j, k] or strength > out_strength[j, k]:
        out_scale[j, k] = s
        out_strength[j, k] = strength
    out_fire[j, k] = True
