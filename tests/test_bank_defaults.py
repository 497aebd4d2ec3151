"""The default settings work without tuning: few false alarms, quick detection, flat memory.

Decisions on seeded streams, not timings. docs/detectors.md: at most 1 false alarm per 10 million
stationary values per feature for each numeric detector, Gaussian and skewed alike; a 0.5σ
mean shift detected within 1,000 values at the median.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from driftwarden.detectors.bank import DetectorBank
from driftwarden.detectors.events import EventType
from driftwarden.detectors.numeric_monitor import NumericMonitor
from driftwarden.detectors.settings import DetectorSettings
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
    sizes: dict[int, int] = {}
    for start in range(0, TEN_MILLION, CHUNK):
        for batch in split_batches({"x": draw(rng, CHUNK)}, {}, 50_000):
            for event in bank.process(batch):
                if event.type is EventType.DRIFT_DETECTED:
                    alarms[event.detector] += 1
        if start + CHUNK in (1_000_000, TEN_MILLION):
            sizes[start + CHUNK] = len(json.dumps(bank.snapshot()))

    monitor = bank.monitors["x"]
    assert isinstance(monitor, NumericMonitor)
    raw = Counter(monitor.raw_detections)
    assert bank.records_seen == TEN_MILLION
    assert set(alarms) <= {"adwin", "page_hinkley", "histogram", "null_rate"}
    assert all(count <= 1 for count in alarms.values()), alarms
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
