"""The tests a window of panes is judged by, vectorised over many windows at once, each
corrected for serial dependence by a variance inflation factor (see ``dependence``); and the
split statistics that locate where a change began.

Every function takes arrays with one entry (or row) per window and returns arrays alike.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import chdtrc

__all__ = [
    "distribution_splits",
    "distribution_test",
    "mean_splits",
    "mean_test",
    "rate_splits",
    "rate_test",
]

_Floats = npt.NDArray[np.float64]
_PSI_EPS = 1e-4


def mean_test(
    n: _Floats, total: _Floats, total_sq: _Floats, vif: _Floats
) -> tuple[_Floats, _Floats, _Floats]:
    """Mean of standardised values against 0: ``(mean, variance, z)`` where
    ``z = mean / sqrt(max(variance, 1) * vif / n)``: the spread is never taken below the
    reference's (1), because a skewed feature's windows at a low level are narrow without
    being any more certain.

    >>> d, var, z = mean_test(np.array([100.0]), np.array([50.0]), np.array([125.0]),
    ...                       np.array([4.0]))
    >>> d.item(), var.item(), z.item()
    (0.5, 1.0, 2.5)
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, total / n, 0.0)
        variance = np.maximum(np.where(n > 0, total_sq / n, 0.0) - mean * mean, 1e-12)
        z = np.where(n > 0, mean / np.sqrt(np.maximum(variance, 1.0) * vif / n), 0.0)
    return mean, variance, z


def rate_test(
    count: _Floats, n: _Floats, ref_rate: float, vif: _Floats
) -> tuple[_Floats, _Floats, _Floats]:
    """A share against the reference share: ``(rate, rate - ref_rate, z)``, the binomial z with
    the reference share floored at half a record either side, so that a reference of 0 does
    not make one occurrence infinitely significant.

    >>> rate, change, z = rate_test(np.array([30.0]), np.array([1000.0]), 0.01, np.array([1.0]))
    >>> rate.item(), round(change.item(), 3), round(z.item(), 2)
    (0.03, 0.02, 6.36)
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, count / n, 0.0)
        floor = 0.5 / np.maximum(n, 1.0)
        v = np.clip(ref_rate, floor, 1.0 - floor)
        change = rate - ref_rate
        z = np.where(n > 0, change / np.sqrt(v * (1.0 - v) * vif / np.maximum(n, 1.0)), 0.0)
    return rate, change, z


def distribution_test(
    reference: _Floats, reference_worth: float, live: _Floats, vif: _Floats
) -> tuple[_Floats, _Floats, _Floats]:
    """Live bin counts (one row per window) against the reference counts:
    ``(psi, psi_excess, p_value)``.

    ``psi`` uses shares floored at 1e-4; ``psi_excess`` subtracts what sampling noise alone
    gives on average, ``(bins - 1) * (vif / n + 1 / reference_worth)`` (PSI is close to
    chi-square / n for small differences). The p-value is Pearson's chi-square of the live
    counts against the reference shares, times ``worth / (worth + n)`` for the reference's own
    sampling noise (``reference_worth`` exact samples: the two-sample test's expectation),
    divided by ``vif``. Every reference count must be positive.

    >>> ref = np.array([250.0, 250.0, 250.0, 250.0])
    >>> psi, excess, p = distribution_test(ref, 1000.0, np.array([[40.0, 20.0, 20.0, 20.0]]),
    ...                                    np.array([1.0]))
    >>> round(psi.item(), 3), round(excess.item(), 3), p.item() < 1e-3
    (0.104, 0.071, False)
    """
    ref_total = reference.sum()
    n = live.sum(axis=1)
    size = np.maximum(n, 1.0)
    share = reference / ref_total
    p = np.maximum(share, _PSI_EPS)
    q = np.maximum(live / size[:, None], _PSI_EPS)
    psi = ((q - p) * np.log(q / p)).sum(axis=1)
    dof = reference.size - 1
    excess = psi - dof * (vif / size + 1.0 / reference_worth)
    deviation = live - n[:, None] * share[None, :]
    fit = (deviation * deviation / share[None, :]).sum(axis=1) / size
    chi2 = fit * (reference_worth / (reference_worth + size))
    p_value = chdtrc(dof, chi2 / vif) if dof >= 1 else np.ones_like(chi2)
    return psi, excess, np.asarray(p_value, dtype=np.float64)


def mean_splits(n: _Floats, total: _Floats) -> _Floats:
    """For cumulative counts ``n`` and sums ``total`` over panes ``lo..g`` (index 0 is the
    start, so ``len = panes + 1``), the two-sample z of splitting before pane ``lo + k`` for
    ``k = 1..panes-1`` (entry ``k - 1``).

    >>> mean_splits(np.array([0.0, 10, 20, 30]), np.array([0.0, 0, 10, 20])).round(2).tolist()
    [2.58, 1.29]
    """
    nb, sb = n[1:-1], total[1:-1]
    na, sa = n[-1] - nb, total[-1] - sb
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(sa / na - sb / nb) / np.sqrt(1.0 / na + 1.0 / nb)
    return np.where((nb > 0) & (na > 0), z, np.nan)


def rate_splits(n: _Floats, count: _Floats) -> _Floats:
    """As ``mean_splits``, for the share ``count / n``: the two-proportion z of each split.

    >>> rate_splits(np.array([0.0, 100, 200, 300]), np.array([0.0, 0, 0, 30])).round(2).tolist()
    [4.08, 8.16]
    """
    nb, cb = n[1:-1], count[1:-1]
    na, ca = n[-1] - nb, count[-1] - cb
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = count[-1] / n[-1]
        spread = np.sqrt(max(pooled * (1.0 - pooled), 1e-12) * (1.0 / na + 1.0 / nb))
        z = np.abs(ca / na - cb / nb) / spread
    return np.where((nb > 0) & (na > 0), z, np.nan)


def distribution_splits(counts: _Floats) -> _Floats:
    """As ``mean_splits``, for cumulative bin counts (one row per pane boundary): the
    chi-square of homogeneity between the panes before and after each split.

    >>> c = np.cumsum([[0, 0], [10, 10], [10, 10], [0, 20]], axis=0).astype(float)
    >>> distribution_splits(c).round(1).tolist()
    [3.8, 15.0]
    """
    before = counts[1:-1]
    after = counts[-1][None, :] - before
    nb, na = before.sum(axis=1), after.sum(axis=1)
    column = before + after
    deviation = before * na[:, None] - after * nb[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(column > 0, deviation * deviation / column, 0.0)
        chi2 = terms.sum(axis=1) / (na * nb)
    return np.where((nb > 0) & (na > 0), chi2, np.nan)
