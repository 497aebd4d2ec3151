"""A ``FeatureBatch`` cut into one batch per feature, and the tail of a batch.

The two-stage service partitions detector state by feature: stage one cuts every decoded
batch into per-feature column chunks (``split_by_feature``), stage two runs each feature's
chunks, from every input partition, through that feature's own bank. A chunk keeps the
batch's records one for one (the same ``n_records`` and positions), so a feature's bank
counts every record whether or not the record holds the feature.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.feature_batch import FeatureBatch, SourcePositions

__all__ = ["batch_fields", "merge_by_time", "split_by_feature", "tail"]


def batch_fields(batch: FeatureBatch) -> set[str]:
    """Every field the batch says anything about: a column, a presence mask or a type."""
    return (
        batch.numeric.keys() | batch.categorical.keys() | batch.present.keys() | batch.types.keys()
    )


def split_by_feature(batch: FeatureBatch, known: Iterable[str] = ()) -> dict[str, FeatureBatch]:
    """One single-feature batch per field of ``batch``, plus an *absent* batch (no column,
    no mask, no type: no record holds the field) for each ``known`` field it lacks.

    A feature's bank fed its chunks makes the decisions a bank fed the whole batches makes
    for that feature: an absent chunk is what a whole batch without the field looks like.

    >>> batch = FeatureBatch(
    ...     2, {"amount": np.array([1.0, np.nan])}, {},
    ...     {"amount": np.array([True, False])}, {"amount": frozenset({"number"})},
    ...     SourcePositions.sequential("payments", 2),
    ... )
    >>> chunks = split_by_feature(batch, known=["country"])
    >>> sorted(chunks), chunks["country"].n_records, dict(chunks["country"].present)
    (['amount', 'country'], 2, {})
    """
    chunks: dict[str, FeatureBatch] = {}
    for name in sorted(batch_fields(batch) | set(known)):
        chunks[name] = FeatureBatch(
            n_records=batch.n_records,
            numeric={name: batch.numeric[name]} if name in batch.numeric else {},
            categorical={name: batch.categorical[name]} if name in batch.categorical else {},
            present={name: batch.present[name]} if name in batch.present else {},
            types={name: batch.types[name]} if name in batch.types else {},
            positions=batch.positions,
            type_first={name: batch.type_first[name]} if name in batch.type_first else {},
        )
    return chunks


def tail(batch: FeatureBatch, start: int) -> FeatureBatch:
    """The batch's records from ``start`` on (the records before it were seen already).

    A type first met before ``start`` is kept, as first met at the tail's first record: the
    records before ``start`` were seen with it, so it is known by then.

    >>> batch = FeatureBatch(
    ...     3, {"x": np.array([1.0, 2.0, 3.0])}, {}, {"x": np.ones(3, dtype=bool)},
    ...     {"x": frozenset({"number"})}, SourcePositions.sequential("t", 3, first_offset=10),
    ...     type_first={"x": {"number": 0}},
    ... )
    >>> part = tail(batch, 2)
    >>> part.numeric["x"], part.positions.describe(0), part.type_first
    (array([3.]), ('t', -1, 12), {'x': {'number': 0}})
    """
    if start <= 0:
        return batch
    positions = batch.positions
    return FeatureBatch(
        n_records=max(batch.n_records - start, 0),
        numeric={name: values[start:] for name, values in batch.numeric.items()},
        categorical={name: values[start:] for name, values in batch.categorical.items()},
        present={name: mask[start:] for name, mask in batch.present.items()},
        types=batch.types,
        positions=SourcePositions(
            sources=positions.sources,
            source_ids=positions.source_ids[start:],
            partitions=positions.partitions[start:],
            offsets=positions.offsets[start:],
        ),
        type_first={
            name: {t: max(first - start, 0) for t, first in firsts.items()}
            for name, firsts in batch.type_first.items()
        },
        extras=batch.extras,
    )


Piece = tuple[FeatureBatch, npt.NDArray[np.int64]]
"""A single-feature batch and its records' timestamps (ms)."""


def merge_by_time(streams: list[list[Piece]], feature: str) -> Piece:
    """Chunks of one feature from several partitions as one batch in event-time order.

    Each stream is one partition's pieces, in its order. Records keep their order within a
    stream (the merge key is the running maximum of the stream's timestamps) and streams
    interleave by time, ties in the order given. A feature absent from a piece is missing
    (NaN or None, not present) in its records.

    >>> pos = lambda p, n: SourcePositions(("t",), np.zeros(n, np.int32),
    ...     np.full(n, p, np.int32), np.arange(n, dtype=np.int64))
    >>> a = FeatureBatch(2, {"x": np.array([1.0, 3.0])}, {}, {}, {}, pos(0, 2))
    >>> b = FeatureBatch(2, {"x": np.array([2.0, 4.0])}, {}, {}, {}, pos(1, 2))
    >>> merged, stamps = merge_by_time([[(a, np.array([10, 30]))], [(b, np.array([20, 40]))]], "x")
    >>> merged.numeric["x"].tolist(), merged.positions.partitions.tolist(), stamps.tolist()
    ([1.0, 2.0, 3.0, 4.0], [0, 1, 0, 1], [10, 20, 30, 40])
    """
    pieces = [piece for stream in streams for piece in stream]
    batches = [batch for batch, _ in pieces]
    sizes = [batch.n_records for batch in batches]
    n = sum(sizes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    order: npt.NDArray[np.intp] | None = None  # one stream: its order, nothing to sort
    where = np.arange(n)
    if len(streams) > 1:
        keys = np.concatenate(
            [np.maximum.accumulate(np.concatenate([s for _, s in stream])) for stream in streams]
        )
        order = np.argsort(keys, kind="stable")
        where = np.empty(n, dtype=np.int64)
        where[order] = np.arange(n)  # merged position of each concatenated record

    def take(parts: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
        joined = np.concatenate(parts)
        return joined if order is None else joined[order]

    numeric: dict[str, npt.NDArray[np.float64]] = {}
    categorical: dict[str, npt.NDArray[np.object_]] = {}
    present: dict[str, npt.NDArray[np.bool_]] = {}
    if any(feature in b.numeric for b in batches):
        numeric[feature] = take(
            [b.numeric.get(feature, np.full(b.n_records, np.nan)) for b in batches]
        )
    if any(feature in b.categorical for b in batches):
        categorical[feature] = take(
            [b.categorical.get(feature, np.full(b.n_records, None, dtype=object)) for b in batches]
        )
    if any(feature in b.present for b in batches):
        present[feature] = take(
            [b.present.get(feature, np.zeros(b.n_records, dtype=bool)) for b in batches]
        )
    types = frozenset().union(*(b.types.get(feature, frozenset()) for b in batches))
    firsts: dict[str, int] = {}
    for batch, start in zip(batches, starts, strict=True):
        for json_type, first in batch.type_first.get(feature, {}).items():
            at = int(where[start + first]) if first < batch.n_records else n
            firsts[json_type] = min(firsts.get(json_type, at), at)
    if types and firsts.keys() != types:
        firsts = {}  # some piece did not say where: leave it unknown
    sources = sorted({s for b in batches for s in b.positions.sources})
    if all(b.positions.sources == (sources[0],) for b in batches):
        source_ids = take([b.positions.source_ids for b in batches])
    else:
        index = {source: i for i, source in enumerate(sources)}
        source_ids = take(
            [
                np.asarray([index[s] for s in b.positions.sources], np.int32)[
                    b.positions.source_ids
                ]
                for b in batches
            ]
        )
    positions = SourcePositions(
        sources=tuple(sources),
        source_ids=source_ids,
        partitions=take([b.positions.partitions for b in batches]),
        offsets=take([b.positions.offsets for b in batches]),
    )
    stamps = take([stamps for _, stamps in pieces])
    merged = FeatureBatch(
        n_records=n,
        numeric=numeric,
        categorical=categorical,
        present=present,
        types={feature: types} if types else {},
        positions=positions,
        type_first={feature: firsts} if types and firsts else {},
    )
    return merged, stamps
