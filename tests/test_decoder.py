"""Decoder: payloads → FeatureBatch columns, every bad record rejected with its reason."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, get_args
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import driftwarden.stream.decoding.decoder as decoder_module
from driftwarden.detectors.category_label import category_label
from driftwarden.detectors.feature_batch import FeatureBatch, SourcePositions
from driftwarden.detectors.settings import DetectorSettings
from driftwarden.stream.config import InputSection
from driftwarden.stream.decoding.decoder import REASONS, Decoder, DecoderChoice, DecodeResult
from driftwarden.stream.decoding.decoder_options import decoder_options
from driftwarden.stream.decoding.scanner.json_scan import RecordScanner

GOOD = b'{"amount": 12.5, "country": "FR"}'


def decode(payloads: Sequence[bytes | None], decoder: Decoder | None = None) -> DecodeResult:
    decoder = decoder or Decoder(kinds={"amount": "numeric", "country": "categorical"})
    return decoder.decode(payloads, SourcePositions.sequential("t", len(payloads)))


def reasons(result: DecodeResult) -> dict[int, str]:
    return {rejected.index: rejected.reason for rejected in result.rejected}


def as_lists(batch: FeatureBatch) -> dict[str, list[Any]]:
    """Columns as plain lists (NaN as None) for comparisons."""
    out: dict[str, list[Any]] = {}
    for name, column in batch.numeric.items():
        out[name] = [None if math.isnan(v) else v for v in column.tolist()]
    for name, labels in batch.categorical.items():
        out[name] = labels.tolist()
    return out


def same_results(left: DecodeResult, right: DecodeResult) -> None:
    """Assert two decode results are equal, column order included."""
    assert left.rejected == right.rejected
    assert left.accepted_index.tolist() == right.accepted_index.tolist()
    if left.batch is None or right.batch is None:
        assert left.batch is right.batch
        return
    assert list(as_lists(left.batch).items()) == list(as_lists(right.batch).items())
    assert {k: v.tolist() for k, v in left.batch.present.items()} == {
        k: v.tolist() for k, v in right.batch.present.items()
    }
    assert left.batch.types == right.batch.types
    assert left.batch.type_first == right.batch.type_first
    assert left.batch.extras == right.batch.extras


def test_valid_records_become_numeric_and_categorical_columns() -> None:
    result = decode([GOOD, b'{"amount": null}', b'{"amount": 3, "country": "DE"}'])
    batch = result.batch
    assert batch is not None and not result.rejected
    assert as_lists(batch) == {"amount": [12.5, None, 3.0], "country": ["FR", None, "DE"]}
    assert batch.present["amount"].tolist() == [True, True, True]
    assert batch.present["country"].tolist() == [True, False, True]
    assert batch.types == {"amount": {"number", "null"}, "country": {"string"}}
    assert batch.numeric["amount"].dtype == np.float64
    assert batch.categorical["country"].dtype == object


BAD_INPUTS = [
    (None, "empty"),
    (b"", "empty"),
    (b'{"amount": 1', "malformed_json"),
    (b"{amount: 1}", "malformed_json"),
    (b'{"amount": 1} {"amount": 2}', "malformed_json"),
    (b'{"country": "\xff\xfe"}', "malformed_json"),
    (b"\xef\xbb\xbf" + GOOD, "malformed_json"),
    (b"   ", "malformed_json"),
    (b'{"amount": ' + b"[" * 5000 + b"]" * 5000 + b"}", "malformed_json"),
    (b"[1, 2]", "not_an_object"),
    (b'"a string"', "not_an_object"),
    (b"42", "not_an_object"),
    (b"null", "not_an_object"),
    (b'{"amount": NaN}', "non_finite_number"),
    (b'{"amount": Infinity}', "non_finite_number"),
    (b'{"amount": -Infinity}', "non_finite_number"),
    (b'{"amount": 1e999}', "non_finite_number"),
    (b'{"note": -1e999}', "non_finite_number"),
    (b'{"amount": 1' + b"0" * 400 + b"}", "non_finite_number"),
    (b'{"country": -1' + b"0" * 5000 + b"}", "non_finite_number"),
    (b'{"amount": "12.5"}', "wrong_type"),
    (b'{"amount": true}', "wrong_type"),
    (b'{"amount": {"value": 1}}', "wrong_type"),
    (b'{"amount": [1]}', "wrong_type"),
    (b'{"country": {"code": "FR"}}', "wrong_type"),
    (b'{"country": ["FR"]}', "wrong_type"),
]


@pytest.mark.parametrize(("payload", "reason"), BAD_INPUTS)
def test_each_bad_input_is_rejected_with_its_reason_and_neighbours_are_kept(
    payload: bytes | None, reason: str
) -> None:
    result = decode([GOOD, payload, GOOD])
    assert reasons(result) == {1: reason}
    assert result.accepted_index.tolist() == [0, 2]
    assert result.batch is not None and result.batch.n_records == 2


def test_oversized_messages_are_rejected_before_decoding() -> None:
    decoder = Decoder(max_message_bytes=len(GOOD))
    result = decode([GOOD, GOOD[:-1] + b" }", b"x" * 100], decoder)
    assert reasons(result) == {1: "too_large", 2: "too_large"}
    assert result.rejected[0].detail == f"{len(GOOD) + 1} bytes, limit {len(GOOD)}"


def test_bad_inputs_decoded_together_keep_their_own_reasons() -> None:
    result = decode([payload for payload, _ in BAD_INPUTS])
    assert reasons(result) == {i: reason for i, (_, reason) in enumerate(BAD_INPUTS)}
    assert {reason for _, reason in BAD_INPUTS} | {"too_large", "features_not_an_object"} == set(
        REASONS
    )


def test_a_payload_holding_several_json_values_cannot_shift_the_records_after_it() -> None:
    # Joined naively, these three would parse as three valid elements, one per payload.
    crafted = [b'{"amount": 1}, {"amount": 2}', b'{"amount": [3', b"4]}", GOOD]
    result = decode(crafted)
    assert reasons(result) == {0: "malformed_json", 1: "malformed_json", 2: "malformed_json"}
    assert result.batch is not None and as_lists(result.batch)["amount"] == [12.5]


def test_rejection_details_name_the_feature_and_the_value() -> None:
    result = decode([b'{"amount": "abc"}', b'{"amount": NaN}', b'{"amount": 1e999}', b"[1]", b"{"])
    details = [rejected.detail for rejected in result.rejected]
    assert details[0] == "feature 'amount' is numeric, got string 'abc'"
    assert details[1] == "NaN is not a finite number"
    assert "overflows float64" in details[2]
    assert details[3] == "JSON array, not an object"
    assert details[4].startswith("JSON is malformed") or "truncated" in details[4]


def test_types_include_values_of_records_rejected_for_wrong_type() -> None:
    result = decode([GOOD, b'{"amount": "abc", "country": "FR"}'])
    assert reasons(result) == {1: "wrong_type"}
    assert result.batch is not None
    assert result.batch.types["amount"] == {"number", "string"}


# Input 0-1 decode on the fast path once the fields are known (amount lacking in 0: a marked
# NaN there), 2-3 payload by payload (3 is malformed), 4-5 as dicts; 2 and 5 (the last) are
# wrong-typed. Accepted: inputs 0, 1, 4, i.e. batch records 0, 1, 2.
MIXED = [
    b'{"country": "FR"}',
    b'{"amount": 1, "country": null}',
    b'{"amount": "x", "country": "DE"}',
    b"{",
    b'{"amount": null, "country": true}',
    b'{"amount": true}',
]
MIXED_TYPE_FIRST = {
    "amount": {"number": 1, "string": 2, "null": 2, "bool": 3},
    "country": {"string": 0, "null": 1, "bool": 2},
}


def spy(obj: object, name: str) -> tuple[Any, list[Any]]:
    """A patch recording what ``obj.name`` returns, and the list it records into."""
    original = getattr(obj, name)
    returned: list[Any] = []

    def record(*args: Any) -> Any:
        returned.append(original(*args))
        return returned[-1]

    return mock.patch.object(obj, name, side_effect=record), returned


@pytest.mark.parametrize(
    ("fast_path", "scanner", "chunk"),
    [(True, True, 2), (True, False, 2), (False, False, 2), (False, False, 1024)],
    ids=["scan", "struct", "dict", "one"],
)
def test_type_first_points_at_the_first_accepted_record_on_every_decoding_path(
    fast_path: bool, scanner: bool, chunk: int
) -> None:
    decoder = Decoder(kinds={"amount": "numeric", "country": "categorical"}, fast_path=fast_path)
    decode([GOOD], decoder)  # learns the fields: the fast paths are ready
    scanned: list[int] = []
    original = RecordScanner.scan

    def scan(self: RecordScanner, payloads: Sequence[bytes]) -> Any:
        found = original(self, payloads) if scanner else ({}, 0)
        scanned.append(found[1])
        return found

    scans = mock.patch.object(RecordScanner, "scan", scan)
    structs, typed = spy(decoder.structs, "decode")
    joined, as_dicts = spy(decoder, "_decode_joined")
    with mock.patch.object(decoder_module, "_CHUNK", chunk), scans, structs, joined:
        result = decode(MIXED, decoder)
    assert reasons(result) == {2: "wrong_type", 3: "malformed_json", 5: "wrong_type"}
    assert result.batch is not None and result.batch.n_records == 3
    assert result.batch.type_first == MIXED_TYPE_FIRST
    paths = {
        "scan": any(scanned),
        "struct": any(roots is not None for roots in typed),
        "dict": any(values is not None for values in as_dicts),
        "one": any(values is None for values in as_dicts),
    }
    assert paths == {
        "scan": scanner,
        "struct": fast_path and not scanner,
        "dict": chunk == 2,
        "one": True,
    }


def test_type_first_with_wrong_types_read_as_missing_is_where_each_type_first_occurs() -> None:
    decoder = Decoder(kinds={"amount": "numeric", "country": "categorical"}, on_wrong_type="null")
    result = decode(MIXED, decoder)
    assert result.batch is not None and result.accepted_index.tolist() == [0, 1, 2, 4, 5]
    assert result.batch.type_first == {
        "amount": {"number": 1, "string": 2, "null": 3, "bool": 4},
        "country": {"string": 0, "null": 1, "bool": 3},
    }


def test_a_type_seen_only_in_the_last_record_points_past_the_batch() -> None:
    result = decode([GOOD, GOOD, b'{"amount": "12", "country": "FR"}'])
    assert result.batch is not None and result.batch.n_records == 2
    assert result.batch.type_first == {
        "amount": {"number": 0, "string": 2},
        "country": {"string": 0},
    }


def test_on_wrong_type_null_keeps_the_record_with_the_value_missing() -> None:
    decoder = Decoder(kinds={"amount": "numeric", "country": "categorical"}, on_wrong_type="null")
    result = decode([GOOD, b'{"amount": "abc", "country": {"x": 1}}'], decoder)
    assert not result.rejected
    batch = result.batch
    assert batch is not None
    assert as_lists(batch) == {"amount": [12.5, None], "country": ["FR", None]}
    assert batch.present["amount"].tolist() == [True, True]
    assert batch.types == {"amount": {"number", "string"}, "country": {"string", "object"}}


def test_unknown_fields_become_features_typed_by_their_values() -> None:
    decoder = Decoder()
    result = decode([b'{"score": 0.5, "device": "ios", "returning": true, "n": 3}'], decoder)
    assert result.batch is not None
    assert as_lists(result.batch) == {
        "score": [0.5],
        "n": [3.0],
        "device": ["ios"],
        "returning": ["true"],
    }
    assert decoder.learned_kinds == {
        "score": "numeric",
        "device": "categorical",
        "returning": "categorical",
        "n": "numeric",
    }


def test_the_first_non_null_value_of_a_batch_decides_a_new_fields_kind() -> None:
    result = decode([b'{"f": null}', b'{"f": "a"}', b'{"f": 2}', b'{"f": 2.5}'], Decoder())
    assert result.batch is not None
    assert as_lists(result.batch) == {"f": [None, "a", "2", "2.5"]}


def test_a_learned_kind_holds_in_later_batches() -> None:
    decoder = Decoder()
    decode([b'{"f": 1}'], decoder)
    result = decode([b'{"f": "x"}', b'{"f": 2}'], decoder)
    assert reasons(result) == {0: "wrong_type"}
    assert result.rejected[0].detail == "feature 'f' is numeric, got string 'x'"


def test_numbers_in_a_categorical_feature_are_labelled_as_the_profile_builder_does() -> None:
    values = [7, 7.0, 2.5, True, False, "7", -0.0, 10**20]
    payloads = [json.dumps({"country": value}).encode() for value in values]
    result = decode(payloads)
    assert result.batch is not None
    assert as_lists(result.batch)["country"] == [category_label(value) for value in values]
    assert as_lists(result.batch)["country"][:5] == ["7", "7", "2.5", "true", "false"]


def test_objects_and_arrays_are_recorded_in_types_and_present_but_get_no_column() -> None:
    result = decode([b'{"meta": {"a": 1}, "tags": ["x"]}', b'{"tags": null}'], Decoder())
    batch = result.batch
    assert batch is not None and not result.rejected
    assert not batch.numeric and not batch.categorical
    assert batch.present["meta"].tolist() == [True, False]
    assert batch.present["tags"].tolist() == [True, True]
    assert batch.types == {"meta": {"object"}, "tags": {"array", "null"}}


def test_null_and_absent_both_read_as_missing_but_differ_in_present() -> None:
    result = decode([b'{"a": 1, "b": "x"}', b'{"a": null, "b": null}', b"{}"], Decoder())
    batch = result.batch
    assert batch is not None
    assert as_lists(batch) == {"a": [1.0, None, None], "b": ["x", None, None]}
    assert batch.present["a"].tolist() == [True, True, False]
    assert batch.types == {"a": {"number", "null"}, "b": {"string", "null"}}


def test_features_are_read_at_a_dotted_features_path() -> None:
    decoder = Decoder(features_path="payload.features", kinds={"amount": "numeric"})
    result = decode(
        [
            b'{"id": "r1", "payload": {"v": 2, "features": {"amount": 1.5}}}',
            b'{"payload": {"features": 3}}',
            b'{"payload": {}}',
            b'{"amount": 2}',
            b'[{"payload": {"features": {}}}]',
        ],
        decoder,
    )
    assert reasons(result) == {
        1: "features_not_an_object",
        2: "features_not_an_object",
        3: "features_not_an_object",
        4: "not_an_object",
    }
    assert result.rejected[0].detail == "no JSON object at 'payload.features' (a JSON number)"
    assert result.batch is not None and as_lists(result.batch) == {"amount": [1.5]}


def test_ignored_fields_and_the_event_time_field_are_not_features() -> None:
    decoder = Decoder(ignore=["request_id"], event_time_field="ts")
    result = decode([b'{"request_id": "r1", "ts": "2026-01-01T00:00:00Z", "x": 1}'], decoder)
    assert result.batch is not None
    assert set(result.batch.present) == {"x"} and set(result.batch.types) == {"x"}


def test_batch_positions_are_those_of_the_accepted_records() -> None:
    positions = SourcePositions(
        sources=("a", "b"),
        source_ids=np.array([0, 1, 1], dtype=np.int32),
        partitions=np.array([3, 4, 4], dtype=np.int32),
        offsets=np.array([10, 20, 21], dtype=np.int64),
    )
    result = Decoder().decode([GOOD, b"{", GOOD], positions)
    assert result.batch is not None
    assert result.accepted_index.dtype == np.int64 and result.accepted_index.tolist() == [0, 2]
    assert [result.batch.positions.describe(i) for i in range(2)] == [("a", 3, 10), ("b", 4, 21)]


def test_positions_must_match_the_payloads() -> None:
    with pytest.raises(ValueError, match="2 positions for 3 payloads"):
        Decoder().decode([GOOD] * 3, SourcePositions.sequential("t", 2))


def test_no_accepted_record_gives_no_batch() -> None:
    empty = decode([])
    assert empty.batch is None and not empty.rejected and empty.accepted_index.size == 0
    result = decode([None, b"{"])
    assert result.batch is None and len(result.rejected) == 2 and not result.accepted_index.size


def test_field_names_past_the_batch_cap_are_counted_not_built() -> None:
    decoder = Decoder(kinds={"amount": "numeric"}, max_batch_fields=3)
    record = {f"f{i}": i for i in range(10)} | {"amount": 1.0}
    result = decode([json.dumps(record).encode()], decoder)
    assert result.batch is not None
    assert set(result.batch.present) == {"f0", "f1", "f2", "amount"}
    assert result.batch.extras == {"untracked_fields": 7}


def test_a_record_with_thousands_of_fields_costs_at_most_the_cap() -> None:
    record = {f"field_{i}": float(i) for i in range(20_000)}
    result = decode([json.dumps(record).encode()] * 3, Decoder())
    assert result.batch is not None and len(result.batch.numeric) == 1_000
    assert result.batch.extras == {"untracked_fields": 19_000}


def test_learned_kinds_are_bounded_and_later_names_are_typed_per_batch() -> None:
    decoder = Decoder(max_learned_kinds=1)
    decode([b'{"a": 1, "b": 2}'], decoder)
    assert decoder.learned_kinds == {"a": "numeric"}
    result = decode([b'{"a": 1, "b": "now text"}'], decoder)
    assert not result.rejected and result.batch is not None
    assert as_lists(result.batch)["b"] == ["now text"]


def test_a_snapshot_carries_learned_kinds_over_a_restart() -> None:
    first = Decoder()
    decode([b'{"f": 1}'], first)
    state = json.loads(json.dumps(first.snapshot()))
    second = Decoder()
    second.restore(state)
    assert reasons(decode([b'{"f": "x"}'], second)) == {0: "wrong_type"}
    with pytest.raises(
        ValueError, match="cannot restore Decoder: expected kind 'Decoder' version 1"
    ):
        second.restore({"kind": "Other"})


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="kind 'text'"):
        Decoder(kinds={"a": "text"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="empty part"):
        Decoder(features_path="a..b")
    with pytest.raises(ValueError, match="on_wrong_type"):
        Decoder(on_wrong_type="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="decoder must be one of"):
        Decoder(decoder="scanner")  # type: ignore[arg-type]


def test_input_decoder_reaches_the_decoder_with_the_values_it_accepts() -> None:
    assert get_args(InputSection.model_fields["decoder"].annotation) == get_args(DecoderChoice)
    for choice in get_args(DecoderChoice):
        options = decoder_options(DetectorSettings(), InputSection(decoder=choice), None)
        decoder = Decoder(**options)
        assert decoder.decoder == choice
        assert decoder.structs.scanner == (choice == "auto")


def test_the_fast_path_is_taken_once_the_fields_are_known_and_gives_the_same_batch() -> None:
    payloads = [
        b'{"id": "r1", "features": {"x": 1, "c": "a", "meta": {"k": 1}}}',
        b'{"id": "r2", "features": {"x": null, "c": true}}',
        b'{"features": {"c": 7}}',
        b'{"id": "r4", "features": {"x": 2.5, "c": null, "meta": null}}',
    ]
    fast, slow = (
        Decoder(features_path="features", ignore=["id"], fast_path=on) for on in (True, False)
    )
    decode(payloads, fast)
    with mock.patch.object(fast, "_decode_joined", side_effect=AssertionError("slow path")):
        result = decode(payloads, fast)
    same_results(result, decode(payloads, slow))
    assert result.batch is not None
    assert as_lists(result.batch) == {"x": [1.0, None, None, 2.5], "c": ["a", "true", "7", None]}
    assert result.batch.present["x"].tolist() == [True, True, False, True]
    assert result.batch.types == {
        "x": {"number", "null"},
        "c": {"string", "bool", "number", "null"},
        "meta": {"object", "null"},
    }


# --- properties -----------------------------------------------------------------------------

NAMES = ["a", "b", "c", "req"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.integers(min_value=10**308, max_value=10**330),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=2), max_leaves=3)
records = st.dictionaries(
    st.sampled_from(NAMES),
    values | st.dictionaries(st.text(max_size=2), scalars, max_size=2),
    max_size=4,
)
valid_payloads = records.map(lambda record: json.dumps(record).encode())
payloads = st.one_of(
    valid_payloads,
    valid_payloads,
    valid_payloads.map(lambda p: p[: len(p) // 2]),
    valid_payloads.map(lambda p: p.replace(b"0", b"NaN", 1)),
    st.binary(max_size=12),
    st.sampled_from([None, b"", b"[]", b'"x"', b"1e999", b'{"a": Infinity}', b'{"a": 1e400}']),
)


# Mostly well-typed records over a few fields, so that the fast path is taken often, and a
# few records that break it in each way.
typical_records = st.fixed_dictionaries(
    {},
    optional={
        "a": st.one_of(st.none(), st.integers(-(10**20), 10**20), st.floats(-1e300, 1e300)),
        "b": st.one_of(st.none(), st.sampled_from(["x", "y", "ü"]), st.booleans()),
        "c": st.one_of(
            st.none(), st.dictionaries(st.sampled_from("pq"), st.integers(), max_size=1)
        ),
        "req": st.sampled_from(["r1", "r2"]),
    },
)
DEVIANTS = [
    b'{"a": "text"}',
    b'{"a": true}',
    b'{"b": 3}',
    b'{"b": [1]}',
    b'{"c": 1.5}',
    b'{"novel": 1}',
    b'{"a": 1' + b"0" * 400 + b"}",
    b'{"a": NaN}',
    b'{"a": 1e999}',
    b'{"a": 1',
    b"[1]",
    b'"s"',
    None,
]
typical_payloads = st.one_of(
    *[typical_records.map(lambda record: json.dumps(record).encode())] * 20,
    st.sampled_from(DEVIANTS),
)


def decode_split(decoder: Decoder, batches: Sequence[Sequence[bytes | None]]) -> list[DecodeResult]:
    return [decode(batch, decoder) for batch in batches]


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), "null")


def expected_type_first(
    batch: Sequence[bytes | None], result: DecodeResult, features_path: str | None
) -> dict[str, dict[str, int]]:
    """Per field and type of the batch, the first accepted record at or after the first
    record holding it, among the records that decoded to feature objects."""
    reached = set(result.accepted_index.tolist()) | {
        r.index
        for r in result.rejected
        if r.reason == "wrong_type" or r.detail.startswith("feature ")  # rejected by column
    }
    first: dict[str, dict[str, int]] = {}
    for index in sorted(reached):
        record = json.loads(batch[index] or b"")
        for name, value in (record[features_path] if features_path else record).items():
            first.setdefault(name, {}).setdefault(json_type(value), index)
    assert result.batch is not None
    return {
        name: {t: int(np.searchsorted(result.accepted_index, i)) for t, i in first[name].items()}
        for name in result.batch.types
    }


@settings(max_examples=150, deadline=None)
@given(st.lists(payloads, max_size=30), st.sampled_from(["dlq", "null"]))
def test_the_decoder_never_raises_and_partitions_its_input(
    batch: list[bytes | None], on_wrong_type: str
) -> None:
    decoder = Decoder(kinds={"a": "numeric"}, ignore=["req"], on_wrong_type=on_wrong_type)  # type: ignore[arg-type]
    for result in decode_split(decoder, [batch, batch]):
        rejected = [r.index for r in result.rejected]
        accepted = result.accepted_index.tolist()
        assert sorted(rejected + accepted) == list(range(len(batch)))
        assert all(r.reason in REASONS for r in result.rejected)
        if result.batch is None:
            assert not accepted
            continue
        assert result.batch.n_records == len(accepted)
        assert result.batch.type_first == expected_type_first(batch, result, None)
        for name, column in result.batch.numeric.items():
            for value, index in zip(column.tolist(), accepted, strict=True):
                original = json.loads(batch[index] or b"").get(name)
                if isinstance(original, int | float) and not isinstance(original, bool):
                    assert value == float(original)
                else:
                    assert math.isnan(value)
        for name, labels in result.batch.categorical.items():
            for label, index in zip(labels.tolist(), accepted, strict=True):
                original = json.loads(batch[index] or b"").get(name)
                if isinstance(original, dict | list):
                    original = None  # a wrong type read as missing
                assert label == category_label(original)


@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.lists(typical_payloads, max_size=20), min_size=1, max_size=3),
    st.sampled_from([None, "f"]),
)
def test_every_decoder_setting_gives_the_slow_paths_results_whatever_the_chunks(
    batches: list[list[bytes | None]], features_path: str | None
) -> None:
    """``decoder="auto"`` (scanner, structs, dicts), ``decoder="msgspec"`` (structs, dicts)
    and ``fast_path=False`` (dicts) accept and reject the same records with the same columns."""
    if features_path:
        batches = [[p and b'{"meta": 1, "f": ' + p + b"}" for p in batch] for batch in batches]
    decoders = [
        Decoder(features_path=features_path, fast_path=fast, decoder=choice)
        for fast, choice in ((True, "auto"), (True, "msgspec"), (False, "auto"))
    ]
    with mock.patch.object(decoder_module, "_CHUNK", 3):
        fast, typed, slow = (decode_split(decoder, batches + batches) for decoder in decoders)
    for left, middle, right in zip(fast, typed, slow, strict=True):
        same_results(left, right)
        same_results(middle, right)
    for batch, result in zip(batches + batches, fast, strict=True):
        if result.batch is not None:
            assert result.batch.type_first == expected_type_first(batch, result, features_path)
