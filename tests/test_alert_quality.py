"""Incidents of the default DetectorBank on the alert-quality streams (bench/stream_shapes.py):
no incident on benign shapes in 10 M records, exactly one per planted drift with its onset
near the truth, and resolution only once the live data is back.

Truth for a change at 0-based record ``t0`` is ``records_seen`` / ``onset_at`` ``t0 + 1``.
Figures over many seeds (delays, onset errors) are in ``bench/alert_quality.py``.
"""

from __future__ import annotations

import pytest

from bench.alert_quality import DRIFTED, Trial, describe, run_benign, run_planted
from bench.stream_shapes import PRODUCTION

BENIGN_RECORDS = 10_000_000
# Planted runs: the change at T0, then 40,000 records (twice the bench's maximum delay).
T0 = 30_000
N = T0 + 40_000


def test_benign_shapes_open_no_incident_in_ten_million_records() -> None:
    # One bank, six features: Gaussian AR(1) rho 0.95 and 0.9, lognormal AR(1), Poisson
    # through an AR copula, a mean wander within 0.05σ, sticky categories rotating within TV
    # 0.03 (the same streams as the bench's "production" row).
    assert {shape.name for shape in PRODUCTION.values()} >= {
        "ar1_normal_rho0.95",
        "ar1_normal_rho0.9",
        "ar1_lognormal_rho0.9",
        "poisson3_copula_rho0.8",
        "mean_wander_0.05",
        "rotating_categories_tv0.03_sticky0.8",
    }
    run = run_benign(PRODUCTION, seed=20_261, records=BENIGN_RECORDS)
    assert run.records == BENIGN_RECORDS
    assert not run.opened, (
        f"{len(run.opened)} incident(s) opened on benign features in {run.records:,} records "
        f"({', '.join(f'{k}: {s.name}' for k, s in PRODUCTION.items())}):\n" + describe(run.events)
    )


PLANTED_CASES = [
    "mean_shift_1sigma",
    "mean_shift_0.5sigma",
    "numeric_shape",
    "categorical_mix",
    "novel_category",
    "null_rate",
    "out_of_range",
]


def _seen(trial: Trial) -> str:
    drift = trial.drift
    return (
        f"{drift.name} {drift.size} at t0 {drift.t0} (truth {trial.truth}), {len(drift.live):,} "
        f"records, expected finding {drift.finding}; incident events:\n{describe(trial.events)}"
    )


@pytest.mark.parametrize("name", PLANTED_CASES)
def test_planted_drift_opens_exactly_one_incident_with_onset_near_truth(name: str) -> None:
    trial = run_planted(name, seed=7_000 + PLANTED_CASES.index(name), t0=T0, n=N)
    opened = trial.opened()
    assert len(opened) == 1, f"{len(opened)} incidents opened on {DRIFTED!r}: {_seen(trial)}"
    assert not trial.opened(drifted=False), f"incident on a benign companion: {_seen(trial)}"
    assert opened[0].records_seen >= trial.truth, f"opened before the change: {_seen(trial)}"
    error, kind = trial.onset(opened[0])
    tolerance = max(500, N // 20)
    assert error is not None and error <= tolerance, (
        f"onset of the {kind} finding is {error} records from the truth (tolerance "
        f"{tolerance}): {_seen(trial)}"
    )


def test_drift_that_returns_resolves_only_after_the_data_is_back() -> None:
    trial = run_planted("mean_shift_returns", seed=7_100, t0=T0, n=T0 + 30_000 + 120_000)
    back = trial.drift.returns_at
    assert back == T0 + 30_000
    assert len(trial.opened()) == 1, f"expected one incident: {_seen(trial)}"
    assert not trial.opened(drifted=False), f"incident on a benign companion: {_seen(trial)}"
    resolved = trial.resolved()
    assert resolved, f"never resolved in 120,000 records after the return at {back}: {_seen(trial)}"
    assert resolved[0].incident_id == trial.opened()[0].incident_id, _seen(trial)
    # The first record back to training is 0-based ``back``, records_seen ``back + 1``.
    assert resolved[0].records_seen > back, (
        f"resolved at record {resolved[0].records_seen}, before the data was back at "
        f"{back + 1}: {_seen(trial)}"
    )


def test_drift_that_stays_never_resolves() -> None:
    n = T0 + 150_000
    trial = run_planted("mean_shift_1sigma", seed=7_200, t0=T0, n=n)
    assert len(trial.opened()) == 1, f"expected one incident: {_seen(trial)}"
    assert not trial.resolved(), f"resolved while the shift stayed for {n - T0:,}: {_seen(trial)}"
