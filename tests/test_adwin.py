"""ADWIN makes river's decisions on any batch split, skips NaN, and round-trips its state."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from river import drift

from driftwarden.detectors.adwin import ADWIN

FloatArray = npt.NDArray[np.float64]

PROPERTY_SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def river_run(values: FloatArray, params: dict[str, Any]) -> tuple[list[int], drift.ADWIN]:
    """Detection indices of river's ADWIN fed one value at a time, and the detector after."""
    reference = drift.ADWIN(**params)
    found = []
    for index, value in enumerate(values.tolist()):
        reference.update(value)
        if reference.drift_detected:
            found.append(index)
    return found, reference


def feed_in_batches(detector: ADWIN, values: FloatArray, cuts: list[int]) -> list[int]:
    """Feed ``values`` split at ``cuts``; return detection indices into the whole stream."""
    found: list[int] = []
    start = 0
    for stop in [*sorted(cuts), values.size]:
        found.extend(start + int(i) for i in detector.update_many(values[start:stop]))
        start = max(start, stop)
    return found


def make_stream(seed: int, kind: str, length: int, shifts: list[tuple[float, float]]) -> FloatArray:
    """A noise stream of ``kind`` whose mean moves by ``size`` from fraction ``at`` on."""
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        values = rng.normal(0.0, 1.0, length)
    elif kind == "student_t":
        values = rng.standard_t(3.0, length)
    elif kind == "cauchy":
        values = rng.standard_cauchy(length)
    elif kind == "far_from_zero":
        values = rng.normal(1e6, 1.0, length)
    elif kind == "extreme_scale":
        values = rng.normal(0.0, 1.0, length) * 10.0 ** rng.uniform(-150.0, 150.0)
    elif kind == "binary":
        values = (rng.random(length) < 0.3).astype(np.float64)
    else:  # small discrete counts
        values = rng.poisson(2.0, length).astype(np.float64)
    scale = float(np.std(values)) if kind in ("far_from_zero", "extreme_scale") else 1.0
    for at, size in shifts:
        values[int(at * length) :] += size * scale
    return values


streams = st.builds(
    make_stream,
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(
        ["gaussian", "student_t", "cauchy", "binary", "discrete", "far_from_zero", "extreme_scale"]
    ),
    length=st.integers(2_000, 6_000),
    shifts=st.lists(st.tuples(st.floats(0.05, 0.95), st.floats(-3.0, 3.0)), max_size=4),
)

river_params = st.fixed_dictionaries(
    {
        "delta": st.floats(1e-6, 0.5),
        "clock": st.sampled_from([1, 2, 5, 32, 64]),
        "max_buckets": st.integers(2, 10),
        "min_window_length": st.integers(0, 20),
        "grace_period": st.integers(0, 100),
    }
)

cut_points = st.lists(st.integers(0, 6_000), max_size=25)


@PROPERTY_SETTINGS
@given(values=streams, params=river_params, cuts=cut_points)
def test_adwin_matches_river_on_any_batch_split(
    values: FloatArray, params: dict[str, Any], cuts: list[int]
) -> None:
    expected, reference = river_run(values, params)
    event(f"river detections: {len(expected)}" if len(expected) < 5 else "river detections: 5+")
    detector = ADWIN(**params)
    assert feed_in_batches(detector, values, cuts) == expected
    # The window itself is river's, bit for bit.
    assert detector.width == reference.width
    assert detector.total == reference.total
    assert detector.variance == reference.variance
    assert detector.estimation == reference.estimation
    assert detector.drift_detected == reference.drift_detected


@PROPERTY_SETTINGS
@given(
    values=streams,
    params=river_params,
    nan_positions=st.lists(st.integers(0, 6_000), max_size=40),
    cuts=cut_points,
)
def test_adwin_skips_nan_without_advancing_its_clock(
    values: FloatArray, params: dict[str, Any], nan_positions: list[int], cuts: list[int]
) -> None:
    expected, _ = river_run(values, params)
    positions = np.array(sorted(p % (values.size + 1) for p in nan_positions), dtype=np.int64)
    with_nan = np.insert(values, positions, np.nan)
    original_index = np.flatnonzero(~np.isnan(with_nan))
    detector = ADWIN(**params)
    found = feed_in_batches(detector, with_nan, cuts)
    assert all(not np.isnan(with_nan[i]) for i in found)
    assert [int(original_index.searchsorted(i)) for i in found] == expected
    assert detector.n_nan == positions.size


@settings(max_examples=60, deadline=None)
@given(values=streams, params=river_params, split=st.floats(0.0, 1.0))
def test_adwin_restored_from_json_snapshot_decides_like_the_original(
    values: FloatArray, params: dict[str, Any], split: float
) -> None:
    head, tail = np.split(values, [int(split * values.size)])
    original = ADWIN(**params)
    original.update_many(head)
    restored = ADWIN.restore(json.loads(json.dumps(original.snapshot())))
    assert restored.snapshot() == original.snapshot()
    assert restored.update_many(tail).tolist() == original.update_many(tail).tolist()
    assert restored.snapshot() == original.snapshot()


def test_adwin_snapshot_right_after_a_detection_keeps_the_pending_reset() -> None:
    values = make_stream(7, "gaussian", 6_000, [(0.3, 2.0), (0.6, -2.0)])
    params: dict[str, Any] = {"clock": 1, "delta": 0.01}
    expected, _ = river_run(values, params)
    first = expected[0]
    detector = ADWIN(**params)
    detector.update_many(values[: first + 1])
    assert detector.drift_detected
    restored = ADWIN.restore(json.loads(json.dumps(detector.snapshot())))
    assert restored.drift_detected
    rest = [first + 1 + int(i) for i in restored.update_many(values[first + 1 :])]
    assert [first, *rest] == expected


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"delta": 0.1, "clock": 1, "max_buckets": 3, "min_window_length": 2, "grace_period": 20},
        {"delta": 1e-5, "clock": 64, "max_buckets": 10, "min_window_length": 15},
        {"delta": 0.5, "clock": 5, "max_buckets": 2, "min_window_length": 1, "grace_period": 1},
    ],
)
def test_adwin_matches_river_on_a_fixed_20k_stream_with_a_shift(params: dict[str, Any]) -> None:
    values = make_stream(20_240_601, "gaussian", 20_000, [(0.5, 0.75)])
    expected, _ = river_run(values, params)
    assert expected, "the regression stream must produce a detection"
    assert ADWIN(**params).update_many(values).tolist() == expected


def test_adwin_detects_the_fixed_20k_shift_where_river_0_26_does() -> None:
    values = make_stream(20_240_601, "gaussian", 20_000, [(0.5, 0.75)])
    assert ADWIN().update_many(values).tolist() == river_run(values, {})[0] == [10079]


def test_adwin_update_one_value_at_a_time_equals_update_many() -> None:
    values = make_stream(3, "student_t", 4_000, [(0.5, 2.0)])
    one_by_one = ADWIN(clock=1)
    flags = [one_by_one.update(float(v)) for v in values]
    assert np.flatnonzero(flags).tolist() == ADWIN(clock=1).update_many(values).tolist()
    assert any(flags)


def test_adwin_counts_every_detection_since_creation() -> None:
    values = make_stream(11, "gaussian", 6_000, [(0.25, 3.0), (0.5, -3.0), (0.75, 3.0)])
    detector = ADWIN(clock=1)
    found = detector.update_many(values)
    assert found.size >= 3
    assert detector.n_detections == found.size


def test_adwin_memory_stays_bounded_over_ten_million_values() -> None:
    rng = np.random.default_rng(2024)
    detector = ADWIN()
    documented_bound = 1000 + 64 * (54 * detector.max_buckets + 8)
    nbytes_at_start = detector.nbytes
    sizes = []
    for _ in range(10):
        for _ in range(10):
            detector.update_many(rng.normal(0.0, 1.0, 100_000))
        sizes.append(len(json.dumps(detector.snapshot())))
    assert max(sizes) <= documented_bound
    # Rows grow with log2(width) at most, and a detection empties the window.
    assert max(sizes[1:]) <= 1.25 * sizes[0]
    assert detector.nbytes == nbytes_at_start


@pytest.mark.parametrize(
    "params",
    [
        {"delta": 0.0},
        {"delta": 1.0},
        {"clock": 0},
        {"max_buckets": 1},
        {"min_window_length": -1},
        {"grace_period": -1},
    ],
)
def test_adwin_rejects_parameters_river_cannot_run_with(params: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="ADWIN"):
        ADWIN(**params)


def test_adwin_restore_rejects_a_foreign_snapshot() -> None:
    with pytest.raises(ValueError, match=r"cannot restore ADWIN: .* found kind 'PageHinkley'"):
        ADWIN.restore({"kind": "PageHinkley", "version": 1})
