"""The default settings work without tuning: few false alarms, quick detection, flat memory.

Decisions on seeded streams, not timings. docs/detectors.md: at most 1 false alarm per 10 million
stationary values per feature for each numeric detector, Gaussian and skewed alike; a 0.5σ
mean shift detected within 1,000 values at the median. By default the tumbling HistogramDrift
and NullRate detectors are off: the pane evidence of incidents reports what they did.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from driftwarden.detectors.bank import DetectorBank
from driftwarden.detectors.categorical_monitor import CategoricalMonitor
from driftwarden.detectors.events import EventType
from driftwarden.detectors.findings import FindingKind
from driftwarden.detectors.incidents import IncidentEventType
from driftwarden.detectors.numeric_monitor import NumericMonitor
from driftwarden.detectors.settings import (
    DetectorSettings,
    HistogramSettings,
    IncidentSettings,
    NullRateSettings,
)
from tests.bank_data import profile_of, split_batches

TEN_MILLION = 10_000_000
CHUNK = 500_000

Draw = Callable[[np.random.Generator, int], np.ndarray]
STATIONARY: dict[str, Draw] = {
    "normal": lambda rng, n: rng.normal(3.0, 2.0, n),
    "lognormal": lambda rng, n: rng.lognormal(0.0, 1.0, n),
}


@pytest.mark.slow
@pytest.mark.parametrize("distribution", sorted(STATIONARY))
def test_defaults_raise_at_most_one_false_alarm_per_detector_in_ten_million_values(
    distribution: str,
) -> None:
    draw = STATIONARY[distribution]
    rng = np.random.default_rng(20261129)
    profile = profile_of({"x": draw(rng, 500_000)}, {})
    bank = DetectorBank(DetectorSettings(), profile)
    alarms: Counter[str] = Counter()
    opened = 0
    sizes: dict[int, int] = {}
    for start in range(0, TEN_MILLION, CHUNK):
        for batch in split_batches({"x": draw(rng, CHUNK)}, {}, 50_000):
            output = bank.run(batch)
            for event in output.evidence:
                if event.type is EventType.DRIFT_DETECTED:
                    alarms[event.detector] += 1
            opened += sum(e.type is IncidentEventType.OPENED for e in output.incidents)
        if start + CHUNK in (1_000_000, TEN_MILLION):
            sizes[start + CHUNK] = len(json.dumps(bank.snapshot()))

    monitor = bank.monitors["x"]
    assert isinstance(monitor, NumericMonitor)
    raw = Counter(monitor.raw_detections)
    assert bank.records_seen == TEN_MILLION
    assert set(alarms) <= {"adwin", "page_hinkley"}
    assert all(count <= 1 for count in alarms.values()), alarms
    assert opened <= 1, f"{opened} incidents opened on stationary data"
    # The state machine must not hide a noisy detector: raw decisions count too.
    assert all(count <= 1 for count in raw.values()), raw
    # Bounded state: the whole bank's snapshot does not grow with the stream.
    assert sizes[TEN_MILLION] <= 1.25 * sizes[1_000_000], sizes


@pytest.mark.parametrize("detector", ["adwin", "page_hinkley"])
def test_defaults_detect_a_half_sigma_shift_within_1000_values_at_the_median(
    detector: str,
) -> None:
    profile = profile_of({"x": np.random.default_rng(1).normal(50.0, 5.0, 200_000)}, {})
    delays = []
    for trial in range(21):
        rng = np.random.default_rng(100 + trial)
        x = np.concatenate([rng.normal(50.0, 5.0, 10_000), rng.normal(52.5, 5.0, 10_000)])
        bank = DetectorBank(DetectorSettings(), profile)
        found = [
            e.record.offset - 10_000
            for batch in split_batches({"x": x}, {}, 2500)
            for e in bank.process(batch)
            if e.detector == detector and e.type is EventType.DRIFT_DETECTED
        ]
        later = [delay for delay in found if delay >= 0]
        delays.append(later[0] if later else 10**9)
    assert float(np.median(delays)) <= 1000, delays


def test_defaults_run_adwin_page_hinkley_and_the_pane_evidence_not_the_tumbling_windows() -> None:
    assert not HistogramSettings().enabled and not NullRateSettings().enabled
    settings = DetectorSettings()
    assert settings.incidents == IncidentSettings()
    rng = np.random.default_rng(3)
    profile = profile_of(
        {"x": rng.normal(size=10_000)},
        {"c": rng.choice(np.array(["a", "b"], dtype=object), 10_000)},
    )
    bank = DetectorBank(settings, profile)
    for batch in split_batches(
        {"x": rng.normal(size=6000)},
        {"c": rng.choice(np.array(["a", "b"], dtype=object), 6000)},
        3000,
    ):
        bank.run(batch)

    numeric, categorical = bank.monitors["x"], bank.monitors["c"]
    assert isinstance(numeric, NumericMonitor) and isinstance(categorical, CategoricalMonitor)
    assert numeric.adwin is not None and numeric.page_hinkley is not None
    assert numeric.histogram is None and numeric.null_rate is None
    assert categorical.categorical is not None and categorical.null_rate is None
    assert numeric.evidence is not None and numeric.evidence.ready
    assert categorical.evidence is not None and categorical.evidence.ready


def test_defaults_report_out_of_range_values_and_nulls_as_incidents_not_window_events() -> None:
    """What the tumbling HistogramDrift and NullRate detectors reported by default (values
    past the training range, a rising null rate) now opens incidents with those findings."""
    rng = np.random.default_rng(8)
    train = {name: rng.normal(10.0, 2.0, 100_000) for name in ("beyond", "nulls")}
    profile = profile_of(
        train,
        {"device": rng.choice(np.array(["ios", "web"], dtype=object), 100_000)},
    )
    n, change = 40_000, 20_000
    beyond, nulls = rng.normal(10.0, 2.0, n), rng.normal(10.0, 2.0, n)
    device = rng.choice(np.array(["ios", "web"], dtype=object), n)
    late = np.arange(change, n)
    beyond[late[rng.random(late.size) < 0.03]] = train["beyond"].max() + 1.0
    nulls[late[rng.random(late.size) < 0.05]] = np.nan
    device[late[rng.random(late.size) < 0.05]] = None
    bank = DetectorBank(DetectorSettings(), profile)
    events, incidents = [], []
    for batch in split_batches({"beyond": beyond, "nulls": nulls}, {"device": device}, 5000):
        output = bank.run(batch)
        events += output.evidence
        incidents += output.incidents

    assert not [e for e in events if e.detector in {"histogram", "null_rate"}]
    assert not [
        e for e in events if e.type in {EventType.SUPPORT_OUT_OF_RANGE, EventType.SUPPORT_SPARSE}
    ]
    opened = {
        e.feature: e.findings[0].kind for e in incidents if e.type is IncidentEventType.OPENED
    }
    assert opened == {
        "beyond": FindingKind.OUT_OF_RANGE,
        "nulls": FindingKind.NULL_RATE,
        "device": FindingKind.NULL_RATE,
    }
