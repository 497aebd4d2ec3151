"""MisraGries: the error bound, merging, and a state that depends only on the counts fed."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftwarden.detectors.misra_gries import MisraGries

tables = st.lists(
    st.dictionaries(st.sampled_from([f"label_{i}" for i in range(20)]), st.integers(1, 50)),
    max_size=30,
)


def fed(capacity: int, count_tables: list[dict[str, int]]) -> tuple[MisraGries, Counter[str]]:
    summary, truth = MisraGries(capacity), Counter[str]()
    for table in count_tables:
        summary.update(table)
        truth.update(table)
    return summary, truth


def assert_within_bound(summary: MisraGries, truth: Counter[str]) -> None:
    kept = summary.counts()
    assert len(kept) <= summary.capacity
    assert summary.error <= truth.total() / (summary.capacity + 1)
    for label, true_count in truth.items():
        assert kept.get(label, 0) <= true_count <= kept.get(label, 0) + summary.error


@settings(max_examples=200, deadline=None)
@given(count_tables=tables, capacity=st.integers(1, 8))
def test_every_true_count_lies_between_the_kept_count_and_it_plus_the_error(
    count_tables: list[dict[str, int]], capacity: int
) -> None:
    assert_within_bound(*fed(capacity, count_tables))


@settings(max_examples=200, deadline=None)
@given(left=tables, right=tables, capacity=st.integers(1, 8))
def test_merged_summaries_keep_the_bound_for_both_streams(
    left: list[dict[str, int]], right: list[dict[str, int]], capacity: int
) -> None:
    merged, truth = fed(capacity, left)
    other, other_truth = fed(capacity, right)

    merged.merge(MisraGries.from_state(other.to_state()))

    assert_within_bound(merged, truth + other_truth)


@settings(max_examples=100, deadline=None)
@given(count_tables=tables, capacity=st.integers(1, 8))
def test_state_does_not_depend_on_the_order_of_labels_within_a_table(
    count_tables: list[dict[str, int]], capacity: int
) -> None:
    backwards = [dict(reversed(table.items())) for table in count_tables]

    assert fed(capacity, count_tables)[0].to_state() == fed(capacity, backwards)[0].to_state()


def test_a_label_above_its_share_is_always_kept_with_its_count_bounded() -> None:
    summary = MisraGries(capacity=4)
    for i in range(1000):
        summary.update({"hot": 3, f"rare_{i}": 7})

    [(label, count)] = summary.most_frequent()[:1]
    assert label == "hot" and 3000 - summary.error <= count <= 3000


def test_a_state_with_more_counts_than_capacity_is_rejected() -> None:
    with pytest.raises(ValueError, match="at most 2 positive counts"):
        MisraGries(2, {"a": 1, "b": 1, "c": 1})
