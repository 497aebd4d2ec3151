"""Effective sample size of a window of serially dependent values (the variance inflation
factor of its mean, from the lag-1 autocorrelation under an AR(1) model).

A window of ``n`` autocorrelated values carries less information than ``n`` independent ones:
the variance of its mean is ``VIF(rho, n) * sigma**2 / n`` with, for a stationary AR(1) series
of lag-1 autocorrelation ``rho`` (Bayley and Hammersley 1946; Zwiers and von Storch 1995;
Wilks, *Statistical Methods in the Atmospheric Sciences*, 3rd ed., section 5.2.4):

    VIF(rho, n) = 1 + 2 * sum_{k=1}^{n-1} (1 - k/n) rho**k
                = (1 + rho) / (1 - rho) - 2 rho (1 - rho**n) / (n (1 - rho)**2)

so ``n_eff = n / VIF``. Significance tests on a window divide their statistic by the VIF (a
z-score by its square root, a chi-square by the VIF itself). Negative autocorrelation is
taken as 0, which only makes a test more cautious.

For indicator series (a bin of a histogram, a category, a missing value) the same factor
applies when the process behind them is a Gaussian AR(1) (the correlation of any function of
two jointly normal values is at most their own: Lancaster 1957) or a "stay or redraw" Markov
chain (each record repeats the previous value with probability ``rho``, else is drawn afresh:
every indicator then has autocorrelation ``rho**k``), whose ``rho`` ``sameness_autocorrelation``
estimates.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_RHO",
    "indicator_autocorrelation",
    "lag1_autocorrelation",
    "sameness_autocorrelation",
    "variance_inflation",
]

MAX_RHO = 0.999
"""Autocorrelations are capped here: beyond it a window holds almost one independent value."""


def variance_inflation(rho: npt.ArrayLike, n: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``VIF(rho, n)`` elementwise (broadcast), ``rho`` clipped to ``[0, MAX_RHO]``, ``n >= 1``.

    >>> variance_inflation(0.0, 5000).item(), round(variance_inflation(0.9, 10**9).item(), 6)
    (1.0, 19.0)
    >>> round(variance_inflation(0.95, 100).item(), 2)  # short windows inflate less than 39
    31.44
    """
    r = np.clip(np.asarray(rho, dtype=np.float64), 0.0, MAX_RHO)
    size = np.maximum(np.asarray(n, dtype=np.float64), 1.0)
    inflation = (1.0 + r) / (1.0 - r) - 2.0 * r * (1.0 - r**size) / (size * (1.0 - r) ** 2)
    return np.maximum(inflation, 1.0)


def lag1_autocorrelation(
    n: npt.ArrayLike,
    total: npt.ArrayLike,
    total_sq: npt.ArrayLike,
    n_pairs: npt.ArrayLike,
    cross: npt.ArrayLike,
) -> npt.NDArray[np.float64]:
    """Lag-1 autocorrelation from running sums: ``n`` values with sum ``total`` and sum of
    squares ``total_sq``, and ``n_pairs`` consecutive pairs whose products sum to ``cross``.
    A window without spread or without pairs gives 0.

    >>> x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    >>> round(lag1_autocorrelation(6, x.sum(), (x * x).sum(), 5, (x[1:] * x[:-1]).sum()).item(), 3)
    0.6
    """
    count = np.asarray(n, dtype=np.float64)
    pairs = np.asarray(n_pairs, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.asarray(total, dtype=np.float64) / count
        variance = np.asarray(total_sq, dtype=np.float64) / count - mean * mean
        covariance = np.asarray(cross, dtype=np.float64) / pairs - mean * mean
        rho = covariance / variance
    usable = (count > 1) & (pairs > 0) & (variance > 1e-12 * np.maximum(mean * mean, 1.0))
    return np.where(usable & np.isfinite(rho), np.clip(rho, -1.0, 1.0), 0.0)


def sameness_autocorrelation(
    n_pairs: npt.ArrayLike, same_pairs: npt.ArrayLike, collision: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """``rho`` of a stay-or-redraw chain: ``(P(same as previous) - C) / (1 - C)`` where
    ``C = sum_c p_c**2`` is the chance that two independent draws agree.

    >>> sameness_autocorrelation(1000, 820, 0.1).round(3).item()  # 0.82 = 0.8 + 0.2 * 0.1
    0.8
    """
    pairs = np.asarray(n_pairs, dtype=np.float64)
    c = np.asarray(collision, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (np.asarray(same_pairs, dtype=np.float64) / pairs - c) / (1.0 - c)
    return np.where((pairs > 0) & (c < 1.0) & np.isfinite(rho), np.clip(rho, -1.0, 1.0), 0.0)


def indicator_autocorrelation(
    records: npt.ArrayLike, hits: npt.ArrayLike, both: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Lag-1 autocorrelation of an indicator (a missing record, say) from ``hits`` of it in
    ``records`` and ``both`` consecutive pairs of hits: ``(P(both) - p²) / (p (1 - p))``, 0
    when every record is or none is a hit.

    >>> indicator_autocorrelation(1000, 100, 90).round(3).item()  # runs of ~10 misses
    0.889
    """
    n = np.maximum(np.asarray(records, dtype=np.float64), 1.0)
    p = np.asarray(hits, dtype=np.float64) / n
    pairs = np.asarray(both, dtype=np.float64) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (pairs - p * p) / (p * (1.0 - p))
    return np.where((p > 0) & (p < 1) & np.isfinite(rho), np.clip(rho, -1.0, 1.0), 0.0)
