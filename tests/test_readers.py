"""Chunked readers: columns, line numbers, malformed rows and unreadable inputs."""

from __future__ import annotations

import gzip
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftwarden.stream.profiling.readers import (
    BadRow,
    InputError,
    RecordChunk,
    infer_format,
    iter_chunks,
)


def _all(path: Path, **kwargs: object) -> tuple[dict[str, list[object]], list[int], list[BadRow]]:
    """Concatenate every chunk of ``path``: columns, line numbers, bad rows."""
    columns: dict[str, list[object]] = {}
    lines: list[int] = []
    bad: list[BadRow] = []
    for chunk in iter_chunks([path], **kwargs):  # type: ignore[arg-type]
        for name, values in chunk.columns.items():
            columns.setdefault(name, []).extend(list(values))
        lines.extend(chunk.lines.tolist())
        bad.extend(chunk.bad_rows)
    return columns, lines, bad


def test_csv_rows_with_the_wrong_field_count_are_bad_rows_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,c\n1,a\n2\n\n3,b,extra\n4,d\n")
    columns, lines, bad = _all(path)
    assert columns == {"x": ["1", "4"], "c": ["a", "d"]}
    assert lines == [2, 6]
    assert [(row.line, row.reason) for row in bad] == [
        (3, "expected 2 fields, got 1"),
        (5, "expected 2 fields, got 3"),
    ]


def test_csv_line_numbers_count_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('x,note\n1,"two\nlines"\n2,plain\n3,"a\nb\nc"\n4,x\n')
    columns, lines, _ = _all(path, chunk_rows=2)
    assert lines == [2, 4, 5, 8]
    assert columns["note"] == ["two\nlines", "plain", "a\nb\nc", "x"]


def test_gzip_csv_is_read_through(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as out:
        out.write("x\n" + "".join(f"{i}\n" for i in range(1000)))
    columns, lines, bad = _all(path, chunk_rows=300)
    assert columns["x"] == [str(i) for i in range(1000)] and lines[-1] == 1001 and not bad


@settings(max_examples=25, deadline=None)
@given(
    n_rows=st.integers(0, 40),
    chunk_rows=st.integers(1, 50),
    broken=st.sets(st.integers(0, 39), max_size=5),
)
def test_csv_chunking_does_not_change_rows_lines_or_bad_rows(
    n_rows: int, chunk_rows: int, broken: set[int]
) -> None:
    text = "a,b\n" + "".join(
        f"{i}\n" if i in broken else f"{i},{'x' * (i % 3)}\n" for i in range(n_rows)
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "t.csv")
        path.write_text(text)
        whole = _all(path, chunk_rows=10_000)
        split = _all(path, chunk_rows=chunk_rows)
    assert split == whole
    assert [row.line for row in whole[2]] == sorted(i + 2 for i in broken if i < n_rows)


def test_jsonl_reports_invalid_lines_and_counts_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"x": 1, "c": "a"}\n\n{"x": 2\n[1, 2]\n{"x": null, "c": "b"}\n')
    columns, lines, bad = _all(path)
    assert columns == {"x": [1, None], "c": ["a", "b"]}
    assert lines == [1, 5]
    assert [row.line for row in bad] == [3, 4]
    assert bad[0].reason.startswith("invalid JSON") and bad[1].reason == "not a JSON object"


def test_jsonl_fields_absent_from_some_records_have_a_presence_mask(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"x": 1}\n{"x": 2, "y": null}\n{"y": "b"}\n')
    (chunk,) = iter_chunks([path])
    assert chunk.present["x"].tolist() == [True, True, False]
    assert chunk.present["y"].tolist() == [False, True, True]
    assert list(chunk.columns["y"]) == [None, None, "b"]


def test_features_path_selects_the_nested_object(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"id": 1, "payload": {"features": {"x": 1.5}}}\n'
        '{"id": 2, "payload": {}}\n'
        '{"id": 3, "payload": {"features": {"x": 2.5}}}\n'
    )
    columns, lines, bad = _all(path, features_path="payload.features")
    assert columns == {"x": [1.5, 2.5]} and lines == [1, 3]
    assert bad == [BadRow(str(path), 2, "no JSON object at 'payload.features'")]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "no such file"),
        ("data.txt", b"x\n1\n", "cannot tell the format"),
        ("latin1.csv", "x\ncaf\xe9\n".encode("latin-1"), "not UTF-8 text"),
        ("broken.csv.gz", b"\x1f\x8b\x08\x00garbage", "unreadable compressed data"),
        ("array.json", b'[{"x": 1}]\n', "a JSON array, not JSON Lines"),
        ("dup.csv", b"x,x\n1,2\n", "duplicated column 'x'"),
    ],
)
def test_unreadable_inputs_raise_one_line_input_error(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as raised:
        list(iter_chunks([path]))
    text = str(raised.value)
    assert message in text and str(path) in text and "\n" not in text


def test_infer_format_names_the_flag_when_the_extension_is_unknown() -> None:
    assert infer_format("a.NDJSON.gz") == "jsonl"
    with pytest.raises(InputError, match="--format"):
        infer_format("a.tsv")


def test_parquet_without_pyarrow_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(InputError, match=r"pip install 'driftwarden\[parquet\]'"):
        list(iter_chunks([path]))


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow not installed")
def test_parquet_numeric_columns_arrive_as_float_arrays(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    table = pa.table({"x": pa.array([1, None, 3]), "c": pa.array(["a", "b", None])})
    pq.write_table(table, path)
    (chunk,) = iter_chunks([path])
    assert isinstance(chunk, RecordChunk)
    np.testing.assert_array_equal(chunk.columns["x"], [1.0, np.nan, 3.0])
    assert list(chunk.columns["c"]) == ["a", "b", None]
    assert chunk.lines.tolist() == [1, 2, 3]
    assert chunk.present == {}  # a null is a null: a Parquet row has every column


needs_pyarrow = pytest.mark.skipif(
    importlib.util.find_spec("pyarrow") is None, reason="pyarrow not installed"
)


@needs_pyarrow
def test_parquet_is_read_in_record_batches_that_straddle_row_groups(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": np.arange(30.0)}), path, row_group_size=7)
    chunks = list(iter_chunks([path], chunk_rows=4))
    assert [chunk.n_rows for chunk in chunks] == [4] * 7 + [2]
    assert np.concatenate([chunk.columns["x"] for chunk in chunks]).tolist() == list(range(30))
    assert np.concatenate([chunk.lines for chunk in chunks]).tolist() == list(range(1, 31))
    assert chunks[-1].bytes_read == path.stat().st_size


@needs_pyarrow
def test_parquet_reading_holds_page_buffers_not_a_whole_row_group(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    n = 1_000_000  # 16 MB of doubles in one uncompressed row group
    table = pa.table({"x": np.arange(n, dtype=np.float64), "y": np.arange(n) * -0.5})
    pq.write_table(table, path, row_group_size=n, compression="none")
    del table
    before, held, rows = pa.total_allocated_bytes(), 0, 0
    for chunk in iter_chunks([path], chunk_rows=1000):
        held = max(held, pa.total_allocated_bytes() - before)
        rows += chunk.n_rows
    assert rows == n
    # Two columns: 1 MiB read buffer and about one 1 MiB page each, whatever the row group.
    assert held < path.stat().st_size // 2


@needs_pyarrow
def test_parquet_features_path_reads_the_struct_and_null_structs_are_bad_rows(
    tmp_path: Path,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    features = [{"x": 1.5, "c": "a"}, None, {"x": None, "c": None}]
    payloads = [{"features": features[0]}, {"features": features[1]}, None]
    records = [{"id": i, "payload": payload} for i, payload in enumerate(payloads)]
    records.append({"id": 3, "payload": {"features": {"x": 4.0, "c": "d"}}})
    pq.write_table(pa.Table.from_pylist(records), path)
    columns, lines, bad = _all(path, features_path="payload.features")
    assert lines == [1, 4]
    assert columns["c"] == ["a", "d"] and columns["x"] == [1.5, 4.0] and "id" not in columns
    assert [(row.line, row.reason) for row in bad] == [
        (2, "null at 'payload.features', not a struct"),
        (3, "null at 'payload.features', not a struct"),
    ]
    with pytest.raises(InputError, match=r"no struct column 'payload\.id'"):
        list(iter_chunks([path], features_path="payload.id"))


@needs_pyarrow
def test_parquet_dictionary_and_wide_integer_columns_read_as_json_numbers(
    tmp_path: Path,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    big = 2**53 + 1  # not a float64: JSON decoding rounds it, so does the reader
    table = pa.table({
        "id": pa.array([big, -big, None], pa.int64()),
        "grade": pa.array([2.5, None, 2.5]).dictionary_encode(),
        "city": pa.array(["Lyon", "Oslo", None]).dictionary_encode(),
    })  # fmt: skip
    pq.write_table(table, path)
    (chunk,) = iter_chunks([path])
    np.testing.assert_array_equal(chunk.columns["id"], [float(big), float(-big), np.nan])
    np.testing.assert_array_equal(chunk.columns["grade"], [2.5, np.nan, 2.5])
    assert list(chunk.columns["city"]) == ["Lyon", "Oslo", None]
