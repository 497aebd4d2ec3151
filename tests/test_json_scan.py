"""The compiled record scanner: same columns as the struct and dict paths, or a refusal."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from driftwarden.detectors.feature_batch import SourcePositions
from driftwarden.stream.decoding.decoder import Decoder, DecodeResult
from driftwarden.stream.decoding.scanner.json_scan import RecordScanner
from tests.test_decoder import same_results

KINDS = {"x": "numeric", "n": "numeric", "c": "categorical", "d": "categorical"}


def decoders(features_path: str | None = "features") -> tuple[Decoder, Decoder]:
    fast, slow = (
        Decoder(kinds=KINDS, features_path=features_path, ignore=["id"], fast_path=on)  # type: ignore[arg-type]
        for on in (True, False)
    )
    return fast, slow


def decode(decoder: Decoder, payloads: Sequence[bytes | None]) -> DecodeResult:
    return decoder.decode(payloads, SourcePositions.sequential("t", len(payloads)))


LEARN = b'{"features": {"x": 1, "n": 2, "c": "a", "d": "b", "id": 3}}'


def scanned(
    decoder: Decoder, payloads: Sequence[bytes | None], learn: bytes = LEARN
) -> tuple[DecodeResult, int]:
    """Decode ``payloads`` once the fields are known; also how many the scanner took."""
    decode(decoder, [learn])
    taken: list[int] = []
    original = RecordScanner.scan

    def spy(self: RecordScanner, batch: Sequence[bytes]) -> Any:
        found = original(self, batch)
        taken.append(found[1])
        return found

    with mock.patch.object(RecordScanner, "scan", spy):
        result = decode(decoder, payloads)
    return result, sum(taken)


def same_bits(left: DecodeResult, right: DecodeResult) -> None:
    """Equal results, and equal float bits (so -0.0 and 0.0 differ)."""
    same_results(left, right)
    if left.batch is not None and right.batch is not None:
        for name, column in left.batch.numeric.items():
            other = right.batch.numeric[name]
            assert np.array_equal(column, other, equal_nan=True)
            assert np.signbit(column).tolist() == np.signbit(other).tolist()


def test_well_formed_records_are_scanned_into_the_same_columns() -> None:
    payloads = [
        b'{"id": "r1", "ts": 1.5e3, "ok": true, "features": {"x": 12.5, "c": "FR", "n": 3}}',
        b' { "features" : { "n" : -0 , "x" : -0.0, "c" : null , "d" : "S\xc3\xa3o" } ,'
        b' "v": null }\n',
        b'{"features": {"x": 1E-5, "n": 123456789012345678, "id": "k"}}',
        b'{"features": {}}',
    ]
    fast, slow = decoders()
    result, taken = scanned(fast, payloads)
    assert taken == len(payloads)
    same_bits(result, decode(slow, payloads))
    assert result.batch is not None
    assert result.batch.numeric["n"].tolist()[:3] == [3.0, 0.0, 123456789012345678.0]
    assert result.batch.categorical["d"].tolist() == [None, "São", None, None]


def test_records_outside_the_subset_are_refused_and_decoded_alike() -> None:
    deviants = [
        b'{"features": {"x": "12"}}',  # a wrong type
        b'{"features": {"c": 7}}',  # a number as a label
        b'{"features": {"c": "a\\"b"}}',  # an escape
        b'{"features": {"new": 1}}',  # an unknown field
        b'{"features": {"x": 1, "x": 2}}',  # a duplicate key
        b'{"features": {"x": NaN}}',
        b'{"features": {"x": 1e999}}',
        b'{"features": {"x": 01}}',
        b'{"features": {"x": 1.}}',
        b'{"features": {"x": 12345678901234567890123}}',  # more than 19 digits
        b'{"meta": {"a": 1}, "features": {"x": 1}}',  # an object outside the path
        b'{"features": {"x": 1}} {}',
        b'{"features": {"x": 1},}',
        b'{"features": {"d": "\xff"}}',  # invalid UTF-8
        b'{"features": [1]}',
        b'{"features": {"x": 1}, "features": {"x": 2}}',
        b'{"x": 1}',
    ]
    for payload in deviants:
        fast, slow = decoders()
        result, taken = scanned(fast, [b'{"features": {"x": 5}}', payload])
        # The first record only; invalid UTF-8 in a label refuses the whole batch.
        assert taken == (0 if b"\xff" in payload else 1), payload
        same_bits(result, decode(slow, [b'{"features": {"x": 5}}', payload]))


def test_features_at_the_top_level_are_scanned() -> None:
    fast, slow = decoders(None)
    payloads = [b'{"x": 2, "c": "b", "id": "q"}', b'{"c": null}']
    result, taken = scanned(fast, payloads, learn=b'{"x": 1, "c": "a", "id": 3}')
    assert taken == len(payloads)
    same_bits(result, decode(slow, payloads))


numbers = st.one_of(
    st.integers(-(10**18), 10**18),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda v: round(v, 2)),
)
labels = st.text(alphabet=st.characters(codec="utf-8", exclude_characters='"\\'), max_size=6)
features = st.fixed_dictionaries(
    {},
    optional={
        "x": st.none() | numbers,
        "n": st.none() | numbers,
        "c": st.none() | labels,
        "d": st.none() | st.sampled_from(["a", "b", "ü"]),
        "id": st.none() | st.booleans() | numbers | st.sampled_from(["k1", "k2"]),
    },
)
spacing = st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")])


def encode(record: dict[str, Any], separators: tuple[str, str], envelope: dict[str, Any]) -> bytes:
    payload = {**envelope, "features": record}
    return json.dumps(payload, separators=separators, ensure_ascii=False).encode()


def scannable(value: Any, envelope: bool) -> bool:
    """Whether the scanner handles this value (see the json_scan module docstring)."""
    if isinstance(value, float):
        return value == 0.0 or abs(value) >= SMALLEST_NORMAL
    if isinstance(value, str):
        plain = not any(ch in '"\\' or ord(ch) < 32 for ch in value)
        return plain and (value.isascii() or not envelope)
    return True


SMALLEST_NORMAL = 2.2250738585072014e-308


@settings(max_examples=200, deadline=None)
@given(
    st.lists(features, min_size=1, max_size=25),
    spacing,
    st.fixed_dictionaries({}, optional={"id": st.text(max_size=3), "v": numbers}),
)
def test_any_batch_in_the_subset_is_scanned_as_the_slow_path_decodes_it(
    records: list[dict[str, Any]], separators: tuple[str, str], envelope: dict[str, Any]
) -> None:
    payloads = [encode(record, separators, envelope) for record in records]
    fast, slow = decoders()
    result, taken = scanned(fast, payloads)
    same_bits(result, decode(slow, payloads))
    in_subset = all(scannable(v, envelope=True) for v in envelope.values()) and all(
        scannable(v, envelope=name == "id") for r in records for name, v in r.items()
    )
    assert (taken == len(payloads)) == in_subset


@settings(max_examples=150, deadline=None)
@given(st.lists(features, min_size=1, max_size=10), st.binary(max_size=8), st.integers(0, 9))
def test_a_corrupted_batch_is_decoded_as_the_slow_path_decodes_it(
    records: list[dict[str, Any]], junk: bytes, at: int
) -> None:
    payloads = [encode(record, (",", ":"), {}) for record in records]
    victim = at % len(payloads)
    cut = len(payloads[victim]) * at // 10
    payloads[victim] = payloads[victim][:cut] + junk + payloads[victim][cut:]
    fast, slow = decoders()
    result, taken = scanned(fast, payloads)
    same_bits(result, decode(slow, payloads))
    before = [(name, v) for record in records[:victim] for name, v in record.items()]
    try:
        payloads[victim].decode()
    except UnicodeDecodeError:
        return  # invalid UTF-8 (in a label, maybe): the whole batch may be refused
    if all(scannable(v, envelope=name == "id") for name, v in before):
        assert taken >= victim  # every record before the corrupted one was scanned


def test_records_around_a_refused_one_are_scanned_and_nulls_keep_their_first_record() -> None:
    """A refused record's chunk takes the other paths; the scanned runs around it join it
    with the same values, presence, types and first records per type as the slow path."""
    good = [b'{"features": {"x": %d.5, "n": null, "c": "a"}}' % i for i in range(3000)]
    payloads = [*good[:1000], b'{"features": {"n": "text", "x": 1}}', *good[1000:]]
    fast, slow = decoders()
    with mock.patch("driftwarden.stream.decoding.decoder._CHUNK", 100):
        result, taken = scanned(fast, payloads)
    same_bits(result, decode(slow, payloads))
    assert taken == len(payloads) - 100  # the refused record's chunk of 100 took another path
    assert result.batch is not None and result.batch.type_first["n"]["null"] == 0
