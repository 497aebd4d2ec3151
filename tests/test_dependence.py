"""The effective sample size of serially dependent windows: the variance inflation factor, and
the lag-1 autocorrelations it is computed from (``detectors/dependence.py``)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy.signal import lfilter

from driftwarden.detectors.dependence import (
    MAX_RHO,
    lag1_autocorrelation,
    sameness_autocorrelation,
    variance_inflation,
)


def ar1(rng: np.random.Generator, rho: float, shape: tuple[int, ...]) -> npt.NDArray[np.float64]:
    """Stationary AR(1) series of unit innovations along the last axis (each row its own)."""
    noise = rng.normal(size=shape)
    noise[..., 0] /= np.sqrt(1.0 - rho * rho)  # start in the stationary distribution
    return np.asarray(lfilter([1.0], [1.0, -rho], noise, axis=-1), dtype=np.float64)


def stay_or_redraw(
    rng: np.random.Generator, rho: float, p: npt.NDArray[np.float64], n: int
) -> npt.NDArray[np.int64]:
    """A chain that repeats the previous category with probability ``rho``, else draws afresh."""
    draws = rng.choice(p.size, size=n, p=p)
    redrawn = rng.random(n) >= rho
    redrawn[0] = True
    last = np.maximum.accumulate(np.where(redrawn, np.arange(n), 0))
    return draws[last]


@pytest.mark.parametrize("rho", [0.0, 0.1, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("n", [1, 2, 7, 100, 5000])
def test_variance_inflation_equals_the_sum_over_lags(rho: float, n: int) -> None:
    k = np.arange(1, n)
    brute = 1.0 + 2.0 * np.sum((1.0 - k / n) * rho**k)

    assert variance_inflation(rho, n).item() == pytest.approx(brute, rel=1e-9)


def test_variance_inflation_broadcasts_and_takes_negative_or_huge_rho_as_its_bounds() -> None:
    rho = np.array([[-0.5], [0.3], [1.0]])
    n = np.array([10, 1000])
    got = variance_inflation(rho, n)

    assert got.shape == (3, 2)
    assert np.all(got[0] == 1.0)  # negative autocorrelation never makes a test bolder
    assert got[1, 0] == variance_inflation(0.3, 10).item()
    assert np.array_equal(got[2], variance_inflation(MAX_RHO, n))
    assert np.all(np.isfinite(got))


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_lag1_autocorrelation_from_running_sums_matches_numpy(rho: float) -> None:
    x = ar1(np.random.default_rng(int(rho * 10)), rho, (200_000,)) + 3.0
    expected = np.corrcoef(x[1:], x[:-1])[0, 1]

    got = lag1_autocorrelation(x.size, x.sum(), (x * x).sum(), x.size - 1, (x[1:] * x[:-1]).sum())

    assert abs(got.item() - expected) < 0.01
    assert abs(got.item() - rho) < 0.02


def test_lag1_autocorrelation_of_a_constant_or_a_single_value_is_zero() -> None:
    assert lag1_autocorrelation(100, 500.0, 2500.0, 99, 99 * 25.0).item() == 0.0
    assert lag1_autocorrelation(1, 5.0, 25.0, 0, 0.0).item() == 0.0


def test_variance_of_window_means_of_an_ar1_series_is_vif_over_n() -> None:
    """4,000 windows of 2,000 values at rho = 0.9: the means vary 18.2 times as much as those
    of independent values would (the relative error of the variance estimate is 2 %)."""
    rho, n, windows = 0.9, 2000, 4000
    x = ar1(np.random.default_rng(9), rho, (windows, n))
    marginal = 1.0 / (1.0 - rho * rho)

    observed = x.mean(axis=1).var(ddof=1)
    predicted = variance_inflation(rho, n).item() * marginal / n

    assert observed == pytest.approx(predicted, rel=0.10)
    assert observed > 10 * marginal / n  # far from what independence would predict


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8, 0.95])
@pytest.mark.parametrize("k", [3, 12])
def test_sameness_autocorrelation_recovers_rho_of_a_stay_or_redraw_chain(
    rho: float, k: int
) -> None:
    rng = np.random.default_rng(k * 100 + int(rho * 100))
    p = rng.dirichlet(np.full(k, 2.0))
    chain = stay_or_redraw(rng, rho, p, 200_000)
    shares = np.bincount(chain, minlength=k) / chain.size

    got = sameness_autocorrelation(
        chain.size - 1, int(np.sum(chain[1:] == chain[:-1])), float(np.sum(shares * shares))
    )

    assert abs(got.item() - rho) < 0.02


def test_every_category_indicator_of_a_stay_or_redraw_chain_has_its_rho() -> None:
    """Why one VIF serves every bin of a categorical window: each indicator is AR(1)-like."""
    rng = np.random.default_rng(4)
    p = np.array([0.5, 0.3, 0.15, 0.05])
    chain = stay_or_redraw(rng, 0.7, p, 400_000)
    for c in range(p.size):
        hit = (chain == c).astype(np.float64)
        assert abs(np.corrcoef(hit[1:], hit[:-1])[0, 1] - 0.7) < 0.02
