"""Replaying files of production records through the service's decode → detect path.

``Replayer`` owns one ``Decoder`` and the ``FeatureBanks`` of stage two (one ``DetectorBank``
per feature), configured as ``DriftService`` configures a split partition's decoder
(``decoder_options``) and the detect stage's banks; each decoded batch is cut per feature as
stage one cuts it (``split_by_feature``). It feeds them ``PayloadBatch``es read from files by
``payload_batches``:

- JSON Lines: the bytes of each non-blank line (without the whitespace around it), as a
  Kafka message value would arrive; a malformed line is rejected by the decoder, like a
  message sent to the DLQ. A line is held whole in memory, however long.
- CSV and Parquet: each row (read by ``profiling.readers``) encoded as one JSON object with
  msgspec, then decoded like a message. A table has every column in every row, so a field
  is absent from a row only when its column is absent from the file: an empty CSV cell and
  a Parquet null are JSON ``null``, as ``profile build`` counts them (present, null). A
  non-finite number (a NaN of a float column excepted, which is null as in the profile) is
  written as the ``Infinity`` / ``-Infinity`` literal, which the decoder rejects as
  ``non_finite_number``, as for a JSON record. CSV cells are text, so ``RowEncoder`` types
  them: a cell of a numeric feature is a JSON number when it parses as a number, null when
  it is a null word (``NA``, ``NaN``, ...), and otherwise stays a string (the decoder then
  sees a type change, as for a JSON record); a feature the profile does not know is numeric
  when every non-null cell of its first chunk with values is a number. Parquet values keep
  their types (numbers, strings, booleans, lists, structs). With ``features_path`` the row
  object is nested at that path, so one decoder reads every format; a Parquet row whose
  features struct is null is rejected as ``features_not_an_object``.

Every record's position is its file name (the base name, or the path as given when two
inputs share a base name), partition -1 and its 1-based line number (row number for
Parquet). Events are CloudEvents as the service publishes them, with source
``/driftwarden/replay/<file name>`` and no ``time`` (so a replay is byte-identical).

Memory: one batch of payloads and its decoded columns, the decoder's and the bank's
bounds, and per-feature counters for at most ``max_tallied`` names (profile features, then
the first others met).
"""

from __future__ import annotations

import gzip
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from itertools import islice, starmap
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote

import msgspec
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from driftwarden.detectors.bank import BankOutput
from driftwarden.detectors.feature_banks import FeatureBanks, merge_outputs
from driftwarden.detectors.feature_batch import FeatureBatch, Kind, SourcePositions
from driftwarden.detectors.feature_split import split_by_feature
from driftwarden.detectors.numeric_monitor import NumericMonitor
from driftwarden.detectors.profile import Profile
from driftwarden.detectors.settings import DetectorSettings
from driftwarden.stream.cloudevents import alerts_of
from driftwarden.stream.config import InputSection
from driftwarden.stream.decoding.decoder import Decoder
from driftwarden.stream.decoding.decoder_options import decoder_options
from driftwarden.stream.decoding.struct_decoder import declarable
from driftwarden.stream.profiling.readers import (
    BadRow,
    InputError,
    RecordChunk,
    decompressed,
    infer_format,
    iter_chunks,
    open_binary,
)

__all__ = [
    "SOURCE_PREFIX",
    "FeatureSummary",
    "PayloadBatch",
    "ReplayReport",
    "ReplayStep",
    "Replayer",
    "RowEncoder",
    "payload_batches",
    "source_names",
]

SOURCE_PREFIX: Final = "/driftwarden/replay/"
_NUMERIC_NULLS: Final = ("", "na", "n/a", "nan", "null", "none")  # as ``profile build`` reads
_ENCODER: Final = msgspec.json.Encoder()
# Written verbatim: the decoder rejects these literals as ``non_finite_number``.
_INFINITY: Final = msgspec.Raw(b"Infinity")
_MINUS_INFINITY: Final = msgspec.Raw(b"-Infinity")


def source_names(paths: Iterable[str]) -> dict[str, str]:
    """The position source of each input: its base name, or the path as given when two
    inputs share a base name.

    >>> source_names(["a/prod.jsonl", "b/old.csv"])
    {'a/prod.jsonl': 'prod.jsonl', 'b/old.csv': 'old.csv'}
    >>> source_names(["a/x.csv", "b/x.csv"])
    {'a/x.csv': 'a/x.csv', 'b/x.csv': 'b/x.csv'}
    """
    paths = list(paths)
    names = {path: Path(path).name for path in paths}
    if len(set(names.values())) < len(set(paths)):
        return {path: path for path in paths}
    return names


@dataclass(frozen=True, slots=True)
class PayloadBatch:
    """Up to one batch of payloads of one file, with the 1-based line of each.

    ``bad_rows`` are records the file reader could not turn into payloads (a CSV row with
    the wrong number of fields, a Parquet row without its features struct), counted under
    ``bad_reason``; ``bytes_read`` is how far into the file reading has got.

    >>> PayloadBatch("prod.jsonl", [b'{"x": 1}', b'{"x": 2}'], np.array([1, 3])).lines.tolist()
    [1, 3]
    """

    path: str
    payloads: list[bytes]
    lines: npt.NDArray[np.int64]
    bad_rows: tuple[BadRow, ...] = ()
    bytes_read: int = 0
    bad_reason: str = "malformed_csv"


class RowEncoder:
    """Encodes the rows of a ``RecordChunk`` as JSON objects (see the module docstring).

    ``kinds`` are the known feature kinds (the decoder's); ``features_path`` nests each row.

    >>> import numpy as np
    >>> encoder = RowEncoder({"amount": "numeric"}, features_path="features")
    >>> chunk = RecordChunk(path="p.csv", lines=np.array([2, 3, 4]), text=True, columns={
    ...     "amount": np.array(["12.5", "", "12,5"], dtype=object),
    ...     "country": np.array(["FR", "", "007"], dtype=object),
    ...     "age": np.array(["31", "NA", "40"], dtype=object)})
    >>> for payload in encoder.encode(chunk):
    ...     print(payload.decode())
    {"features":{"amount":12.5,"country":"FR","age":31.0}}
    {"features":{"amount":null,"country":null,"age":null}}
    {"features":{"amount":"12,5","country":"007","age":40.0}}
    """

    def __init__(self, kinds: Mapping[str, str], features_path: str | None = None) -> None:
        self.kinds: dict[str, str] = dict(kinds)
        self._path: Final = tuple(features_path.split(".")) if features_path else ()
        self._row_names: tuple[str, ...] | None = None
        self._row_type: Callable[..., Any] = msgspec.Struct

    def encode(self, chunk: RecordChunk) -> list[bytes]:
        """One JSON object per record of ``chunk``, in order."""
        names = tuple(chunk.columns)
        columns = [self._column(name, chunk.columns[name], chunk.text) for name in names]
        rows = starmap(self._row(names), zip(*columns, strict=True))
        encode = _ENCODER.encode
        if not self._path:
            return [encode(row) for row in rows]
        return [encode(self._nest(row)) for row in rows]

    def _row(self, names: tuple[str, ...]) -> Callable[..., Any]:
        # A struct builds and encodes about twice as fast as a dict. Its fields are renamed
        # to the column names, which need not be identifiers; but msgspec cannot declare a
        # name holding a quote, a backslash or a control character (a CSV header may), so
        # rows with such a column are dicts.
        if names != self._row_names:
            if all(map(declarable, names)):
                fields = [f"f{i}" for i in range(len(names))]
                renamed = dict(zip(fields, names, strict=True))
                self._row_type = msgspec.defstruct("Row", fields, rename=renamed)
            else:
                self._row_type = partial(_dict_row, names)
            self._row_names = names
        return self._row_type

    def _nest(self, row: Any) -> dict[str, Any]:
        record: Any = row
        for part in reversed(self._path):
            record = {part: record}
        return record

    def _column(self, name: str, raw: Any, text: bool) -> list[Any]:
        if isinstance(raw, np.ndarray) and raw.dtype.kind == "f":  # numeric Parquet column
            return list(_json_numbers(raw).tolist())
        if not text:
            return list(raw)
        cells = np.asarray(raw, dtype=object)
        kind = self.kinds.get(name)
        if kind == "categorical":
            labels = cells.copy()
            labels[cells == ""] = None
            return list(labels.tolist())
        numbers, null, unparsed = _parse_numbers(cells)
        if kind is None:
            if null.all():
                return [None] * len(cells)
            if unparsed.any():
                self.kinds[name] = "categorical"
                return self._column(name, raw, text)
            self.kinds[name] = "numeric"
        values = _json_numbers(numbers)
        values[unparsed] = cells[unparsed]
        return list(values.tolist())


def _dict_row(names: tuple[str, ...], *values: Any) -> dict[str, Any]:
    return dict(zip(names, values, strict=True))


def _json_numbers(numbers: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.object_]:
    """Float values for the JSON encoder: NaN as None (null), infinities as literals."""
    values = numbers.astype(object)
    values[np.isnan(numbers)] = None
    # One by one: numpy would unpack a Raw (a buffer) given to a mask. Infinities are rare.
    for i in np.flatnonzero(np.isinf(numbers)).tolist():
        values[i] = _INFINITY if numbers[i] > 0 else _MINUS_INFINITY
    return values


def _parse_numbers(
    cells: npt.NDArray[np.object_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """CSV cells as float64 (NaN for null or text), the null mask, and the mask of non-null
    cells that are not numbers (``inf`` is a number)."""
    try:  # the common case, about twice as fast as going through numpy strings
        numbers = np.where(cells == "", "nan", cells).astype(np.float64)
    except ValueError:
        pass
    else:
        null = np.isnan(numbers)
        return numbers, null, np.zeros_like(null)
    text = cells.astype(np.str_)
    null = np.isin(np.char.lower(np.char.strip(text)), _NUMERIC_NULLS)
    numbers = np.full(len(cells), np.nan)
    for i in np.flatnonzero(~null).tolist():  # only a chunk with a null word or text
        try:
            numbers[i] = float(text[i])
        except ValueError:
            pass
    return numbers, null, ~null & np.isnan(numbers)


def payload_batches(
    path: str,
    fmt: str | None,
    batch_size: int,
    encoder: RowEncoder,
    features_path: str | None = None,
) -> Iterator[PayloadBatch]:
    """The payloads of file ``path`` in batches of at most ``batch_size`` records.

    ``fmt`` forces the format (else the extension decides); ``encoder`` turns CSV and
    Parquet rows into JSON objects; ``features_path`` names the struct column of a Parquet
    file that holds the features (a row where it is null is a bad row, counted as
    ``features_not_an_object``). A file that cannot be read raises ``InputError``.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp, "prod.csv")
    ...     _ = path.write_text("x,c\\n1.5,FR\\n,DE\\n")
    ...     batches = list(payload_batches(str(path), None, 1000, RowEncoder({})))
    >>> batches[0].payloads, batches[0].lines.tolist()
    ([b'{"x":1.5,"c":"FR"}', b'{"x":null,"c":"DE"}'], [2, 3])
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    file_fmt = fmt or infer_format(path)
    if file_fmt == "jsonl":
        yield from _jsonl_batches(path, batch_size)
        return
    parquet = file_fmt == "parquet"
    reason = "features_not_an_object" if parquet else "malformed_csv"
    for chunk in iter_chunks([path], file_fmt, features_path if parquet else None, batch_size):
        bad_rows = chunk.bad_rows
        if parquet:
            bad_rows = tuple(BadRow(r.path, r.line, f"{reason}: {r.reason}") for r in bad_rows)
        payloads = encoder.encode(chunk)
        yield PayloadBatch(path, payloads, chunk.lines, bad_rows, chunk.bytes_read, reason)


def _jsonl_batches(path: str, batch_size: int) -> Iterator[PayloadBatch]:
    with open_binary(path) as raw:
        lines = decompressed(raw, path)
        first_line, looked_at_first = 1, False
        try:
            while block := list(islice(lines, batch_size)):
                # Whitespace around a JSON value means nothing; blank lines are no records.
                payloads = [line.strip() for line in block]
                numbers = np.arange(first_line, first_line + len(block), dtype=np.int64)
                if not all(payloads):
                    keep = np.fromiter(map(bool, payloads), dtype=np.bool_, count=len(block))
                    payloads, numbers = [p for p in payloads if p], numbers[keep]
                if payloads and not looked_at_first:
                    looked_at_first = True
                    if payloads[0].startswith(b"["):
                        raise InputError(
                            f"{path}:{numbers[0]}: a JSON array, not JSON Lines; "
                            "write one object per line"
                        )
                if payloads:
                    yield PayloadBatch(path, payloads, numbers, (), raw.tell())
                first_line += len(block)
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise InputError(
                f"{path}: unreadable compressed data ({error}); is the file complete?"
            ) from None


@dataclass(frozen=True, slots=True)
class ReplayStep:
    """What one batch gave: its events (encoded CloudEvents) and its rejected records, in
    line order.

    >>> print(ReplayStep([], [BadRow("prod.jsonl", 3, "malformed_json: truncated")]).rejected[0])
    prod.jsonl:3: malformed_json: truncated
    """

    events: list[bytes]
    rejected: list[BadRow]


class FeatureSummary(BaseModel):
    """One feature over a replay: how often it had a value, its latest statistics (of the
    last complete detector window) and the events it raised by type.

    >>> FeatureSummary(kind="numeric", in_profile=True, values=90, nulls=4, absent=6,
    ...                statistics={"psi": 0.31}, events={"drift.detected": 1}).events
    {'drift.detected': 1}
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["numeric", "categorical"] | None
    in_profile: bool
    values: int = Field(description="accepted records with a usable value")
    nulls: int = Field(description="accepted records where the field was null or unusable")
    absent: int = Field(description="accepted records without the field")
    statistics: dict[str, float | None] = Field(default_factory=dict)
    events: dict[str, int] = Field(default_factory=dict)


class ReplayReport(BaseModel):
    """The summary of a replay (``driftwarden replay --report``); its JSON Schema is
    ``ReplayReport.model_json_schema()``.

    >>> report = ReplayReport(inputs=["prod.jsonl"], records=2, accepted=2, rejected=0,
    ...     rejected_by_reason={}, events=0, events_by_type={}, features={})
    >>> report.model_dump()["accepted"]
    2
    """

    model_config = ConfigDict(extra="forbid")

    inputs: list[str]
    records: int = Field(description="records read, accepted or rejected")
    accepted: int
    rejected: int
    rejected_by_reason: dict[str, int]
    events: int
    events_by_type: dict[str, int]
    features: dict[str, FeatureSummary]


@dataclass(slots=True)
class _Tally:
    present: int = 0
    values: int = 0
    kind: Kind | None = None
    events: Counter[str] = field(default_factory=Counter)


class Replayer:
    """Runs the service's decoder and detector bank over ``PayloadBatch``es.

    ``observer``, when given, sees every decoded batch and the bank's output for it (the
    HTML report's ``ReplayCollector.observe``).

    >>> from driftwarden.detectors.feature_batch import SourcePositions
    >>> replayer = Replayer(None, DetectorSettings(schema={"missing_grace": 2}))
    >>> lines = [b'{"x": 1, "c": "a"}', b'{"x": 2, "c": "b"}', b'{oops', b'{"x": 3}',
    ...          b'{"x": 4}', b'{"x": 5}']
    >>> step = replayer.process(PayloadBatch("in.jsonl", lines, np.arange(1, 7)), "in.jsonl")
    >>> [str(row) for row in step.rejected]  # doctest: +ELLIPSIS
    ['in.jsonl:3: malformed_json: ...']
    >>> events = [msgspec.json.decode(e) for e in step.events]
    >>> [(e["type"], e["data"]["findings"][0]["kind"]) for e in events]
    [('driftwarden.incident.opened.v1', 'missing_field')]
    >>> report = replayer.report(["in.jsonl"])
    >>> report.accepted, report.features["c"].values, report.features["c"].absent
    (5, 2, 3)
    """

    def __init__(
        self,
        profile: Profile | None,
        settings: DetectorSettings,
        input_section: InputSection | None = None,
        max_tallied: int = 10_000,
        detector_events: bool = False,
        observer: Callable[[FeatureBatch, BankOutput], None] | None = None,
    ) -> None:
        self.profile = profile
        self.detector_events = detector_events
        self.observer = observer
        options = decoder_options(settings, input_section or InputSection(), profile)
        self.decoder = Decoder(**options)
        # Stage two of the service: one bank per feature, fed the feature's chunk of each batch.
        self.banks = FeatureBanks(settings, profile)
        self.kinds: Final[dict[str, str]] = dict(options["kinds"])
        self.max_tallied = max_tallied
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self._tallies: dict[str, _Tally] = {
            name: _Tally(kind=feature.kind)
            for name, feature in (profile.features.items() if profile else ())
        }

    def process(self, batch: PayloadBatch, source: str) -> ReplayStep:
        """Decode ``batch`` (its records named ``source`` in positions), run the bank over
        the accepted records, and return the events and rejected records."""
        n = len(batch.payloads)
        positions = SourcePositions(
            sources=(source,),
            source_ids=np.zeros(n, dtype=np.int32),
            partitions=np.full(n, -1, dtype=np.int32),
            offsets=np.asarray(batch.lines, dtype=np.int64),
        )
        result = self.decoder.decode(batch.payloads, positions)
        rejected = list(batch.bad_rows)
        self.rejected[batch.bad_reason] += len(batch.bad_rows)
        for item in result.rejected:
            line = int(batch.lines[item.index])
            rejected.append(BadRow(batch.path, line, f"{item.reason}: {item.detail}"))
            self.rejected[item.reason] += 1
        rejected.sort(key=lambda row: row.line)
        if result.batch is None:
            return ReplayStep([], rejected)
        self._count(result.batch)
        output = merge_outputs(
            [
                self.banks.run(name, chunk)
                for name, chunk in split_by_feature(result.batch, self.decoder.known_fields).items()
            ]
        )
        if self.observer is not None:
            self.observer(result.batch, output)
        encoded = []
        for alert in alerts_of(output, SOURCE_PREFIX + quote(source), self.detector_events):
            self.events[alert.kind] += 1
            tally = self._tally(alert.feature)
            if tally is not None:
                tally.events[alert.kind] += 1
            encoded.append(alert.encode(None))
        return ReplayStep(encoded, rejected)

    def _tally(self, name: str) -> _Tally | None:
        tally = self._tallies.get(name)
        if tally is None and len(self._tallies) < self.max_tallied:
            tally = self._tallies[name] = _Tally()
        return tally

    def _count(self, batch: FeatureBatch) -> None:
        self.accepted += batch.n_records
        for name, mask in batch.present.items():
            tally = self._tally(name)
            if tally is None:
                continue
            tally.present += int(np.count_nonzero(mask))
            numbers = batch.numeric.get(name)
            labels = batch.categorical.get(name)
            if numbers is not None:
                tally.values += int(np.count_nonzero(~np.isnan(numbers)))
                tally.kind = tally.kind or "numeric"
            elif labels is not None:
                tally.values += int(np.count_nonzero(labels != None))  # noqa: E711
                tally.kind = tally.kind or "categorical"

    def report(self, inputs: list[str]) -> ReplayReport:
        """The summary so far: counts, per-feature statistics and events."""
        statistics = self.banks.statistics()
        features = {}
        for name in sorted(self._tallies):
            tally = self._tallies[name]
            bank = self.banks.banks.get(name)
            monitor = bank.monitors.get(name) if bank is not None else None
            kind = tally.kind
            if monitor is not None:
                kind = "numeric" if isinstance(monitor, NumericMonitor) else "categorical"
            features[name] = FeatureSummary(
                kind=kind,
                in_profile=self.profile is not None and name in self.profile.features,
                values=tally.values,
                nulls=tally.present - tally.values,
                absent=self.accepted - tally.present,
                statistics={
                    key: value if np.isfinite(value) else None
                    for key, value in sorted(statistics.get(name, {}).items())
                },
                events=dict(sorted(tally.events.items())),
            )
        rejected = sum(self.rejected.values())
        return ReplayReport(
            inputs=inputs,
            records=self.accepted + rejected,
            accepted=self.accepted,
            rejected=rejected,
            rejected_by_reason=dict(sorted((k, v) for k, v in self.rejected.items() if v)),
            events=sum(self.events.values()),
            events_by_type=dict(sorted(self.events.items())),
            features=features,
        )
