"""``driftwarden profile merge``: partial profiles of disjoint data merge into the whole."""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path

import datasketches
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftwarden.detectors.profile import Profile
from driftwarden.stream.commands import profile as profile_command
from driftwarden.stream.profiling.feature_accumulators import (
    EXACT_CATEGORY_LIMIT,
    HEAVY_HITTER_CAPACITY,
    KLL_RANK_ERROR,
    CategoricalAccumulator,
    NumericAccumulator,
)
from driftwarden.stream.sketches.bloom_filter import RowHashFilter


def _write(path: Path, x: np.ndarray, n: np.ndarray, c: np.ndarray) -> Path:
    cells = zip(x.tolist(), n.tolist(), c.tolist(), strict=True)
    rows = "".join(f"{'' if np.isnan(a) else repr(a)},{b},{d}\n" for a, b, d in cells)
    path.write_text("x,n,c\n" + rows)
    return path


def _build(path: Path, output: Path, *extra: str) -> Profile:
    assert profile_command.run(["build", str(path), "-o", str(output), *extra]) == 0
    return Profile.model_validate_json(output.read_text())


@pytest.fixture
def parts(tmp_path: Path) -> tuple[Path, Path, Path, np.ndarray]:
    rng = np.random.default_rng(4)
    size = 120_000
    x = rng.normal(50, 10, size)
    x[rng.random(size) < 0.05] = np.nan
    n = rng.integers(0, 30, size)
    c = np.array([f"cat{i}" for i in range(40)])[rng.zipf(1.5, size) % 40]
    split = 70_000
    a = _write(tmp_path / "a.csv", x[:split], n[:split], c[:split])
    b = _write(tmp_path / "b.csv", x[split:], n[split:], c[split:])
    whole = _write(tmp_path / "all.csv", x, n, c)
    return a, b, whole, x


def test_merging_two_partial_profiles_gives_the_profile_of_all_rows(
    tmp_path: Path, parts: tuple[Path, Path, Path, np.ndarray]
) -> None:
    a, b, whole, x = parts
    _build(a, tmp_path / "a.json")
    _build(b, tmp_path / "b.json")
    expected = _build(whole, tmp_path / "all.json")
    merged_path = tmp_path / "merged.json"
    assert (
        profile_command.run(
            ["merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "-o", str(merged_path)]
        )
        == 0
    )
    merged = Profile.model_validate_json(merged_path.read_text())
    assert merged.n_rows == expected.n_rows == 120_000
    assert merged.features["c"] == expected.features["c"]  # exact counts below the limit
    for name in ("x", "n"):
        got, want = merged.features[name], expected.features[name]
        assert (got.count, got.null_count) == (want.count, want.null_count)
        assert got.numeric is not None and want.numeric is not None
        assert (got.numeric.min, got.numeric.max) == (want.numeric.min, want.numeric.max)
        assert got.numeric.mean == pytest.approx(want.numeric.mean, rel=1e-12)
        assert got.numeric.std == pytest.approx(want.numeric.std, rel=1e-9)
        assert sum(got.numeric.bin_counts) == got.count - got.null_count
    values = np.sort(x[~np.isnan(x)])
    edges = merged.features["x"].numeric.bin_edges  # type: ignore[union-attr]
    ranks = np.searchsorted(values, edges, side="left") / values.size
    assert np.abs(ranks - np.arange(1, 20) / 20).max() <= KLL_RANK_ERROR


def test_merge_carries_row_hashes_of_both_parts(
    tmp_path: Path, parts: tuple[Path, Path, Path, np.ndarray]
) -> None:
    a, b, _, _ = parts
    _build(a, tmp_path / "a.json", "--row-hashes")
    _build(b, tmp_path / "b.json", "--row-hashes")
    args = ["merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "-o"]
    assert profile_command.run([*args, str(tmp_path / "m.json")]) == 0
    parts_filters = [RowHashFilter.read(tmp_path / f"{p}.json.rowhashes") for p in "ab"]
    merged = RowHashFilter.read(tmp_path / "m.json.rowhashes")
    assert merged.n_added == 120_000 and merged.columns == ["x", "n", "c"]
    assert merged.false_positive_bound() <= sum(f.false_positive_bound() for f in parts_filters)


def test_merge_refuses_profiles_without_sketches_or_with_conflicting_kinds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    numeric, text = tmp_path / "n.csv", tmp_path / "t.csv"
    numeric.write_text("v\n1\n2\n")
    text.write_text("v\nx\ny\n")
    _build(numeric, tmp_path / "n.json")
    _build(text, tmp_path / "t.json")
    assert (
        profile_command.run(
            [
                "merge",
                str(tmp_path / "n.json"),
                str(tmp_path / "t.json"),
                "-o",
                str(tmp_path / "m.json"),
            ]
        )
        == 2
    )
    assert "feature 'v' is numeric in one part and categorical" in capsys.readouterr().err
    (tmp_path / "t.json.sketches").unlink()
    assert (
        profile_command.run(
            [
                "merge",
                str(tmp_path / "n.json"),
                str(tmp_path / "t.json"),
                "-o",
                str(tmp_path / "m.json"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("driftwarden: error: ") and "t.json.sketches: missing" in err
    assert len(err.splitlines()) == 1


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300),
    cut=st.integers(0, 300),
    state_round_trip=st.booleans(),
)
def test_numeric_accumulators_merge_like_one_pass(
    values: list[float], cut: int, state_round_trip: bool
) -> None:
    data = np.array(values)
    left, right, whole = NumericAccumulator(), NumericAccumulator(), NumericAccumulator()
    left.update(data[:cut], present=min(cut, data.size))
    right.update(data[cut:], present=data.size - min(cut, data.size))
    whole.update(data, present=data.size)
    if state_round_trip:
        right = NumericAccumulator.from_state(right.to_state())
    left.merge(right)
    assert (left.n, left.min, left.max) == (whole.n, whole.min, whole.max)
    assert left.mean == pytest.approx(whole.mean, rel=1e-9, abs=1e-6)
    assert left.m2 == pytest.approx(whole.m2, rel=1e-6, abs=1e-3)
    # Below k values the KLL sketch is exact, so the summaries agree exactly.
    assert left.summary(10) == whole.summary(10).model_copy(  # type: ignore[union-attr]
        update={"mean": left.mean, "std": left.summary(10).std}  # type: ignore[union-attr]
    )


def test_categorical_merge_past_the_exact_limit_keeps_heavy_hitters_and_distinct_count() -> None:
    rng = np.random.default_rng(5)
    rare = [f"id{i}" for i in range(EXACT_CATEGORY_LIMIT + 5_000)]
    heavy = {"FR": 30_000, "DE": 20_000}
    halves = [CategoricalAccumulator(), CategoricalAccumulator()]
    for i, label in enumerate(rng.permutation(rare).tolist()):
        halves[i % 2].update({label: 1}, present=1)
    halves[0].update({"FR": 10_000, "DE": 20_000}, present=30_000)
    halves[1].update({"FR": 20_000}, present=20_000)
    assert halves[0].exact is not None  # each half alone is still exact
    restored = CategoricalAccumulator.from_state(halves[1].to_state())
    halves[0].merge(restored)
    summary = halves[0].summary(max_categories=2)
    assert halves[0].exact is None and summary.complete is False
    assert list(summary.top) == list(heavy)
    error = halves[0].total / (HEAVY_HITTER_CAPACITY + 1)  # the summary's a-priori bound
    for label, count in heavy.items():
        assert abs(summary.top[label] - count) <= error
    assert summary.distinct_estimate == pytest.approx(len(rare) + 2, rel=0.05)
    assert halves[0].total == len(rare) + 50_000


def test_categorical_state_written_with_a_frequent_items_sketch_still_merges() -> None:
    # Sidecars written before profiles kept a Misra-Gries summary hold a datasketches
    # frequent-items sketch (lg_max_k 14) under "frequent".
    rng = np.random.default_rng(6)
    labels = [f"id{i}" for i in rng.integers(0, 40_000, 200_000)] + ["FR"] * 30_000
    sketch = datasketches.frequent_strings_sketch(14)
    for label, count in Counter(labels).items():
        sketch.update(label, count)
    current = CategoricalAccumulator()
    current.update(Counter(labels), present=len(labels))
    legacy = current.to_state()
    del legacy["heavy"]
    legacy["frequent"] = base64.b64encode(sketch.serialize()).decode("ascii")

    old = CategoricalAccumulator.from_state(legacy)
    old.merge(CategoricalAccumulator.from_state(current.to_state()))

    top = old.summary(max_categories=1).top
    assert list(top) == ["FR"]
    assert old.heavy is not None and old.heavy.error < 0.001 * old.total
    assert 60_000 <= top["FR"] <= 60_000 + old.heavy.error  # an upper bound, never low
