"""Chunked, bounded-memory readers for training files: CSV, JSON Lines and Parquet.

``iter_chunks`` walks one or more files and yields ``RecordChunk`` objects of at most
``chunk_rows`` records each (for CSV also at most ``CSV_CHUNK_CELLS`` cells),
column-oriented, with the 1-based line number of every record (the row number for Parquet)
and the malformed rows met on the way (``BadRow``). Memory is bounded by about two chunks
(the one being processed and the one being read) whatever the file size; for Parquet add
the read buffers (``PARQUET_READ_BUDGET`` over the file's columns, 64 KiB to 1 MiB each) and
one data page per column (writers default to about 1 MiB), never a whole row group. Files
ending in ``.gz`` are decompressed on the fly. A file that cannot be read at all raises
``InputError`` whose message is one line naming the file and what to do.

Column values:

- CSV: every value is the ``str`` read from the file (``""`` for an empty cell);
  ``RecordChunk.text`` is True. A row with the wrong number of fields is a ``BadRow``.
- JSON Lines: the decoded JSON values (``None`` for null and for an absent field). A line
  that is not valid JSON, not an object, or lacks ``features_path`` is a ``BadRow``.
  ``present`` holds a mask for each field absent from some records of the chunk.
- Parquet (needs ``pyarrow``), read in record batches: integer, floating and decimal
  columns as float64 arrays (NaN for null; an integer beyond 2**53 rounds to the nearest
  float64, as a JSON number does), others as lists of Python values (``None`` for null;
  dictionary-encoded columns decoded). Every column is in every row, so ``present`` is
  empty: a null is a null, never an absent field. With ``features_path`` only that struct
  column is read, and a row where it (or a struct above it) is null is a ``BadRow``.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress, islice
from pathlib import Path
from typing import Any, BinaryIO, cast

import msgspec
import numpy as np
import numpy.typing as npt

__all__ = [
    "CSV_CHUNK_CELLS",
    "DEFAULT_CHUNK_ROWS",
    "FORMATS",
    "PARQUET_READ_BUDGET",
    "BadRow",
    "Column",
    "InputError",
    "RecordChunk",
    "decompressed",
    "infer_format",
    "iter_chunks",
    "open_binary",
]

FORMATS = ("csv", "jsonl", "parquet")
DEFAULT_CHUNK_ROWS = 16_384
# A CSV cell costs ~60 bytes as a Python string: cap a chunk of a wide file at this many.
CSV_CHUNK_CELLS = 500_000
# Parquet read buffers, shared by the file's columns.
PARQUET_READ_BUDGET = 32 << 20

_EXTENSIONS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

Column = Sequence[Any] | npt.NDArray[Any]


class InputError(Exception):
    """An input that cannot be read at all: missing, unreadable, or in the wrong format.

    >>> try:
    ...     list(iter_chunks(["no/such/file.csv"]))
    ... except InputError as error:
    ...     print(error)
    no/such/file.csv: no such file
    """


@dataclass(frozen=True, slots=True)
class BadRow:
    """A malformed record: the file, its 1-based line (row for Parquet) and what is wrong.

    >>> print(BadRow("train.csv", 17, "expected 5 fields, got 4"))
    train.csv:17: expected 5 fields, got 4
    """

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class RecordChunk:
    """Up to ``chunk_rows`` well-formed records of one file, one column per field.

    ``columns[name]`` has one value per record; ``lines[i]`` is the 1-based line of record
    ``i``; ``present[name]`` (only for fields absent from some records) says where the
    field appeared; ``text`` is True when every value is a ``str`` read from CSV.
    ``bad_rows`` are the malformed records met while reading this chunk (not in
    ``columns``); ``bytes_read`` is how far into the file (on disk) reading has got.

    >>> import numpy as np
    >>> chunk = RecordChunk(path="t.csv", lines=np.array([2, 4]), text=True,
    ...                     columns={"x": ("1", "3")}, bad_rows=(BadRow("t.csv", 3, "bad"),))
    >>> chunk.n_rows, len(chunk.bad_rows)
    (2, 1)
    """

    path: str
    lines: npt.NDArray[np.int64]
    columns: dict[str, Column]
    text: bool
    present: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)
    bad_rows: tuple[BadRow, ...] = ()
    bytes_read: int = 0

    @property
    def n_rows(self) -> int:
        """Number of well-formed records in the chunk."""
        return len(self.lines)


def infer_format(path: str | Path) -> str:
    """The format of ``path`` from its extension (``.gz`` is looked through).

    >>> infer_format("train.csv.gz"), infer_format("events.ndjson"), infer_format("t.parquet")
    ('csv', 'jsonl', 'parquet')
    """
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[: -len(".gz")]
    fmt = _EXTENSIONS.get(Path(name).suffix)
    if fmt is None:
        raise InputError(
            f"{path}: cannot tell the format from the extension; pass --format csv|jsonl|parquet"
        )
    return fmt


def iter_chunks(
    paths: Iterable[str | Path],
    fmt: str | None = None,
    features_path: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[RecordChunk]:
    """Yield the records of every file in ``paths``, in order, as ``RecordChunk`` objects.

    ``fmt`` forces one format for all files (else each file's extension decides);
    ``features_path`` (dotted, e.g. ``"payload.features"``) names the object inside each JSON
    record, or the struct column of a Parquet file, that holds the features.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp, "t.jsonl")
    ...     _ = path.write_text('{"x": 1, "c": "a"}\\n{"x": 2}\\nnot json\\n')
    ...     chunk = next(iter_chunks([path]))
    >>> chunk.columns["x"], chunk.columns["c"], chunk.lines.tolist()
    ([1, 2], ['a', None], [1, 2])
    >>> chunk.present["c"].tolist(), chunk.bad_rows[0].line
    ([True, False], 3)
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    for path in paths:
        file_fmt = fmt or infer_format(path)
        if file_fmt == "csv":
            yield from _csv_chunks(str(path), chunk_rows)
        elif file_fmt == "jsonl":
            yield from _jsonl_chunks(str(path), features_path, chunk_rows)
        else:
            yield from _parquet_chunks(str(path), features_path, chunk_rows)


def open_binary(path: str) -> BinaryIO:
    """``path`` opened for reading bytes; a failure is an ``InputError`` saying why."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot open ({error.strerror})") from None


def decompressed(raw: BinaryIO, path: str) -> BinaryIO:
    """The bytes of ``raw``, gunzipped when ``path`` ends in ``.gz``."""
    if path.lower().endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw


def _unreadable(path: str, error: Exception, what: str) -> InputError:
    if isinstance(error, UnicodeDecodeError):
        return InputError(f"{path}: not UTF-8 text ({error.reason}); is it really {what}?")
    return InputError(f"{path}: unreadable compressed data ({error}); is the file complete?")


def _csv_chunks(path: str, chunk_rows: int) -> Iterator[RecordChunk]:
    with open_binary(path) as raw:
        text = io.TextIOWrapper(decompressed(raw, path), encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        try:
            yield from _csv_rows(path, reader, raw, chunk_rows)
        except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise _unreadable(path, error, "CSV") from None


def _records(reader: Any, errors: list[tuple[int, str]]) -> Iterator[list[str] | None]:
    """The reader's rows; a row the csv module rejects is None, and ``errors`` gets the line
    the reader stopped at with the message."""
    while True:
        try:
            yield from reader
            return
        except csv.Error as error:
            errors.append((reader.line_num, str(error)))
            yield None


def _csv_rows(path: str, reader: Any, raw: BinaryIO, chunk_rows: int) -> Iterator[RecordChunk]:
    header = next(reader, None)
    if header is None:
        return
    duplicated = sorted(name for name, n in Counter(header).items() if n > 1)
    if duplicated or "" in header:
        problem = f"duplicated column {duplicated[0]!r}" if duplicated else "an unnamed column"
        raise InputError(f"{path}:1: the header has {problem}; every column needs a unique name")
    width, last_line = len(header), reader.line_num
    chunk_rows = min(chunk_rows, max(1, CSV_CHUNK_CELLS // width))
    errors: list[tuple[int, str]] = []
    records = _records(reader, errors)
    while True:
        seen_errors = len(errors)
        block = list(islice(records, chunk_rows))
        if not block:
            return
        block_errors = errors[seen_errors:]
        lines = _start_lines(block, last_line, reader.line_num, [at for at, _ in block_errors])
        last_line = reader.line_num
        if block_errors:
            widths = np.array([-1 if row is None else len(row) for row in block], dtype=np.int64)
        else:
            rows_only = cast("list[list[str]]", block)
            widths = np.fromiter(map(len, rows_only), dtype=np.int64, count=len(block))
        good = widths == width
        messages = iter([message for _, message in block_errors])
        bad = [
            BadRow(
                path,
                int(lines[i]),
                f"CSV syntax: {next(messages)}"
                if widths[i] < 0
                else f"expected {width} fields, got {widths[i]}",
            )
            for i in np.flatnonzero(~good & (widths != 0)).tolist()
        ]
        rows = block if good.all() else list(compress(block, good))
        # A 2-D object array slices into columns far faster than zip(*rows) transposes.
        table = np.array(rows, dtype=object).reshape(len(rows), width)
        yield RecordChunk(
            path=path,
            lines=lines[good],
            columns={name: table[:, i] for i, name in enumerate(header)},
            text=True,
            bad_rows=tuple(bad),
            bytes_read=raw.tell(),
        )


def _start_lines(
    block: list[list[str] | None], last_line: int, now_line: int, errors: list[int]
) -> npt.NDArray[np.int64]:
    """The 1-based first line of each record of ``block``."""
    if now_line - last_line == len(block):  # one line per record: nothing to count
        return np.arange(last_line + 1, now_line + 1, dtype=np.int64)
    lines = np.empty(len(block), dtype=np.int64)
    line, stopped_at = last_line, iter(errors)
    for i, row in enumerate(block):
        lines[i] = line + 1
        if row is None:
            line = next(stopped_at)
        else:
            line += 1 + sum(field.count("\n") for field in row)
    return lines


def _jsonl_chunks(path: str, features_path: str | None, chunk_rows: int) -> Iterator[RecordChunk]:
    decoder = msgspec.json.Decoder()
    parts = features_path.split(".") if features_path else []
    with open_binary(path) as raw:
        stream = decompressed(raw, path)
        line_no = 0
        try:
            while True:
                block = list(islice(stream, chunk_rows))
                if not block:
                    return
                if line_no == 0 and block[0].lstrip().startswith(b"["):
                    raise InputError(
                        f"{path}:1: a JSON array, not JSON Lines; write one object per line"
                    )
                yield _jsonl_chunk(path, block, line_no, decoder, parts, raw.tell())
                line_no += len(block)
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise _unreadable(path, error, "JSON Lines") from None


def _jsonl_chunk(
    path: str,
    block: list[bytes],
    first_line: int,
    decoder: msgspec.json.Decoder[Any],
    parts: list[str],
    bytes_read: int,
) -> RecordChunk:
    numbered = [(first_line + i + 1, text) for i, text in enumerate(block) if text.strip()]
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    bad: list[BadRow] = []
    for line, text in numbered:
        try:
            value = decoder.decode(text)
        except msgspec.DecodeError as error:
            bad.append(BadRow(path, line, f"invalid JSON: {error}"))
            continue
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, dict):
            records.append(value)
            lines.append(line)
        elif parts:
            bad.append(BadRow(path, line, f"no JSON object at {'.'.join(parts)!r}"))
        else:
            bad.append(BadRow(path, line, "not a JSON object"))
    columns, present = _columns_of(records)
    return RecordChunk(
        path=path,
        lines=np.asarray(lines, dtype=np.int64),
        columns=columns,
        text=False,
        present=present,
        bad_rows=tuple(bad),
        bytes_read=bytes_read,
    )


def _columns_of(
    records: list[dict[str, Any]],
) -> tuple[dict[str, Column], dict[str, npt.NDArray[np.bool_]]]:
    # Records of one source nearly always share their key set: count key sets per record
    # (cheap) rather than keys per value.
    key_sets = Counter(tuple(record) for record in records)
    if len(key_sets) == 1:
        keys = next(iter(key_sets))
        try:
            table = np.array([tuple(r.values()) for r in records], dtype=object)
        except ValueError:
            table = np.empty(0)
        if table.shape == (len(records), len(keys)):
            return {key: table[:, i] for i, key in enumerate(keys)}, {}
    seen: Counter[str] = Counter()
    for keys, n in key_sets.items():
        for key in keys:
            seen[key] += n
    columns: dict[str, Column] = {key: [r.get(key) for r in records] for key in seen}
    present = {
        key: np.fromiter((key in r for r in records), dtype=np.bool_, count=len(records))
        for key, n in seen.items()
        if n < len(records)
    }
    return columns, present


def _parquet_chunks(path: str, features_path: str | None, chunk_rows: int) -> Iterator[RecordChunk]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            f"{path}: reading Parquet needs pyarrow: pip install 'driftwarden[parquet]'"
        ) from None
    open_binary(path).close()
    parts = features_path.split(".") if features_path else []
    try:
        metadata = pq.read_metadata(path)
        schema: Any = metadata.schema.to_arrow_schema()
        for part in parts:
            if schema.get_field_index(part) < 0 or not pa.types.is_struct(schema.field(part).type):
                raise InputError(f"{path}: no struct column {features_path!r}")
            schema = schema.field(part).type
        # Not pre-buffered and with a small read buffer per column, pyarrow reads a row group
        # page by page; pre-buffered, it would hold a whole row group (often 1 M rows).
        share = PARQUET_READ_BUDGET // max(1, metadata.num_columns)
        buffer = min(1 << 20, max(1 << 16, share))
        parquet = pq.ParquetFile(path, metadata=metadata, buffer_size=buffer, pre_buffer=False)
        size, total_rows, first_row = os.path.getsize(path), metadata.num_rows, 0
        columns = [features_path] if features_path else None
        for batch in parquet.iter_batches(
            batch_size=chunk_rows, columns=columns, use_threads=False
        ):
            first_row += batch.num_rows
            bytes_read = size * first_row // max(total_rows, 1)
            yield _parquet_chunk(path, batch, parts, first_row - batch.num_rows, bytes_read)
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{path}: not a readable Parquet file ({error})") from None


def _parquet_chunk(
    path: str, batch: Any, parts: list[str], first_row: int, bytes_read: int
) -> RecordChunk:
    """One record batch as a chunk; rows whose features struct is null are bad rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names, arrays = list(batch.schema.names), list(batch.columns)
    lines = np.arange(first_row + 1, first_row + batch.num_rows + 1, dtype=np.int64)
    bad: tuple[BadRow, ...] = ()
    for part in parts:
        struct = arrays[names.index(part)]
        names = [struct.type.field(i).name for i in range(struct.type.num_fields)]
        arrays = list(struct.flatten())  # a child is null where its parent is
    if parts and struct.null_count:
        valid = struct.is_valid().to_numpy(zero_copy_only=False)
        where = ".".join(parts)
        bad = tuple(
            BadRow(path, int(line), f"null at {where!r}, not a struct") for line in lines[~valid]
        )
        arrays = [array.filter(pa.array(valid)) for array in arrays]
        lines = lines[valid]
    columns: dict[str, Column] = {}
    for name, array in zip(names, arrays, strict=True):
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        kind = array.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            # Unsafe: an integer beyond 2**53 rounds to the nearest float64, as JSON's does.
            numbers = pc.cast(array, pa.float64(), safe=False)
            columns[name] = numbers.to_numpy(zero_copy_only=False)
        else:
            columns[name] = array.to_pylist()
    return RecordChunk(
        path=path, lines=lines, columns=columns, text=False, bad_rows=bad, bytes_read=bytes_read
    )
