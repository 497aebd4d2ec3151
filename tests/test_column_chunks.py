"""Column chunks between the stages: Arrow IPC out and back, exactly; anything else refused
with a reason; and the event-time release of the input partitions' records."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftwarden.detectors.feature_batch import FeatureBatch, SourcePositions
from driftwarden.detectors.feature_split import split_by_feature
from driftwarden.stream.decoding.column_chunks import MalformedChunk, decode_chunk, encode_chunk
from driftwarden.stream.service.time_alignment import TimeAligner

LABELS = st.one_of(st.none(), st.text(max_size=12))


@st.composite
def batches(draw: st.DrawFn) -> tuple[FeatureBatch, np.ndarray]:
    n = draw(st.integers(min_value=1, max_value=300))
    numbers = draw(
        st.lists(st.floats(allow_infinity=False), min_size=n, max_size=n)
    )  # NaN: missing
    labels = draw(st.lists(LABELS, min_size=n, max_size=n))
    present = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    gaps = draw(st.lists(st.integers(min_value=1, max_value=3), min_size=n, max_size=n))
    offsets = np.cumsum(gaps).astype(np.int64) + draw(st.integers(0, 10**12))
    stamps = np.cumsum(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))) + 1_700_000
    first = draw(st.integers(min_value=0, max_value=n))
    batch = FeatureBatch(
        n_records=n,
        numeric={"x": np.array(numbers, dtype=np.float64)},
        categorical={"c": np.array(labels, dtype=object)},
        present={"x": np.array(present), "c": np.array(present)},
        types={"x": frozenset({"number", "null"}), "c": frozenset({"string", "null"})},
        positions=SourcePositions(
            ("features",), np.zeros(n, np.int32), np.full(n, 7, np.int32), offsets
        ),
        type_first={"x": {"number": 0, "null": first}, "c": {"string": 0, "null": first}},
    )
    return batch, stamps.astype(np.int64)


@given(batches())
def test_a_chunk_decodes_to_exactly_the_columns_positions_and_timestamps_encoded(
    drawn: tuple[FeatureBatch, np.ndarray],
) -> None:
    batch, stamps = drawn
    for feature, chunk in split_by_feature(batch, known=["gone"]).items():
        back = decode_chunk(encode_chunk(feature, chunk, stamps))
        assert back.feature == feature
        got = back.batch
        assert got.n_records == chunk.n_records
        assert got.numeric.keys() == chunk.numeric.keys()
        for name, values in chunk.numeric.items():
            assert np.array_equal(got.numeric[name], values, equal_nan=True)
        assert got.categorical.keys() == chunk.categorical.keys()
        for name, labels in chunk.categorical.items():
            assert got.categorical[name].tolist() == labels.tolist()
        assert {k: v.tolist() for k, v in got.present.items()} == {
            k: v.tolist() for k, v in chunk.present.items()
        }
        assert got.types == chunk.types and got.type_first == chunk.type_first
        assert got.positions.describe(0) == chunk.positions.describe(0)
        assert np.array_equal(got.positions.offsets, chunk.positions.offsets)
        assert np.array_equal(back.timestamps, stamps)


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b'{"feature": "x"}', "not a column chunk"),
        (b"\xff" * 64, "not a column chunk"),
    ],
)
def test_a_message_that_is_not_a_chunk_is_refused_with_a_reason(
    payload: bytes | None, says: str
) -> None:
    with pytest.raises(MalformedChunk, match=says):
        decode_chunk(payload)


class _Message:
    def __init__(self, stamp: int) -> None:
        self.stamp = stamp

    def timestamp(self) -> tuple[int, int]:
        return (1, self.stamp)


def test_the_aligner_releases_records_in_event_time_order_across_partitions() -> None:
    now = [0.0]
    aligner = TimeAligner(max_wait_s=1.0, clock=lambda: now[0])
    for partition in range(3):
        aligner.track(("t", partition))
    # Partition 0 delivered a long run, 1 a short one, 2 nothing yet but has more.
    aligner.add(("t", 0), [_Message(t) for t in range(0, 100)])
    aligner.add(("t", 1), [_Message(t) for t in range(0, 10)])
    assert aligner.release(lambda owner: owner[1] == 2, now=0.5) == []
    now[0] = 0.6
    aligner.add(("t", 2), [_Message(t) for t in range(0, 20)])
    released = aligner.release(lambda owner: False)
    assert {owner[1]: len(m) for owner, m, _ in released} == {0: 10, 1: 10, 2: 10}
    assert aligner.held == 90 + 10
    # A partition that lags yet delivers nothing holds the others for max_wait_s only.
    assert aligner.release(lambda owner: owner[1] == 1, now=1.0) == []
    released = aligner.release(lambda owner: owner[1] == 1, now=1.7)
    assert {owner[1]: len(m) for owner, m, _ in released} == {0: 10, 2: 10}


def test_an_aligner_forgets_a_revoked_partition() -> None:
    aligner = TimeAligner()
    aligner.add(("t", 0), [_Message(5)])
    aligner.forget(("t", 0))
    assert aligner.held == 0 and aligner.release(lambda owner: False) == []
