"""The alert-quality streams (bench/stream_shapes.py) are what they claim: marginals,
autocorrelation, bounds on the benign wander and rotation, the planted changes and their
PSI, and live chunks that do not depend on the chunk size."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr
from scipy.stats import poisson

from bench.planted_drifts import PLANTED, planted, planted_psi
from bench.stream_shapes import (
    BENIGN,
    RotatingMix,
    ar1_latent,
    ar1_lognormal,
    ar1_normal,
    integer_valued,
    mean_wander,
    production,
    rotating_categories,
    wander_offset,
)

N = 1_000_000


def _live(shape_name: str, n: int = N, seed: int = 11, chunk: int = 100_000) -> np.ndarray:
    _, chunks = BENIGN[shape_name].streams(seed, n, chunk=chunk)
    return np.concatenate(list(chunks))


def _lag1(x: np.ndarray) -> float:
    return float(np.corrcoef(x[:-1], x[1:])[0, 1])


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9, 0.95])
def test_ar1_normal_has_lag1_autocorrelation_rho_and_standard_normal_marginal(rho: float) -> None:
    training, chunks = ar1_normal(rho).streams(3, N)
    x = np.concatenate(list(chunks))
    assert abs(_lag1(x) - rho) < 0.01, f"lag-1 autocorrelation {_lag1(x):.4f}, rho {rho}"
    # The sample mean of an AR(1) has sd sqrt((1 + rho) / (1 - rho) / n): 0.006 at rho 0.95.
    assert abs(x.mean()) < 0.03 and abs(x.std() - 1.0) < 0.02, (x.mean(), x.std())
    assert abs(training.mean()) < 0.01 and abs(training.std() - 1.0) < 0.01
    assert abs(_lag1(training)) < 0.01, "the training sample is iid"


def test_ar1_lognormal_is_exp_of_a_standard_normal_ar1() -> None:
    training, chunks = ar1_lognormal(0.9).streams(4, N)
    x = np.concatenate(list(chunks))
    assert np.all(x > 0.0) and np.all(training > 0.0)
    for name, logs in (("live", np.log(x)), ("training", np.log(training))):
        assert abs(logs.mean()) < 0.03 and abs(logs.std() - 1.0) < 0.02, (name, logs.mean())
    assert abs(_lag1(np.log(x)) - 0.9) < 0.01
    assert abs(np.median(x) - 1.0) < 0.03, f"median {np.median(x):.4f}, lognormal(0,1) has 1"


def test_integer_valued_has_poisson_marginal_and_the_copula_autocorrelation() -> None:
    training, chunks = integer_valued(3.0, 0.8).streams(5, N)
    x = np.concatenate(list(chunks))
    for name, values in (("live", x), ("training", training)):
        assert np.array_equal(values, np.round(values)) and values.min() >= 0.0, name
        frequencies = np.bincount(values.astype(np.int64), minlength=12)[:12] / values.size
        worst = np.abs(frequencies - poisson.pmf(np.arange(12), 3.0)).max()
        assert worst < 0.005, f"{name}: Poisson(3) frequencies off by {worst:.4f}"
        assert abs(values.mean() - 3.0) < 0.03 and abs(values.var() - 3.0) < 0.06, name
    assert 0.6 < _lag1(x) < 0.8, f"copula rho 0.8 gives a count lag-1 of ~0.77, got {_lag1(x)}"
    assert abs(_lag1(training)) < 0.01


def test_integer_valued_uses_scipy_poisson_quantiles() -> None:
    live_rng = np.random.default_rng(6).spawn(2)[1]  # what BenignShape.streams gives live
    latent = next(ar1_latent(live_rng, 200_000, 0.8, chunk=200_000))
    _, chunks = integer_valued(3.0, 0.8).streams(6, 200_000, chunk=200_000)
    assert np.array_equal(next(chunks), poisson.ppf(ndtr(latent), 3.0))


def test_mean_wander_stays_within_five_hundredths_of_sigma() -> None:
    t = np.arange(0, 2_000_000, 7)
    for phases in np.random.default_rng(7).uniform(0.0, 2.0 * np.pi, (20, 2)):
        offset = wander_offset(t, phases, 0.05, 200_000)
        assert np.abs(offset).max() <= 0.05 + 1e-12
        assert np.abs(offset).max() > 0.02, "the mean does wander"
    training, chunks = mean_wander().streams(8, N)
    x = np.concatenate(list(chunks))
    window_means = x.reshape(-1, 50_000).mean(axis=1)
    # Noise sd of a 50k-record mean is 0.0045; 0.05 + 5 sd.
    assert np.abs(window_means).max() < 0.073, window_means.round(3)
    assert abs(x.std() - 1.0) < 0.01 and abs(training.std() - 1.0) < 0.01


def test_rotating_mix_stays_within_total_variation_003_at_every_record() -> None:
    mix = RotatingMix()
    p = mix.at(np.arange(0, 1_000_000))
    tv = 0.5 * np.abs(p - mix.p0).sum(axis=1)
    assert np.all(p >= 0.0) and np.allclose(p.sum(axis=1), 1.0)
    assert tv.max() <= 0.03 + 1e-12, f"TV reaches {tv.max():.5f}"
    assert tv.max() > 0.0299, "the mix does rotate to the bound"


def test_rotating_categories_follow_the_mix_and_stick_when_asked() -> None:
    mix = RotatingMix()
    training, chunks = rotating_categories(mix, stickiness=0.0).streams(9, N)
    x = np.concatenate(list(chunks))
    labels = mix.labels.astype(str)
    for start in range(0, N, 100_000):
        window = x[start : start + 100_000].astype(str)
        shares = (window[:, None] == labels).mean(axis=0)
        expected = mix.at(np.arange(start, start + 100_000)).mean(axis=0)
        assert np.abs(shares - expected).max() < 0.006, (start, shares - expected)
        # TV from p0 is at most 0.03 plus the sampling noise of 100k records (~0.006).
        assert 0.5 * np.abs(shares - mix.p0).sum() < 0.04
    train_shares = (training.astype(str)[:, None] == labels).mean(axis=0)
    assert np.abs(train_shares - mix.p0).max() < 0.004
    _, chunks = rotating_categories(mix, stickiness=0.8).streams(9, N)
    sticky = np.concatenate(list(chunks))
    repeats = float(np.mean(sticky[1:] == sticky[:-1]))
    expected_repeats = 0.8 + 0.2 * float(np.sum(mix.p0**2))
    assert abs(repeats - expected_repeats) < 0.005, (repeats, expected_repeats)


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_chunked_generation_equals_one_shot_generation(name: str) -> None:
    one_shot = _live(name, 300_000, seed=12, chunk=300_000)
    for chunk in (100_000, 37_123, 1):
        if chunk == 1:
            chunked = _live(name, 50, seed=12, chunk=1)
            assert np.array_equal(chunked, one_shot[:50]), f"{name}: chunks of one record differ"
            continue
        chunked = _live(name, 300_000, seed=12, chunk=chunk)
        assert np.array_equal(chunked, one_shot), f"{name}: chunks of {chunk} differ"
    assert not np.array_equal(_live(name, 1000, seed=13), one_shot[:1000]), "seed is ignored"


def test_production_stream_is_chunk_size_independent_with_every_feature_per_chunk() -> None:
    (train_num, train_cat), whole = production(14, 250_000, chunk=250_000)
    _, pieces = production(14, 250_000, chunk=60_000)
    numeric, categorical = next(whole)
    parts = list(pieces)
    assert len(parts) == 5 and set(train_num) | set(train_cat) == set(numeric) | set(categorical)
    for name, column in (numeric | categorical).items():
        joined = np.concatenate([(num | cat)[name] for num, cat in parts])
        assert np.array_equal(joined, column), name


@pytest.mark.parametrize("name", ["numeric_shape", "numeric_mix", "categorical_mix"])
def test_planted_distribution_changes_have_psi_of_at_least_025(name: str) -> None:
    value = planted_psi(name, n=1_000_000)
    assert 0.25 <= value < 0.4, f"{name}: PSI {value:.4f}"


def test_planted_drifts_change_at_t0_and_only_then() -> None:
    t0, n = 30_000, 90_000
    base = planted("mean_shift_1sigma", 15, t0, n)
    for name in PLANTED:
        drift = planted(name, 15, t0, n)
        assert drift.t0 == t0 and len(drift.live) == n and drift.finding
        if drift.kind == "numeric":
            assert np.array_equal(drift.live[:t0], base.live[:t0]), f"{name} changed before t0"
    shift = planted("mean_shift_0.5sigma", 15, t0, n).live
    assert abs(shift[t0:].mean() - shift[:t0].mean() - 0.5) < 0.03
    shape = planted("numeric_shape", 15, t0, n).live
    assert abs(shape[t0:].std() - 1.55) < 0.03 and abs(shape[t0:].mean()) < 0.03
    mix = planted("numeric_mix", 15, t0, n).live[t0:]
    assert abs(mix.mean()) < 0.02 and abs(mix.std() - 1.0) < 0.02
    assert np.mean(np.abs(mix) < 0.3) < 0.15, "bimodal: little mass near 0 (N(0, 1) has 0.24)"
    nulls = planted("null_rate", 15, t0, n).live
    assert not np.isnan(nulls[:t0]).any() and abs(np.isnan(nulls[t0:]).mean() - 0.05) < 0.005
    beyond = planted("out_of_range", 15, t0, n)
    top = beyond.training.max()
    assert np.mean(beyond.live[:t0] > top) < 0.001
    assert abs(np.mean(beyond.live[t0:] > top) - 0.03) < 0.004
    ramp = planted("gradual_mean_shift", 15, t0, n)
    steps = ramp.live - base.live + 1.0 * (np.arange(n) >= t0)  # base carries a 1σ step
    assert steps[t0] == pytest.approx(1 / 20_000) and steps[t0 + 19_999] == pytest.approx(1.0)
    assert np.allclose(steps[t0 + 20_000 :], 1.0) and np.all(steps[:t0] == 0.0)
    back = planted("mean_shift_returns", 15, t0, n)
    assert back.returns_at == t0 + 30_000
    assert abs(back.live[t0 : back.returns_at].mean() - 1.0) < 0.03
    assert abs(back.live[back.returns_at :].mean()) < 0.03
    novel = planted("novel_category", 15, t0, n)
    assert not np.any(novel.live[:t0] == "c_new")
    assert abs(np.mean(novel.live[t0:] == "c_new") - 0.02) < 0.003
    assert "c_new" not in set(novel.training)
    categories = planted("categorical_mix", 15, t0, n)
    assert set(categories.live) <= set(categories.training)
    assert np.array_equal(categories.live[:t0], novel.live[:t0]), "one categorical base"


def test_planted_drift_on_an_ar_base_keeps_the_autocorrelation() -> None:
    drift = planted("mean_shift_1sigma", 16, 100_000, 400_000, base_rho=0.5)
    assert abs(_lag1(drift.live[:100_000]) - 0.5) < 0.01
    assert abs(drift.live[100_000:].mean() - 1.0) < 0.01
    assert abs(_lag1(drift.training)) < 0.01


def test_planted_drifts_are_seeded() -> None:
    for name in PLANTED:
        a, b = planted(name, 17, 1000, 3000), planted(name, 17, 1000, 3000)
        assert np.array_equal(a.live.astype(str), b.live.astype(str)), name
        other = planted(name, 18, 1000, 3000)
        assert not np.array_equal(a.live.astype(str), other.live.astype(str)), name
