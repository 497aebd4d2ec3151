"""Kafka message payloads → a columnar ``FeatureBatch``, and the records it cannot use.

``Decoder.decode`` takes one consumed batch of message values and returns the accepted
records as a ``FeatureBatch`` (one numpy column per feature, see ``column_builder``
for kinds, types and bounds) and every other record as a ``Rejected`` with its input index,
one of ``REASONS`` and a readable detail, for the DLQ. Nothing is dropped silently:
accepted + rejected is always the whole input.

Reasons:

- ``empty``: a None payload (a Kafka tombstone) or ``b""``.
- ``too_large``: longer than ``max_message_bytes``; not decoded at all.
- ``malformed_json``: not JSON (including invalid UTF-8 and nesting deeper than the JSON
  decoder allows, about 1000 levels).
- ``non_finite_number``: a ``NaN``, ``Infinity`` or ``-Infinity`` literal (not JSON, though
  some encoders write them) or a float literal beyond ±1.8e308 such as ``1e999``, anywhere
  in the record; or an integer literal beyond float64 in a feature value.
- ``not_an_object``: valid JSON but not an object.
- ``features_not_an_object``: with ``features_path`` (dotted, e.g. ``"payload.features"``),
  nothing or no object at that path.
- ``wrong_type``: a feature value whose JSON type does not fit the feature's kind (see
  ``column_builder``); only with ``on_wrong_type="dlq"``, else the value is read as
  missing. The field's ``types`` still show the offending type, so the schema tracker sees it,
  and its ``type_first`` points at the first accepted record at or after the offending one
  (``n_records`` if none follows it in this batch), whichever path decoded it.

Speed. Once the fields are known, a batch is first scanned in compiled code straight into
columns (``scanner.json_scan``: no Python object per value; not with ``decoder="msgspec"``);
a batch outside the JSON subset that scanner handles is decoded payload by payload into
typed structs (``struct_decoder``), 1024 at a time, faster than into dicts; a chunk that
does not fit is decoded into dicts, joined into one JSON array with a per-call random
separator between payloads (so that a payload that is not exactly one JSON value cannot
shift the records after it), and a chunk that fails that too, payload by payload. Which
path a record takes does not change the result (one exception: past ``max_batch_fields``,
which names get columns follows the order the path meets them in).

Memory. Across batches the decoder keeps the kinds it learned for fields not in ``kinds``
(at most ``max_learned_kinds`` names, 10,000 by default; later new names are typed in each
batch anew) and the field names of the fast path (at most ``len(kinds) + len(ignore) +
max_batch_fields`` per level of the features path). Per batch, columns are built for the
fields of ``kinds`` and at most ``max_batch_fields`` others (first met first; the rest are
counted in ``FeatureBatch.extras["untracked_fields"]``).

Limits. Nesting deeper than the JSON decoder allows (about 1000 levels, a little less when
the caller's stack is deep) is ``malformed_json``. A float literal beyond float64 anywhere
in the record rejects it, but an integer literal outside the features does not (it decodes
exactly).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal, cast, get_args

import msgspec
import numpy as np
import numpy.typing as npt

from driftwarden.detectors.feature_batch import FeatureBatch, Kind, SourcePositions
from driftwarden.detectors.snapshots import check_snapshot
from driftwarden.stream.decoding.column_builder import ColumnBuilder
from driftwarden.stream.decoding.raw_columns import (
    FieldAdmission,
    RawColumns,
    concat_raw,
    raw_columns,
)
from driftwarden.stream.decoding.struct_decoder import StructDecoder

__all__ = ["REASONS", "DecodeResult", "Decoder", "DecoderChoice", "Reason", "Rejected"]

Reason = Literal[
    "empty",
    "too_large",
    "malformed_json",
    "not_an_object",
    "features_not_an_object",
    "non_finite_number",
    "wrong_type",
]
REASONS: Final[tuple[Reason, ...]] = get_args(Reason)
# Which paths may decode (``input.decoder``): ``auto`` the compiled scanner first, ``msgspec``
# only the struct and dict paths. The results are the same.
DecoderChoice = Literal["auto", "msgspec"]
_NO_KINDS: Final[Mapping[str, Kind]] = MappingProxyType({})
_NON_FINITE_LITERALS: Final = (b"NaN", b"Infinity")
_JSON_NAMES: Final[dict[type, str]] = {str: "string", list: "array", dict: "object"}
_CHUNK: Final = 1024  # payloads per joined decode
_SNAPSHOT_KIND: Final = "Decoder"
_SNAPSHOT_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record the decoder could not use: its ``index`` in the input, why, and details.

    >>> Decoder().decode([b"{}", b"[]"], SourcePositions.sequential("t", 2)).rejected
    [Rejected(index=1, reason='not_an_object', detail='JSON array, not an object')]
    """

    index: int
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class DecodeResult:
    """The accepted records as one batch (None if none), in input order, and the rejected.

    ``accepted_index[i]`` is the input index of the batch's record ``i``; ``rejected`` is in
    input order.

    >>> result = Decoder().decode([None, b'{"x": 1}'], SourcePositions.sequential("t", 2))
    >>> result.accepted_index, result.batch.n_records, len(result.rejected)
    (array([1]), 1, 1)
    """

    batch: FeatureBatch | None
    rejected: list[Rejected]
    accepted_index: npt.NDArray[np.int64]


class Decoder:
    """Decodes batches of JSON feature records (see the module docstring).

    ``kinds`` are the reference profile's feature kinds (plus overrides); fields in
    ``ignore`` and ``event_time_field`` are not features (names inside the features
    object). Kinds inferred for other fields are remembered across batches (``snapshot`` /
    ``restore`` carry them over a restart). ``max_message_bytes`` is checked before
    decoding. ``decoder="msgspec"`` never runs the compiled scanner (``input.decoder``);
    ``fast_path=False`` runs neither it nor the typed structs (for tests and benchmarks).
    Results are the same whatever the path.

    >>> decoder = Decoder(kinds={"amount": "numeric"}, features_path="features")
    >>> result = decoder.decode(
    ...     [b'{"features": {"amount": 12.5, "country": "FR"}}', b'{"amount": 3}', None,
    ...      b'{"features": {"amount": "12"}}', b'{"features": {"amount": NaN}}'],
    ...     SourcePositions.sequential("payments", 5, first_offset=100),
    ... )
    >>> result.batch.numeric["amount"], result.batch.categorical["country"]
    (array([12.5]), array(['FR'], dtype=object))
    >>> for rejected in result.rejected:
    ...     print(rejected.index, rejected.reason, "|", rejected.detail)
    1 features_not_an_object | no JSON object at 'features'
    2 empty | no payload (tombstone)
    3 wrong_type | feature 'amount' is numeric, got string '12'
    4 non_finite_number | NaN is not a finite number
    >>> result.batch.positions.describe(0), result.batch.type_first["amount"]
    (('payments', -1, 100), {'number': 0, 'string': 1})
    """

    def __init__(
        self,
        *,
        kinds: Mapping[str, Kind] = _NO_KINDS,
        features_path: str | None = None,
        ignore: Iterable[str] = (),
        max_message_bytes: int = 1_048_576,
        on_wrong_type: Literal["dlq", "null"] = "dlq",
        event_time_field: str | None = None,
        max_learned_kinds: int = 10_000,
        max_batch_fields: int = 1_000,
        fast_path: bool = True,
        decoder: DecoderChoice = "auto",
    ) -> None:
        if max_message_bytes < 1:
            raise ValueError(f"max_message_bytes must be >= 1, got {max_message_bytes}")
        if features_path is not None and not all(features_path.split(".")):
            raise ValueError(f"features_path {features_path!r} has an empty part")
        if decoder not in get_args(DecoderChoice):
            raise ValueError(f"decoder must be one of {get_args(DecoderChoice)}, got {decoder!r}")
        skipped = set(ignore) | ({event_time_field} if event_time_field else set())
        self.columns: Final = ColumnBuilder(
            kinds=kinds,
            ignore=skipped,
            on_wrong_type=on_wrong_type,
            max_learned_kinds=max_learned_kinds,
            max_batch_fields=max_batch_fields,
        )
        self.features_path: Final = features_path
        self.max_message_bytes: Final = max_message_bytes
        self._path: Final = tuple(features_path.split(".")) if features_path else ()
        self._json: Final = msgspec.json.Decoder()
        self.fast_path: Final = fast_path
        self.decoder: Final = decoder
        self.structs: Final = StructDecoder(
            path=self._path,
            kind_of=self.columns.kind,
            max_fields=len(self.columns.kinds) + len(skipped) + max_batch_fields,
            ignore=frozenset(skipped),
            scanner=fast_path and decoder == "auto",
        )

    def decode(self, payloads: Sequence[bytes | None], positions: SourcePositions) -> DecodeResult:
        """Decode one batch; ``positions`` has one entry per payload."""
        n = len(payloads)
        if len(positions.offsets) != n:
            raise ValueError(f"{len(positions.offsets)} positions for {n} payloads")
        problems: dict[int, tuple[Reason, str]] = {}
        candidates = self._candidates(payloads, problems)
        admission = self.columns.admission()
        raw, record_index = self._raw_columns(payloads, candidates, problems, admission)
        built = self.columns.build(raw, len(record_index))
        for position, detail in built.wrong_type.items():
            problems[record_index[position]] = ("wrong_type", detail)
        for position, detail in built.non_finite.items():
            problems[record_index[position]] = ("non_finite_number", detail)
        accepted = np.asarray(record_index, dtype=np.int64)[built.kept]
        rejected = [Rejected(i, *problems[i]) for i in sorted(problems)]
        if not len(accepted):
            return DecodeResult(None, rejected, accepted)
        batch = FeatureBatch(
            n_records=len(accepted),
            numeric=built.numeric,
            categorical=built.categorical,
            present=built.present,
            types=built.types,
            type_first=built.type_first,
            positions=positions
            if len(accepted) == n
            else SourcePositions(
                sources=positions.sources,
                source_ids=positions.source_ids[accepted],
                partitions=positions.partitions[accepted],
                offsets=positions.offsets[accepted],
            ),
            extras={"untracked_fields": admission.untracked} if admission.untracked else {},
        )
        return DecodeResult(batch, rejected, accepted)

    def _raw_columns(
        self,
        payloads: Sequence[bytes | None],
        candidates: list[int],
        problems: dict[int, tuple[Reason, str]],
        admission: FieldAdmission,
    ) -> tuple[RawColumns, list[int]]:
        """The feature values of the candidate payloads that decode to feature objects, and
        their input indices; the others go to ``problems``."""
        token = secrets.token_hex(16)
        separator = b',"' + token.encode() + b'",'
        parts: list[tuple[RawColumns, int]] = []
        record_index: list[int] = []
        typed: list[Any] = []  # consecutive records decoded on the fast path, not yet gathered
        at = 0
        while at < len(candidates):
            if self.structs.scanner:
                rest = candidates[at:]
                chosen = payloads if len(rest) == len(payloads) else [payloads[i] for i in rest]
                # Every candidate is a non-empty payload.
                scanned, taken = self.structs.scan(cast("Sequence[bytes]", chosen), admission)
                if taken:
                    if typed:
                        parts.append((self.structs.raw_columns(typed, admission), len(typed)))
                        typed = []
                    parts.append((scanned, taken))
                    record_index.extend(rest[:taken])
                    at += taken
                    continue
            # The next record is not one the scanner takes: this chunk goes the other ways.
            indices = candidates[at : at + _CHUNK]
            at += len(indices)
            chunk = [payloads[i] for i in indices]
            roots = self.structs.decode(chunk) if self.fast_path else None  # type: ignore[arg-type]
            if roots is not None:
                typed.extend(roots)
                record_index.extend(indices)
                continue
            if typed:  # before ``widen`` changes the fields they were decoded with
                parts.append((self.structs.raw_columns(typed, admission), len(typed)))
                typed = []
            joined = b"[" + separator.join(chunk) + b"]"  # type: ignore[arg-type]
            values = self._decode_joined(joined, token, len(chunk))
            if values is None:
                values = [
                    self._decode_one(payload, index, problems)  # type: ignore[arg-type]
                    for payload, index in zip(chunk, indices, strict=True)
                ]
            records, found_at, envelopes = self._feature_objects(values, indices, problems)
            self.structs.widen(envelopes, records)
            parts.append((raw_columns(records, admission), len(records)))
            record_index.extend(found_at)
        if typed:
            parts.append((self.structs.raw_columns(typed, admission), len(typed)))
        return concat_raw(parts), record_index

    @property
    def learned_kinds(self) -> dict[str, Kind]:
        """The kinds inferred so far for fields not in ``kinds`` (a copy)."""
        return self.columns.learned_kinds

    @property
    def known_fields(self) -> set[str]:
        """Every field this decoder types: the given ``kinds`` and the learned ones. A batch
        cut per feature has a chunk for each, absent from the batch or not."""
        return self.columns.known_names

    def snapshot(self) -> dict[str, Any]:
        """The kinds learned so far, JSON-serialisable, for the checkpoint."""
        return {
            "kind": _SNAPSHOT_KIND,
            "version": _SNAPSHOT_VERSION,
            "learned_kinds": dict(sorted(self.columns.learned_kinds.items())),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Adopt the learned kinds of a ``snapshot()``, so a restart types fields alike."""
        check_snapshot(state, _SNAPSHOT_KIND, _SNAPSHOT_VERSION)
        self.columns.remember(state["learned_kinds"])

    def _candidates(
        self, payloads: Sequence[bytes | None], problems: dict[int, tuple[Reason, str]]
    ) -> list[int]:
        """Indices of the payloads worth decoding; the others go to ``problems``."""
        limit = self.max_message_bytes
        if all(payloads) and max(map(len, payloads), default=0) <= limit:  # type: ignore[arg-type]
            return list(range(len(payloads)))
        candidates = []
        for i, payload in enumerate(payloads):
            if payload is None:
                problems[i] = ("empty", "no payload (tombstone)")
            elif not payload:
                problems[i] = ("empty", "zero-length payload")
            elif len(payload) > limit:
                problems[i] = ("too_large", f"{len(payload)} bytes, limit {limit}")
            else:
                candidates.append(i)
        return candidates

    def _decode_joined(self, joined: bytes, token: str, n: int) -> list[Any] | None:
        """The ``n`` payloads of ``joined`` decoded, or None if any is not one JSON value."""
        try:
            values = self._json.decode(joined)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return None
        # Each payload was one JSON value iff the separators sit where they were put.
        separators = values[1::2]
        if len(values) != 2 * n - 1 or separators.count(token) != len(separators):
            return None
        return values[0::2]

    def _decode_one(
        self, payload: bytes, index: int, problems: dict[int, tuple[Reason, str]]
    ) -> Any:
        try:
            return self._json.decode(payload)
        except msgspec.ValidationError as error:  # the only one untyped decoding raises
            problems[index] = ("non_finite_number", f"a number literal overflows float64: {error}")
        except msgspec.DecodeError as error:
            literal = _non_finite_literal(payload)
            if literal is not None:
                problems[index] = ("non_finite_number", f"{literal} is not a finite number")
            else:
                problems[index] = ("malformed_json", str(error))
        except UnicodeDecodeError as error:
            problems[index] = ("malformed_json", f"invalid UTF-8: {error}")
        except RecursionError:
            problems[index] = ("malformed_json", "nested too deep for the JSON decoder")
        return _FAILED

    def _feature_objects(
        self,
        values: list[Any],
        indices: list[int],
        problems: dict[int, tuple[Reason, str]],
    ) -> tuple[list[dict[str, Any]], list[int], list[list[dict[str, Any]]]]:
        """Each decoded record's feature object, the input index of each, and the objects
        on the way to them (one list per level of the features path)."""
        if set(map(type, values)) <= {dict}:
            if not self._path:
                return values, indices, []
            inner = [value.get(self._path[0]) for value in values]
            if len(self._path) == 1 and set(map(type, inner)) <= {dict}:
                return inner, indices, [values]
        records: list[dict[str, Any]] = []
        found_at: list[int] = []
        envelopes: list[list[dict[str, Any]]] = [[] for _ in self._path]
        for value, index in zip(values, indices, strict=True):
            if value is _FAILED:
                continue
            if type(value) is not dict:
                problems[index] = ("not_an_object", f"JSON {_json_type(value)}, not an object")
                continue
            levels = []
            for part in self._path:
                levels.append(value)
                value = value.get(part) if type(value) is dict else None
            if type(value) is dict:
                records.append(value)
                found_at.append(index)
                for level, envelope in zip(envelopes, levels, strict=True):
                    level.append(envelope)
            else:
                problems[index] = (
                    "features_not_an_object",
                    f"no JSON object at {self.features_path!r}"
                    + ("" if value is None else f" (a JSON {_json_type(value)})"),
                )
        return records, found_at, envelopes


class _Failed:
    """Marks a payload that did not decode (its problem is already recorded)."""


_FAILED: Final = _Failed()


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return _JSON_NAMES.get(type(value), "null")


def _non_finite_literal(payload: bytes) -> str | None:
    """The first NaN / Infinity literal of a payload that is JSON but for such literals."""
    if not any(literal in payload for literal in _NON_FINITE_LITERALS):
        return None
    found: list[str] = []

    def constant(literal: str) -> float:
        found.append(literal)
        return 0.0

    try:
        json.loads(bytes(payload), parse_constant=constant)
    except (ValueError, RecursionError):  # not JSON even with them (or too deep)
        return None
    return found[0] if found else None
