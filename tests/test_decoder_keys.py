"""Any JSON object key is a feature name: decoded as the dict path decodes it, on every path.

Issue 10: a key holding a character JSON writes escaped (``"``, ``\\``, a control character)
made the struct fast path declare a field msgspec refuses, and the whole service crashed on
that record at every restart.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftwarden.detectors.feature_batch import SourcePositions
from driftwarden.stream.decoding.decoder import Decoder, DecodeResult
from driftwarden.stream.decoding.scanner.json_scan import RecordScanner
from driftwarden.stream.replay import RecordChunk, RowEncoder
from tests.test_decoder import as_lists, same_results

# Names JSON can only write with an escape: msgspec refuses each as a struct field name.
ESCAPED_NAMES = ["a\x01b", 'a"b', "a\\b", "a\tb", "a\\", "\x00", '"']

ESCAPED_KEYS = [
    pytest.param(rb'{"a\u0001b": 1.0}', "a\x01b", 1.0, id="control-character"),
    pytest.param(rb'{"a\"b": 1}', 'a"b', 1.0, id="quote"),
    pytest.param(rb'{"a\\b": 2}', "a\\b", 2.0, id="backslash"),
    pytest.param(rb'{"a\tb": 3}', "a\tb", 3.0, id="tab"),
]


def decode(decoder: Decoder, payloads: Sequence[bytes | None]) -> DecodeResult:
    return decoder.decode(payloads, SourcePositions.sequential("t", len(payloads)))


def decode_on_both_paths(
    payloads: Sequence[bytes | None], times: int = 3, **options: Any
) -> DecodeResult:
    """Decode ``payloads`` ``times`` times with the fast path (the first teaches it the
    fields, the next take it) and with the dict path alone; assert each pair is equal."""
    fast, slow = (Decoder(fast_path=on, **options) for on in (True, False))
    for _ in range(times):
        result = decode(fast, payloads)
        same_results(result, decode(slow, payloads))
    return result


@pytest.mark.parametrize(("payload", "name", "value"), ESCAPED_KEYS)
def test_a_record_with_an_escaped_key_is_tracked_under_its_unescaped_name(
    payload: bytes, name: str, value: float
) -> None:
    result = decode_on_both_paths([payload, b'{"x": 1.5}', payload])
    assert result.batch is not None and not result.rejected
    assert as_lists(result.batch) == {name: [value, None, value], "x": [None, 1.5, None]}


@pytest.mark.parametrize(("payload", "name", "value"), ESCAPED_KEYS)
def test_an_escaped_key_in_a_batch_of_known_fields_leaves_the_others_as_decoded(
    payload: bytes, name: str, value: float
) -> None:
    plain = [b'{"x": %d, "c": "k%d"}' % (i, i % 2) for i in range(5)]
    fast, slow = (Decoder(fast_path=on) for on in (True, False))
    for batch in (plain, plain, [*plain[:2], payload, *plain[2:]], plain):
        result = decode(fast, batch)
        same_results(result, decode(slow, batch))
    mixed = decode(fast, [*plain[:2], payload, *plain[2:]])
    assert mixed.batch is not None
    assert as_lists(mixed.batch)[name] == [None, None, value, None, None, None]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("envelope.features", id="plain-path"),
        pytest.param('env"el\\ope.fe\tatures', id="escaped-path"),  # no struct can hold it
    ],
)
def test_escaped_keys_in_the_envelope_and_the_features_decode_as_the_dict_path(path: str) -> None:
    outer, inner = path.split(".")
    # Plain names beside the escaped ones, so that the fast path has fields to declare.
    records = [
        {
            'id\\"': i,
            "id": i,
            outer: {
                "meta\x1f": True,
                "meta": 1,
                inner: {"x\n": i + 0.5, 'c"': f"k{i % 2}", "n": i},
            },
        }
        for i in range(4)
    ]
    payloads = [json.dumps(record).encode() for record in records]
    result = decode_on_both_paths(payloads, features_path=path)
    assert result.batch is not None and not result.rejected
    assert as_lists(result.batch) == {
        "n": [0.0, 1.0, 2.0, 3.0],
        "x\n": [0.5, 1.5, 2.5, 3.5],
        'c"': ["k0", "k1", "k0", "k1"],
    }


def test_a_malformed_record_spelling_a_known_names_backslash_raw_is_rejected() -> None:
    # '{"a\\": 1}' holds the key 'a\'; '{"a\": 1}' is not JSON (its string never ends), though
    # its bytes between the first quotes are those of the name.
    valid, malformed = b'{"a\\\\": 1, "x": 2}', b'{"a\\": 1, "x": 2}'
    result = decode_on_both_paths([valid, malformed, valid], kinds={"a\\": "numeric"})
    assert [(r.index, r.reason) for r in result.rejected] == [(1, "malformed_json")]
    assert result.batch is not None
    assert as_lists(result.batch) == {"a\\": [1.0, 1.0], "x": [2.0, 2.0]}


# Every key JSON can write, each spelled in one of the ways JSON allows.
every_character = st.characters(codec=None, exclude_categories=[]) | st.characters(
    categories=["Cs"]  # lone surrogates: JSON can write them (escaped); msgspec rejects them
)
keys = st.one_of(st.text(every_character, max_size=6), st.sampled_from([*ESCAPED_NAMES, ""]))


def spelled(record: dict[str, Any], spelling: str) -> bytes:
    """``record`` as JSON: non-ASCII raw (UTF-8) or ``\\u`` escaped, or every character of
    every key ``\\u`` escaped."""
    if spelling == "raw":
        return json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass")
    if spelling == "ascii":
        return json.dumps(record).encode()
    return _escaped(record).encode()


def _escaped(value: Any) -> str:
    if not isinstance(value, dict):
        return json.dumps(value)
    items = (
        '"' + "".join(f"\\u{unit:04x}" for unit in _utf16_units(key)) + '": ' + _escaped(item)
        for key, item in value.items()
    )
    return "{" + ", ".join(items) + "}"


def _utf16_units(text: str) -> list[int]:
    encoded = text.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(encoded[i : i + 2], "big") for i in range(0, len(encoded), 2)]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(keys, min_size=1, max_size=4, unique=True),
    st.lists(
        st.tuples(st.floats(-1e6, 1e6), st.sampled_from(["FR", "ü", 'a\\"b'])),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["raw", "ascii", "escaped"]),
    st.sampled_from([None, "f"]),
)
def test_any_key_decodes_as_the_dict_path_decodes_it(
    names: list[str],
    rows: list[tuple[float, str]],
    spelling: str,
    features_path: str | None,
) -> None:
    # Even keys numeric, odd ones categorical; each record lacks one key, in turn.
    records = [
        {
            name: (number if k % 2 == 0 else label)
            for k, name in enumerate(names)
            if k != r % (len(names) + 1)
        }
        for r, (number, label) in enumerate(rows)
    ]
    envelope_key = names[-1] if names[-1] != "f" else "id"  # any key, at the envelope too
    payloads = [
        spelled({envelope_key: r, "f": record} if features_path else record, spelling)
        for r, record in enumerate(records)
    ]
    result = decode_on_both_paths(payloads, times=2, features_path=features_path)
    if any(_has_lone_surrogate(name) for name in names):
        return  # not JSON msgspec reads: both paths reject it alike
    assert not result.rejected and result.batch is not None
    columns = as_lists(result.batch)
    for k, name in enumerate(names):
        expected = [record.get(name) for record in records]
        if all(value is None for value in expected):
            assert name not in columns
        elif k % 2 == 0:
            assert columns[name] == [None if v is None else float(v) for v in expected]
        else:
            assert columns[name] == expected


def _has_lone_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@pytest.mark.parametrize("name", ESCAPED_NAMES)
def test_the_scanner_refuses_each_record_holding_a_name_json_escapes(name: str) -> None:
    scanner = RecordScanner((), [(name, "numeric"), ("x", "numeric")], ())
    escaped = json.dumps({name: 1, "x": 2}).encode()  # JSON
    raw = b'{"' + name.encode() + b'": 1, "x": 2}'  # the name's bytes unescaped: not JSON
    plain = b'{"x": 3}'
    for refused in (escaped, raw):
        found, taken = scanner.scan([plain, plain, refused, plain])
        assert taken == 2
        assert found["x"].floats is not None and found["x"].floats.tolist() == [3.0, 3.0]
        assert name not in found


def test_a_known_name_spelled_with_escapes_is_refused_by_the_scanner_and_decoded_alike() -> None:
    scanner = RecordScanner((), [("x", "numeric")], ())
    assert scanner.scan([b'{"\\u0078": 1}'])[1] == 0
    result = decode_on_both_paths([b'{"x": 1}', b'{"\\u0078": 2}', b'{"x": 3}'])
    assert result.batch is not None
    assert result.batch.numeric["x"].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("name", ESCAPED_NAMES)
def test_replay_encodes_a_column_named_with_characters_json_escapes(name: str) -> None:
    chunk = RecordChunk(
        path="p.csv",
        lines=np.array([2, 3]),
        text=True,
        columns={
            name: np.array(["1.5", ""], dtype=object),
            "c": np.array(["x", "y"], dtype=object),
        },
    )
    for path in (None, "features"):
        payloads = RowEncoder({}, path).encode(chunk)
        records = [json.loads(payload) for payload in payloads]
        rows = [record[path] for record in records] if path else records
        assert rows == [{name: 1.5, "c": "x"}, {name: None, "c": "y"}]
        result = decode_on_both_paths(payloads, features_path=path)
        assert result.batch is not None
        assert result.batch.numeric[name].tolist()[0] == 1.5
        assert math.isnan(result.batch.numeric[name].tolist()[1])
