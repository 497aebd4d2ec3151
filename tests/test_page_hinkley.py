"""PageHinkley: same decisions as river's drift.PageHinkley, state round-trips, bounded memory."""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from river import drift

from driftwarden.detectors.page_hinkley import STANDARDISED_DEFAULTS, PageHinkley

Params = dict[str, Any]
STANDARDISED: Params = dict(STANDARDISED_DEFAULTS)

RIVER_DOCSTRING_STREAM = (
    lambda rng: rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
)(random.Random(12345))


def river_indices(values: npt.ArrayLike, params: Params) -> list[int]:
    """Detection indices of river fed one value at a time; NaNs are skipped, indices kept."""
    detector = drift.PageHinkley(**params)
    found = []
    for index, value in enumerate(np.asarray(values, dtype=np.float64).tolist()):
        if value != value:
            continue
        detector.update(value)
        if detector.drift_detected:
            found.append(index)
    return found


def batched_indices(detector: PageHinkley, values: npt.ArrayLike, cuts: list[int]) -> list[int]:
    """Detection indices when ``values`` is fed in batches split at ``cuts``."""
    array = np.asarray(values, dtype=np.float64)
    bounds = [0, *sorted(c for c in cuts if 0 < c < array.size), array.size]
    found: list[int] = []
    for start, stop in itertools.pairwise(bounds):
        found.extend(int(start + i) for i in detector.update_many(array[start:stop]))
    return found


def ints(text: str) -> list[int]:
    """A short integer stream written as space-separated values."""
    return [int(token) for token in text.split()]


def make_stream(kind: str, seed: int, length: int) -> npt.NDArray[np.float64]:
    """A seeded stream of one of several shapes, scaled so both quiet and busy regimes occur."""
    rng = np.random.default_rng(seed)
    scale = float(rng.choice([0.1, 1.0, 10.0]))
    if kind == "gaussian":
        return rng.normal(rng.uniform(-5, 5), scale, length)
    if kind == "heavy_tailed":
        return rng.standard_t(float(rng.choice([1.0, 2.0, 3.0])), length) * scale
    if kind == "discrete":
        return rng.integers(0, int(rng.integers(2, 8)), length).astype(np.float64)
    segments = np.sort(rng.integers(0, max(length, 1), int(rng.integers(1, 5))))
    means = np.repeat(rng.normal(0, 3 * scale, segments.size + 1), np.diff([0, *segments, length]))
    return means + rng.normal(0, scale, length)


parameters = st.fixed_dictionaries(
    {
        "min_instances": st.integers(1, 100),
        "delta": st.floats(0.0, 1.0),
        "threshold": st.floats(0.5, 100.0),
        "alpha": st.floats(0.9, 1.0),
        "mode": st.sampled_from(["up", "down", "both"]),
    }
)


@settings(max_examples=120, deadline=None)
@given(
    params=parameters,
    kind=st.sampled_from(["gaussian", "heavy_tailed", "discrete", "shifts"]),
    seed=st.integers(0, 2**32 - 1),
    length=st.integers(0, 3000),
    cuts=st.lists(st.integers(0, 3000), max_size=12),
)
def test_page_hinkley_matches_river_on_any_stream_and_batch_split(
    params: Params, kind: str, seed: int, length: int, cuts: list[int]
) -> None:
    values = make_stream(kind, seed, length)
    assert batched_indices(PageHinkley(**params), values, cuts) == river_indices(values, params)


@settings(max_examples=120, deadline=None)
@given(
    params=parameters,
    values=st.lists(
        st.one_of(
            st.floats(-1e6, 1e6, allow_nan=False),
            st.integers(-5, 5).map(float),
            st.just(float("nan")),
        ),
        max_size=400,
    ),
    cuts=st.lists(st.integers(0, 400), max_size=8),
)
def test_page_hinkley_matches_river_on_arbitrary_floats_with_nan(
    params: Params, values: list[float], cuts: list[int]
) -> None:
    detector = PageHinkley(**params)
    assert batched_indices(detector, values, cuts) == river_indices(values, params)
    assert detector.n_nan == sum(value != value for value in values)


def test_page_hinkley_reproduces_river_docstring_example() -> None:
    assert PageHinkley().update_many(RIVER_DOCSTRING_STREAM).tolist() == [1006]
    assert river_indices(RIVER_DOCSTRING_STREAM, {}) == [1006]


@pytest.mark.parametrize(
    ("params", "seed"),
    [
        ({}, 0),
        ({"mode": "up", "threshold": 5.0, "delta": 0.0}, 1),
        ({"mode": "down", "threshold": 5.0, "alpha": 0.9}, 2),
        ({"min_instances": 1, "threshold": 0.5, "delta": 0.0, "alpha": 1.0}, 3),
        (dict(STANDARDISED_DEFAULTS), 4),
    ],
)
def test_page_hinkley_fixed_seed_cases_match_river(params: Params, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.normal(0, 1, 20_000), rng.normal(1, 1, 5_000)])
    ours = batched_indices(PageHinkley(**params), values, [1, 999, 1000, 7777, 20_000])
    assert ours == river_indices(values, params)
    assert ours, "each case is chosen to detect at least once"


# Streams on which a decision hinges on the last bit of the sums: computing the mean as
# (x - mean) / n, or summing (deviation - delta) first, or testing sum > min + threshold, or
# starting the running maximum at 0 instead of -1, each changes the detection indices.
BIT_SENSITIVE_CASES = [
    (
        ints("1 1 2 0 1 2 0 0 0 1 0 2 0 1 0 0 0 0 1 1 2 0 2 2"),
        {"min_instances": 1, "delta": 0.0, "threshold": 0.5, "alpha": 1.0, "mode": "down"},
        [3, 6, 12, 15, 21],
    ),
    (
        ints(
            "6 4 1 9 2 7 6 7 4 7 1 8 8 3 7 4 0 3 5 2 7 0 9 0 9 9 4 6 6 9 0 6 8 2 8 9 7 2 4 5 1 6 1"
        )
        + ints("9 6 6"),
        {"min_instances": 5, "delta": 0.1, "threshold": 1.0, "alpha": 1.0, "mode": "down"},
        [4, 10, 15, 21, 26, 31, 37, 42],
    ),
    (
        ints("3 3 1 3 4 1 5 2 2 7 4 0 1 7 5 8 7 2 8 4 9 2 7 8 2 5 3 4 6 8 8 7 5 8 1 5 8 6"),
        {"min_instances": 1, "delta": 0.1, "threshold": 1.5, "alpha": 1.0, "mode": "up"},
        [6, 9, 13, 16, 18, 20, 22, 29, 36],
    ),
    (
        ints("0 1 4 4 0 3 0 2 0 0 4 0 1 1 0 3 1 0 0 4 3 4 0 2 0 1 0 2 2 3"),
        {"min_instances": 2, "delta": -1.5, "threshold": 5.0, "alpha": 1.0, "mode": "down"},
        [6, 9, 12, 17, 23],
    ),
]


@pytest.mark.parametrize(("values", "params", "expected"), BIT_SENSITIVE_CASES)
def test_page_hinkley_matches_river_where_decisions_hinge_on_rounding(
    values: list[int], params: Params, expected: list[int]
) -> None:
    assert river_indices(values, params) == expected
    for cuts in ([], [1], [5, 6, 20]):
        assert batched_indices(PageHinkley(**params), values, cuts) == expected


def test_single_value_updates_track_river_drift_detected_flag() -> None:
    ours, theirs = PageHinkley(threshold=3.0), drift.PageHinkley(threshold=3.0)
    for value in np.random.default_rng(5).normal(0, 1, 2_000).tolist():
        theirs.update(value)
        assert ours.update(value) == theirs.drift_detected
        assert ours.drift_detected == theirs.drift_detected


@settings(max_examples=60, deadline=None)
@given(
    params=parameters,
    seed=st.integers(0, 2**32 - 1),
    cut=st.integers(0, 2000),
)
def test_snapshot_through_json_then_restore_makes_the_same_remaining_decisions(
    params: Params, seed: int, cut: int
) -> None:
    values = make_stream("shifts", seed, 2000)
    detector = PageHinkley(**params)
    before = batched_indices(detector, values[:cut], [])
    state = json.loads(json.dumps(detector.snapshot(), allow_nan=False))
    restored = PageHinkley.restore(state)
    assert restored.snapshot() == detector.snapshot()
    after = [cut + i for i in batched_indices(restored, values[cut:], [])]
    assert before + after == river_indices(values, params)


def test_snapshot_right_after_a_detection_keeps_the_pending_reset() -> None:
    values = np.asarray(RIVER_DOCSTRING_STREAM, dtype=np.float64)
    detector = PageHinkley()
    assert detector.update_many(values[:1007]).tolist() == [1006]
    restored = PageHinkley.restore(json.loads(json.dumps(detector.snapshot())))
    assert restored.drift_detected
    assert (
        restored.update_many(values[1007:]).tolist() == detector.update_many(values[1007:]).tolist()
    )
    assert restored.n == detector.n == values.size - 1007


def test_snapshot_encodes_infinite_minimum_as_portable_json() -> None:
    state = PageHinkley().snapshot()
    text = json.dumps(state, allow_nan=False)
    assert json.loads(text)["state"]["min_increase"] == "inf"
    assert PageHinkley.restore(json.loads(text))._min_increase == float("inf")


def test_restore_rejects_a_snapshot_of_another_detector() -> None:
    with pytest.raises(ValueError, match=r"cannot restore PageHinkley: .* found kind 'ADWIN'"):
        PageHinkley.restore({"kind": "ADWIN", "version": 1})


def test_nan_values_are_skipped_and_counted() -> None:
    rng = np.random.default_rng(11)
    values = np.concatenate([rng.normal(0, 1, 500), rng.normal(4, 1, 500)])
    with_nan = values.copy()
    with_nan[rng.choice(values.size, 100, replace=False)] = np.nan
    detector = PageHinkley(threshold=10.0)
    found = detector.update_many(with_nan)
    assert detector.n_nan == 100
    assert found.tolist() == river_indices(with_nan, {"threshold": 10.0})
    assert found.size > 0
    kept = np.flatnonzero(~np.isnan(with_nan))
    assert PageHinkley(threshold=10.0).update_many(with_nan[kept]).tolist() == [
        int(np.searchsorted(kept, i)) for i in found
    ]


def test_nan_after_a_detection_neither_resets_nor_clears_the_flag() -> None:
    detector = PageHinkley(threshold=2.0, min_instances=1, delta=0.0)
    assert detector.update_many([0.0, 0.0, 10.0]).tolist() == [2]
    assert detector.update(float("nan")) is False
    assert detector.drift_detected
    assert detector.n == 3
    assert detector.n_nan == 1


def test_invalid_mode_is_rejected_with_the_valid_values() -> None:
    with pytest.raises(ValueError, match=r"'up', 'down', 'both'"):
        PageHinkley(mode="sideways")


def test_standardised_defaults_stay_quiet_on_two_million_normal_values() -> None:
    values = np.random.default_rng(2024).standard_normal(2_000_000)
    assert PageHinkley(**STANDARDISED).update_many(values).size == 0


@pytest.mark.parametrize("shift", [0.5, -0.5])
def test_standardised_defaults_detect_half_sigma_shift_within_1000_values(shift: float) -> None:
    rng = np.random.default_rng(99)
    values = np.concatenate([rng.standard_normal(10_000), rng.standard_normal(5_000) + shift])
    found = PageHinkley(**STANDARDISED).update_many(values)
    assert found.size > 0
    assert 10_000 <= found[0] < 11_000


def test_memory_is_constant_over_ten_million_values_fed_in_batches() -> None:
    rng = np.random.default_rng(3)
    detector = PageHinkley()
    first = detector.snapshot()
    sizes = set()
    for _ in range(40):
        detector.update_many(rng.standard_normal(250_000))
        state = detector.snapshot()
        assert state.keys() == first.keys()
        assert state["state"].keys() == first["state"].keys()
        assert all(not isinstance(v, list | dict) for v in state["state"].values())
        sizes.add(len(json.dumps(state)))
    assert max(sizes) < 512
