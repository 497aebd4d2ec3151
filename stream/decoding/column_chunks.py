"""Column chunks: one feature of one decoded batch, as an Arrow IPC stream message.

Stage one of the service cuts each batch into per-feature chunks
(``detectors.feature_split``) and writes them to the columns topic keyed by feature; stage two
reads them back into single-feature ``FeatureBatch``es. A chunk holds:

- ``values``: float64 (NaN for missing) for a numeric feature; a dictionary-encoded string
  column (null for missing) for a categorical one; no column when no record has the field;
- ``present``: a bit per record, when the batch had a presence mask for the field;
- in the schema's metadata: under ``driftwarden`` (JSON) the feature, record count, observed
  JSON types and where each was first met, the source topic and partition; under
  ``driftwarden.offsets`` the offsets as runs of consecutive offsets, and under
  ``driftwarden.timestamps`` the record timestamps as runs of equal values (Kafka producers
  stamp many records with the same millisecond), each as little-endian int64
  ``(index, first value)`` pairs.

Offsets and timestamps are per batch, not per value, so their runs keep a chunk small: its
size is about 8 bytes per record for a numeric feature, 1 to 4 for a categorical one, plus a
fixed header (``bench/column_chunks.py`` measures it against a msgpack encoding).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from driftwarden.detectors.feature_batch import FeatureBatch, SourcePositions

__all__ = [
    "NO_TIMESTAMP",
    "ColumnChunk",
    "MalformedChunk",
    "decode_chunk",
    "encode_chunk",
    "runs",
    "unrun",
]

_META_KEY = b"driftwarden"
_OFFSETS_KEY = b"driftwarden.offsets"
_TIMESTAMPS_KEY = b"driftwarden.timestamps"
_FORMAT = 1
NO_TIMESTAMP = -1
"""A record's timestamp when the broker gave none."""


class MalformedChunk(ValueError):
    """A columns-topic message that is not a column chunk this version can read."""


@dataclass(frozen=True, slots=True)
class ColumnChunk:
    """One feature's records of one input batch: the single-feature batch and each record's
    timestamp (milliseconds since the epoch, ``NO_TIMESTAMP`` when unknown)."""

    feature: str
    batch: FeatureBatch
    timestamps: npt.NDArray[np.int64]


def runs(values: npt.NDArray[np.int64], step: int) -> npt.NDArray[np.int64]:
    """``values`` as ``(index, value)`` pairs (rows) opening each run in which every value is
    the one before plus ``step`` (1: consecutive offsets; 0: equal timestamps).

    >>> runs(np.array([5, 6, 7, 10, 11]), step=1).tolist()
    [[0, 5], [3, 10]]
    >>> unrun(runs(np.array([5, 6, 7, 10, 11]), 1), 5, step=1).tolist()
    [5, 6, 7, 10, 11]
    """
    if values.size == 0:
        return np.empty((0, 2), dtype=np.int64)
    starts = np.flatnonzero(np.diff(values) != step) + 1
    starts = np.concatenate(([0], starts))
    return np.stack((starts, values[starts]), axis=1).astype(np.int64)


def unrun(table: npt.NDArray[np.int64], n: int, step: int) -> npt.NDArray[np.int64]:
    """The ``n`` values that ``runs`` encoded as ``table``."""
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 2 or not len(table) or table[0, 0] != 0:
        raise MalformedChunk("value runs do not start at record 0")
    starts, firsts = table[:, 0], table[:, 1]
    lengths = np.diff(np.append(starts, n))
    if np.any(lengths <= 0):
        raise MalformedChunk(f"value runs {starts.tolist()[:10]}... are not increasing within {n}")
    if step == 0:
        return np.repeat(firsts, lengths)
    return np.repeat(firsts - step * starts, lengths) + step * np.arange(n, dtype=np.int64)


class _LastRuns:
    """The raw runs of the arrays last encoded: a batch's chunks share their offsets and
    timestamps arrays, so each is cut into runs once, not once per feature."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[npt.NDArray[np.int64], bytes]] = {}

    def of(self, values: npt.NDArray[np.int64], step: int) -> bytes:
        hit = self._last.get(step)
        if hit is not None and hit[0] is values:
            return hit[1]
        raw = runs(values, step).astype("<i8").tobytes()
        self._last[step] = (values, raw)
        return raw


_RUNS = _LastRuns()


def encode_chunk(feature: str, batch: FeatureBatch, timestamps: npt.NDArray[np.int64]) -> bytes:
    """The Arrow IPC stream of one single-feature batch (``split_by_feature``) of records
    from one source partition."""
    positions = batch.positions
    arrays: list[pa.Array] = []
    names: list[str] = []
    kind = "absent"
    if feature in batch.numeric:
        kind = "numeric"
        arrays.append(pa.array(batch.numeric[feature], type=pa.float64()))
        names.append("values")
    elif feature in batch.categorical:
        kind = "categorical"
        labels = pa.array(batch.categorical[feature], type=pa.string(), from_pandas=True)
        arrays.append(_narrow(labels.dictionary_encode()))
        names.append("values")
    if feature in batch.present:
        arrays.append(pa.array(batch.present[feature], type=pa.bool_()))
        names.append("present")
    meta = {
        "format": _FORMAT,
        "feature": feature,
        "kind": kind,
        "n": batch.n_records,
        "types": sorted(batch.types.get(feature, ())),
        "type_first": batch.type_first.get(feature, {}),
        "source": positions.sources[int(positions.source_ids[0])] if batch.n_records else "",
        "partition": int(positions.partitions[0]) if batch.n_records else -1,
    }
    fields = [pa.field(name, array.type) for name, array in zip(names, arrays, strict=True)]
    # The runs as raw little-endian int64 pairs: a chunk of a fast producer has a run of
    # timestamps per millisecond, too many to write and parse as JSON numbers.
    metadata = {
        _META_KEY: msgspec.json.encode(meta),
        _OFFSETS_KEY: _RUNS.of(positions.offsets, step=1),
        _TIMESTAMPS_KEY: _RUNS.of(timestamps, step=0),
    }
    schema = pa.schema(fields, metadata=metadata)
    table = pa.RecordBatch.from_arrays(arrays, schema=schema) if arrays else None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        if table is not None:
            writer.write_batch(table)
    return sink.getvalue().to_pybytes()


def decode_chunk(payload: bytes | None) -> ColumnChunk:
    """Read a chunk written by ``encode_chunk``; raises ``MalformedChunk`` on anything else."""
    if not payload:
        raise MalformedChunk("empty message")
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(payload))
        metadata = reader.schema.metadata
        meta = msgspec.json.decode(metadata[_META_KEY])
        n = int(meta["n"])
        meta["offsets"] = _values(metadata[_OFFSETS_KEY], n, 1)
        meta["timestamps"] = _values(metadata[_TIMESTAMPS_KEY], n, 0)
        record_batch = None if reader.schema.names == [] else reader.read_next_batch()
        return _chunk(meta, record_batch)
    except MalformedChunk:
        raise
    except (pa.ArrowException, OSError, ValueError, KeyError, TypeError) as exc:
        # Arrow says "invalid IPC message" (OSError, ValueError), msgspec DecodeError
        # (a ValueError), a missing metadata key KeyError, a wrong-typed one TypeError.
        raise MalformedChunk(f"not a column chunk: {exc}") from exc
    except StopIteration as exc:
        raise MalformedChunk("column chunk without its record batch") from exc


@functools.lru_cache(maxsize=64)
def _values(raw: bytes, n: int, step: int) -> npt.NDArray[np.int64]:
    """The values of raw runs; every chunk of a batch carries the same ones, so they are
    worked out once (read-only: shared by the chunks)."""
    if len(raw) % 16:
        raise MalformedChunk(f"value runs of {len(raw)} bytes, not whole int64 pairs")
    values = unrun(np.frombuffer(raw, dtype="<i8").reshape(-1, 2).astype(np.int64), n, step)
    values.flags.writeable = False
    return values


def _chunk(meta: dict[str, Any], record_batch: pa.RecordBatch | None) -> ColumnChunk:
    if meta.get("format") != _FORMAT:
        raise MalformedChunk(f"column chunk format {meta.get('format')!r}, expected {_FORMAT}")
    feature, kind, n = str(meta["feature"]), meta["kind"], int(meta["n"])
    if record_batch is not None and record_batch.num_rows != n:
        raise MalformedChunk(
            f"column chunk of {feature!r} says {n} records, holds {record_batch.num_rows}"
        )
    numeric: dict[str, npt.NDArray[np.float64]] = {}
    categorical: dict[str, npt.NDArray[np.object_]] = {}
    present: dict[str, npt.NDArray[np.bool_]] = {}
    if record_batch is not None:
        columns = dict(zip(record_batch.schema.names, record_batch.columns, strict=True))
        if kind == "numeric":
            numeric[feature] = columns["values"].to_numpy(zero_copy_only=False)
        elif kind == "categorical":
            categorical[feature] = _labels(columns["values"])
        if "present" in columns:
            present[feature] = columns["present"].to_numpy(zero_copy_only=False)
    offsets = meta["offsets"]
    positions = SourcePositions(
        sources=(str(meta["source"]),),
        source_ids=np.zeros(n, dtype=np.int32),
        partitions=np.full(n, int(meta["partition"]), dtype=np.int32),
        offsets=offsets,
    )
    types = frozenset(meta["types"])
    try:
        batch = FeatureBatch(
            n_records=n,
            numeric=numeric,
            categorical=categorical,
            present=present,
            types={feature: types} if types else {},
            positions=positions,
            type_first={feature: dict(meta["type_first"])} if meta["type_first"] else {},
        )
    except ValueError as exc:
        raise MalformedChunk(f"column chunk of {feature!r}: {exc}") from exc
    return ColumnChunk(feature, batch, meta["timestamps"])


def _narrow(column: pa.DictionaryArray) -> pa.DictionaryArray:
    """The same column with the narrowest index type its dictionary allows."""
    size = len(column.dictionary)
    index_type = pa.int8() if size < 2**7 else pa.int16() if size < 2**15 else pa.int32()
    return pa.DictionaryArray.from_arrays(column.indices.cast(index_type), column.dictionary)


def _labels(column: pa.Array) -> npt.NDArray[np.object_]:
    """A dictionary-encoded string column as an object array, None where null."""
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    dictionary = np.empty(len(column.dictionary) + 1, dtype=object)
    dictionary[:-1] = column.dictionary.to_pylist()
    dictionary[-1] = None
    codes = column.indices.fill_null(len(column.dictionary)).to_numpy(zero_copy_only=False)
    return dictionary[codes]
