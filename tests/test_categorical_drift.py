"""CategoricalDrift and its window counting: changes, novel values, bounds, snapshots."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftwarden.detectors.categorical_drift import (
    MAX_REPORTED_NOVEL,
    CategoricalDrift,
    CategoricalReport,
    NovelCategoryReport,
)
from driftwarden.detectors.categorical_evidence import CategoricalEvidence
from driftwarden.detectors.category_counts import count_window_segments
from driftwarden.detectors.settings import IncidentSettings

REPO_DIR = Path(__file__).resolve().parent.parent
Report = CategoricalReport | NovelCategoryReport


def categories(k: int, prefix: str = "cat") -> npt.NDArray[np.object_]:
    return np.array([f"{prefix}_{i:02d}" for i in range(k)], dtype=object)


def proportions(k: int, seed: int) -> npt.NDArray[np.float64]:
    return np.random.default_rng(seed).dirichlet(np.full(k, 5.0))


def draw(
    rng: np.random.Generator,
    cats: npt.NDArray[np.object_],
    p: npt.NDArray[np.float64] | list[float],
    n: int,
) -> npt.NDArray[np.object_]:
    return cats[rng.choice(cats.size, size=n, p=p)]


def reference_of(cats: npt.NDArray[np.object_], p: npt.NDArray[np.float64]) -> dict[str, int]:
    return {str(c): round(share * 1_000_000) for c, share in zip(cats, p, strict=True)}


def run_in_batches(
    detector: CategoricalDrift,
    values: npt.NDArray[np.object_],
    cuts: list[int],
    coder: CategoricalEvidence | None = None,
) -> list[Report]:
    """Feed ``values`` split at ``cuts`` (with each batch's codes from ``coder`` when given);
    return reports with indices made global."""
    reports: list[Report] = []
    bounds = [0, *sorted(cuts), values.size]
    for start, stop in itertools.pairwise(bounds):
        batch = values[start:stop]
        codes = coder.codes(batch) if coder is not None else None
        for report in detector.update_many(batch, codes):
            if isinstance(report, NovelCategoryReport):
                report = NovelCategoryReport(
                    value=report.value,
                    index=report.index + start,
                    first_index=report.first_index + start,
                    count=report.count,
                    share=report.share,
                    confirmed=report.confirmed,
                )
            else:
                report = CategoricalReport(
                    index=report.index + start,
                    n=report.n,
                    js=report.js,
                    chi2=report.chi2,
                    p_value=report.p_value,
                    drift=report.drift,
                    top_live=report.top_live,
                    cardinality_estimate=report.cardinality_estimate,
                )
            reports.append(report)
    return reports


def window_reports(reports: list[Report]) -> list[CategoricalReport]:
    return [r for r in reports if isinstance(r, CategoricalReport)]


def novel_reports(reports: list[Report]) -> list[NovelCategoryReport]:
    return [r for r in reports if isinstance(r, NovelCategoryReport)]


def test_novel_value_at_two_percent_is_reported_once_at_its_25th_occurrence() -> None:
    rng = np.random.default_rng(1)
    cats, p = categories(20), proportions(20, seed=1)
    values = draw(rng, cats, p, 30_000)
    novel_at = np.flatnonzero(rng.random(30_000) < 0.02)
    novel_at = novel_at[novel_at >= 12_000]
    values[novel_at] = "brand_new"
    detector = CategoricalDrift(reference_of(cats, p))

    reports = detector.update_many(values)

    [novel] = novel_reports(reports)
    assert novel.value == "brand_new"
    assert novel.first_index == novel_at[0]
    assert novel.index == novel_at[24]  # default needs 0.5 % of 5,000 = 25 in one window
    assert (novel.count, novel.share, novel.confirmed) == (25, 0.005, True)


def test_novel_value_crossing_in_a_later_batch_points_back_to_its_first_occurrence() -> None:
    values = np.array(["a"] * 100, dtype=object)
    values[[10, 30, 60, 90]] = "new"
    detector = CategoricalDrift({"a": 10}, window=100, novel_min_share=0.04)

    assert detector.update_many(values[:50]) == []
    [novel] = novel_reports(detector.update_many(values[50:]))

    assert (novel.index, novel.first_index) == (90 - 50, 10 - 50)


def test_one_off_typo_is_not_reported_by_default_but_is_with_zero_min_share() -> None:
    rng = np.random.default_rng(2)
    cats, p = categories(10), proportions(10, seed=2)
    values = draw(rng, cats, p, 20_000)
    values[[3_000, 17_000]] = "typo"

    assert novel_reports(CategoricalDrift(reference_of(cats, p)).update_many(values)) == []
    eager = CategoricalDrift(reference_of(cats, p), novel_min_share=0.0)
    [report] = novel_reports(eager.update_many(values))
    assert (report.value, report.index, report.first_index) == ("typo", 3_000, 3_000)


def test_novel_values_of_an_incomplete_reference_are_unconfirmed() -> None:
    detector = CategoricalDrift({"a": 90}, ref_other_count=10, ref_complete=False, window=10)

    [report] = novel_reports(detector.update_many(np.array(["a"] * 9 + ["b"], dtype=object)))

    assert (report.value, report.confirmed) == ("b", False)


@pytest.mark.parametrize("learned", [False, True], ids=["profile", "learned"])
def test_ten_percent_mass_shift_is_flagged_in_the_first_full_window_after_it(
    learned: bool,
) -> None:
    rng = np.random.default_rng(3)
    cats, p = categories(20), proportions(20, seed=3)
    shifted = p.copy()
    largest, other = int(np.argmax(p)), int(np.argmin(p))
    shifted[largest] -= 0.10
    shifted[other] += 0.10
    change = 22_345
    values = np.concatenate([draw(rng, cats, p, change), draw(rng, cats, shifted, 30_000)])
    detector = CategoricalDrift(None if learned else reference_of(cats, p))

    windows = window_reports(detector.update_many(values))

    flagged = [r.index for r in windows if r.drift]
    assert 29_999 in flagged  # the first full window after the change: 25,000..29,999
    assert min(flagged) >= 24_999  # nothing before the window that holds the change


@pytest.mark.parametrize("k", [10, 50])
@pytest.mark.parametrize("learned", [False, True], ids=["profile", "learned"])
def test_stationary_multinomial_never_flags_over_200_windows(k: int, learned: bool) -> None:
    rng = np.random.default_rng(100 + k)
    cats, p = categories(k), proportions(k, seed=k)
    detector = CategoricalDrift(None if learned else reference_of(cats, p))

    windows = window_reports(detector.update_many(draw(rng, cats, p, 1_000_000)))

    assert len(windows) == 200 - learned
    assert not any(r.drift for r in windows)
    assert max(r.js for r in windows) < detector.js_threshold


def test_missing_values_are_counted_and_do_not_fill_windows() -> None:
    values = np.array(["a", None, "b", None, "a", "b"], dtype=object)
    detector = CategoricalDrift({"a": 1, "b": 1}, window=4)

    [report] = window_reports(detector.update_many(values))

    assert (report.index, report.n, detector.n_missing, detector.n_seen) == (5, 4, 2, 4)


def test_thresholds_changed_between_calls_apply_to_the_next_window() -> None:
    values = np.array(["a"] * 100, dtype=object)
    detector = CategoricalDrift({"a": 50, "b": 50}, window=100)

    assert window_reports(detector.update_many(values))[0].drift
    detector.js_threshold = 1.0
    assert not window_reports(detector.update_many(values))[0].drift


def test_window_report_lists_top_live_categories_with_shares() -> None:
    values = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 2, dtype=object)
    detector = CategoricalDrift({"a": 1}, window=10)

    [report] = window_reports(detector.update_many(values))

    assert report.top_live == (("a", 0.5), ("b", 0.3), ("c", 0.2))


stream_strategy = st.lists(
    st.sampled_from(["a", "b", "c", "new_1", "new_2", None, "x" * 80]), min_size=1, max_size=600
)


@settings(max_examples=60, deadline=None)
@given(values=stream_strategy, data=st.data())
def test_reports_do_not_depend_on_batch_boundaries(
    values: list[str | None], data: st.DataObject
) -> None:
    array = np.array(values, dtype=object)
    cuts = data.draw(st.lists(st.integers(0, array.size), max_size=8))
    learned = data.draw(st.booleans())

    def detector() -> CategoricalDrift:
        reference = None if learned else {"a": 50, "b": 30, "c": 20}
        return CategoricalDrift(reference, window=40, novel_min_share=0.05)

    assert run_in_batches(detector(), array, cuts) == run_in_batches(detector(), array, [])


runs_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b", "new_1", "new_2", None]), st.integers(1, 40)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(runs=runs_strategy, data=st.data())
def test_reports_do_not_depend_on_batch_boundaries_amid_long_runs_of_missing_values(
    runs: list[tuple[str | None, int]], data: st.DataObject
) -> None:
    array = np.array([value for value, length in runs for _ in range(length)], dtype=object)
    cuts = data.draw(st.lists(st.integers(0, array.size), max_size=6))

    def detector() -> CategoricalDrift:
        return CategoricalDrift({"a": 60, "b": 40}, window=7, novel_min_share=0.3)

    whole = detector()
    assert run_in_batches(detector(), array, cuts) == run_in_batches(whole, array, [])
    assert whole.n_missing == int(np.sum(array == None))  # noqa: E711 (elementwise)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.sampled_from(["a", "b", "c", None, 7]), max_size=300),
    window=st.integers(1, 50),
    data=st.data(),
)
def test_window_segments_cover_the_batch_and_count_each_window_exactly(
    values: list[str | int | None], window: int, data: st.DataObject
) -> None:
    fill = data.draw(st.integers(0, window - 1))
    array = np.array(values, dtype=object)
    # Value by value: the counts of each window, and the index that closes it.
    expected: list[tuple[dict[str, int], int | None]] = [({}, None)]
    filled = fill
    for index, value in enumerate(values):
        if value is not None:
            counts = expected[-1][0]
            counts[str(value)] = counts.get(str(value), 0) + 1
            filled += 1
            if filled == window:
                expected[-1] = (counts, index)
                expected.append(({}, None))
                filled = 0

    got: list[tuple[dict[str, int], int | None]] = [({}, None)]
    position = 0
    for piece in count_window_segments(array, window, fill):
        assert piece.start == position and piece.stop > piece.start
        position = piece.stop
        for key, count in piece.counts.items():
            got[-1][0][key] = got[-1][0].get(key, 0) + count
        if piece.closes_window:
            got[-1] = (got[-1][0], piece.stop - 1)
            got.append(({}, None))
    assert position == array.size
    assert got == expected


@pytest.mark.parametrize("listed", [6, 4], ids=["complete_reference", "top_4_of_6"])
def test_reports_from_category_codes_equal_the_reports_from_values_for_any_split(
    listed: int,
) -> None:
    """The monitor hands CategoricalDrift the codes the pane evidence made (the reference's
    categories in sorted order): its reports and state must not change, novel values,
    missing values, runs of them and batch cuts included."""
    rng = np.random.default_rng(13)
    cats = categories(6)
    p = proportions(6, seed=13)
    order = np.argsort(-p)
    reference = {str(cats[i]): round(p[i] * 100_000) for i in order[:listed]}
    other = 100_000 - sum(reference.values())
    values = draw(rng, cats, p, 40_000)
    values[rng.random(values.size) < 0.02] = "late_arrival"  # crosses novel_min_share
    one_offs = np.flatnonzero(rng.random(values.size) < 0.002)
    values[one_offs] = [f"typo_{i}" for i in range(one_offs.size)]
    values[20_000:20_400] = "burst"  # novel, in one run across a cut below
    values[rng.random(values.size) < 0.1] = None
    for start in rng.integers(0, values.size - 3000, 6):
        values[start : start + rng.integers(50, 3000)] = None  # long runs of missing values
    coder = CategoricalEvidence(IncidentSettings(), reference, other)
    splits = {
        "whole": [],
        "random": sorted(rng.integers(0, values.size, 25).tolist()),
        "every_997": list(range(997, values.size, 997)),
        "single_records_around_the_burst": list(range(19_990, 20_010)),
    }

    def detector() -> CategoricalDrift:
        return CategoricalDrift(
            reference, other, ref_complete=listed == 6, window=1000, novel_min_share=0.005
        )

    assert coder.keys == detector().reference_keys
    expected = run_in_batches(plain := detector(), values, [])
    assert novel_reports(expected) and any(r.drift for r in window_reports(expected))
    assert {r.value for r in novel_reports(expected)} >= {"late_arrival", "burst"}
    for name, cuts in splits.items():
        coded = detector()
        assert run_in_batches(coded, values, cuts, coder) == expected, name
        assert coded.snapshot() == plain.snapshot(), name
        assert coded.n_missing == plain.n_missing == int(np.sum(values == None))  # noqa: E711


def test_many_novel_values_entering_at_once_point_to_their_own_occurrences() -> None:
    rng = np.random.default_rng(11)
    values = np.array([f"new_{i}" for i in rng.integers(0, 40, 3000)], dtype=object)
    values[rng.random(values.size) < 0.5] = "known"
    detector = CategoricalDrift({"known": 1}, window=1000, novel_min_share=0.005)

    reports = novel_reports(run_in_batches(detector, values, [700, 1500]))

    assert len(reports) == 40
    for report in reports:
        at = np.flatnonzero(values == report.value)
        assert (report.first_index, report.index) == (at[0], at[4])  # 0.5 % of 1,000 = 5


def test_values_that_are_not_str_count_as_their_str() -> None:
    values = np.array([1, "1", 2, np.str_("2"), 1.5, "1.5"], dtype=object)
    detector = CategoricalDrift({"1": 5, "2": 5, "1.5": 5}, window=6, novel_min_share=0.0)

    [report] = detector.update_many(values)

    assert isinstance(report, CategoricalReport)
    assert report.top_live == (("1", 2 / 6), ("1.5", 2 / 6), ("2", 2 / 6))


def test_values_differing_only_by_a_trailing_nul_are_distinct_categories() -> None:
    detector = CategoricalDrift({"a": 1}, window=4, novel_min_share=0.0)

    [novel, window] = detector.update_many(np.array(["a", "a\x00", "a", "a"], dtype=object))

    assert isinstance(novel, NovelCategoryReport) and novel.value == "a\x00"
    assert isinstance(window, CategoricalReport) and window.top_live[0] == ("a", 0.75)


def test_state_at_a_window_end_does_not_depend_on_batch_boundaries() -> None:
    # Large enough for the HLL sketch to be in its (order-sensitive) estimation mode.
    rng = np.random.default_rng(10)
    values = np.array([f"id-{i}" for i in rng.integers(0, 8_000, 30_000)], dtype=object)
    whole, pieces = CategoricalDrift(None, window=3000), CategoricalDrift(None, window=3000)

    expected = run_in_batches(whole, values, [])
    got = run_in_batches(pieces, values, sorted(rng.integers(0, values.size, 40).tolist()))

    assert got == expected
    assert pieces.snapshot() == whole.snapshot()


def test_long_values_decide_like_short_ones() -> None:
    rng = np.random.default_rng(4)
    short = draw(rng, categories(5), [0.4, 0.3, 0.2, 0.05, 0.05], 20_000)
    short[rng.random(20_000) < 0.02] = "cat_99"
    long = np.array([value.replace("cat", "c" * 100) for value in short], dtype=object)
    ref = {"cat_00": 4, "cat_01": 3, "cat_02": 2, "cat_03": 1}

    short_reports = CategoricalDrift(ref, window=2000).update_many(short)
    long_ref = {key.replace("cat", "c" * 100): count for key, count in ref.items()}
    long_reports = CategoricalDrift(long_ref, window=2000).update_many(long)

    assert [(type(r), r.index) for r in long_reports] == [(type(r), r.index) for r in short_reports]
    short_windows, long_windows = window_reports(short_reports), window_reports(long_reports)
    assert [r.js for r in long_windows] == [r.js for r in short_windows]


def test_snapshot_restore_gives_identical_future_reports() -> None:
    rng = np.random.default_rng(5)
    cats = categories(12)
    values = draw(rng, cats, proportions(12, seed=5), 23_456)
    values[rng.random(values.size) < 0.03] = "late_arrival"
    values[rng.random(values.size) < 0.01] = None
    whole = CategoricalDrift(None, window=3000)
    whole.update_many(values[:10_001])
    expected = whole.update_many(values[10_001:])

    first = CategoricalDrift(None, window=3000)
    first.update_many(values[:10_001])
    restored = CategoricalDrift.restore(json.loads(json.dumps(first.snapshot())))

    assert restored.update_many(values[10_001:]) == expected
    assert restored.snapshot() == whole.snapshot()


def test_restore_rejects_another_detectors_snapshot() -> None:
    with pytest.raises(ValueError, match="CategoricalDrift"):
        CategoricalDrift.restore({"kind": "PageHinkley", "version": 1})


def test_heavy_hitters_keep_frequent_categories_within_the_error_bound() -> None:
    rng = np.random.default_rng(6)
    values = np.array([f"rare_{i}" for i in rng.integers(0, 5000, 100_000)], dtype=object)
    values[rng.random(values.size) < 0.3] = "hot"
    detector = CategoricalDrift(None, top_k=8)

    detector.update_many(values)

    hitters = dict(detector.heavy_hitters())
    true_hot = int(np.sum(values == "hot"))
    assert len(hitters) <= 8
    assert true_hot - detector.heavy_error <= hitters["hot"] <= true_hot
    assert detector.heavy_error <= values.size / 9


def test_cardinality_estimate_is_within_five_percent() -> None:
    values = np.array([f"id-{i}" for i in range(200_000)], dtype=object)
    detector = CategoricalDrift(None)

    detector.update_many(values)

    assert abs(detector.cardinality_estimate - 200_000) < 10_000


def test_reported_novel_values_are_capped() -> None:
    values = np.array([f"n{i}" for i in range(5_000)], dtype=object)
    detector = CategoricalDrift({"a": 1}, novel_min_share=0.0)

    reports = novel_reports(detector.update_many(values))

    assert len(reports) == MAX_REPORTED_NOVEL
    assert [r.index for r in reports] == list(range(MAX_REPORTED_NOVEL))
    assert detector.novel_suppressed == values.size - MAX_REPORTED_NOVEL
    assert len(detector.snapshot()["reported_novel"]) == MAX_REPORTED_NOVEL


def test_snapshot_stays_bounded_over_ten_million_values_of_ever_new_categories() -> None:
    # Every batch of 50,000 values brings 500 categories never seen before (about 100 values
    # each): 10 million values, 100,000 distinct categories in all.
    detector = CategoricalDrift(None)
    sizes: dict[int, int] = {}
    batch, distinct = 50_000, 500
    rng = np.random.default_rng(8)
    for start in range(0, 10_000_000, batch):
        ids = (start // batch * distinct + rng.integers(0, distinct, batch)).astype("U")
        detector.update_many(np.strings.add("v", ids).astype(object))
        if start + batch in (1_000_000, 10_000_000):
            sizes[start + batch] = len(json.dumps(detector.snapshot()))

    state = detector.snapshot()
    assert len(state["window_state"]["keys"]) <= detector.window
    assert len(state["heavy"]["keys"]) <= detector.top_k
    assert sizes[10_000_000] <= 1.1 * sizes[1_000_000]
    assert sizes[10_000_000] < 200_000
    assert abs(detector.cardinality_estimate - 100_000) < 5_000


DETERMINISM_SCRIPT = """
import json, numpy as np
from driftwarden.detectors.categorical_drift import CategoricalDrift
rng = np.random.default_rng(7)
values = np.array([f"v{i % 97}-{i % 13}" for i in rng.integers(0, 10**6, 40_000)], dtype=object)
detector = CategoricalDrift(None, window=3000, top_k=16, novel_min_share=0.001)
detector.update_many(values[:20_000])
detector.update_many(values[20_000:])
print(json.dumps(detector.snapshot(), sort_keys=True))
"""


def test_snapshot_is_identical_across_processes_with_different_hash_seeds() -> None:
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", DETERMINISM_SCRIPT],
            cwd=REPO_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.append(done.stdout)

    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0])["reported_novel"]  # the state compared is not trivial
