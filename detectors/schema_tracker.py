"""Which fields arrive, which vanish, and which change JSON type, against the reference.

``SchemaTracker.update`` reads a ``FeatureBatch``'s ``present`` masks, ``types`` sets and
``type_first`` positions and returns ``SchemaReport`` values, each with a ``kind``:

- ``"novel"``: a field the reference never had, once per field, at its first occurrence.
- ``"missing"``: a reference field absent from more than ``missing_grace`` consecutive
  records, at the record that makes the absence ``missing_grace + 1`` long (a field absent from
  the start of the stream counts from the first record). Reported once per absence.
- ``"returned"``: a missing field arriving again, at that record; ``absent_records`` is the
  length of the absence.
- ``"type_changed"``: a reference field arriving with a JSON type its kind does not allow
  (numeric allows ``number`` and ``null``; categorical allows ``string``, ``bool`` and
  ``null``), once per (field, type), even if every record holding it was rejected by the
  decoder. ``index`` is the first record of the stream at or after the first record (kept
  or rejected) holding the type, from the batch's ``type_first``; when no record of the
  batch follows it, the report is held and made at record 0 of the next batch. A batch
  without ``type_first`` gives no positions: ``index`` is then the field's first record in
  the batch.
- ``"field_cap"``: a new field name arrived when ``max_fields`` names were already tracked;
  reported once. Later new names are counted in ``untracked_fields`` (once per batch in which
  each appears, since remembering them would break the bound) but not tracked.

Absence runs are computed from the positions of presence in each batch and carried over
batches as the global record number of the last presence, so the reports do not depend on
how the stream is split into batches (for ``type_changed``, when batches carry
``type_first``).

Without a reference (``ref_fields=None``) the first batch's fields become the reference; a
field's kind is ``numeric`` or ``categorical`` when the batch decoded it as such, otherwise
it is inferred from its types, and a field of no clear kind is tracked for absence only.

Memory bound: one entry per tracked field name, at most ``max(max_fields, len(ref_fields))``
entries, each a name, a kind, three integers and at most six reported types; and at most
one held ``type_changed`` report per reported type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, Self

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.feature_batch import FeatureBatch
from driftwarden.detectors.snapshots import check_snapshot

__all__ = ["FIELD_KINDS", "SchemaReport", "SchemaTracker"]

FIELD_KINDS: Final[tuple[str, ...]] = ("numeric", "categorical")
_ALLOWED_TYPES: Final[dict[str, frozenset[str]]] = {
    "numeric": frozenset({"number", "null"}),
    "categorical": frozenset({"string", "bool", "null"}),
}
_REPORT_ORDER: Final[dict[str, int]] = {
    "field_cap": 0,
    "novel": 1,
    "returned": 2,
    "type_changed": 3,
    "missing": 4,
}
_NEVER: Final[int] = -1  # "last present" of a field not seen yet: absences count from record 0
_SNAPSHOT_KIND: Final[str] = "SchemaTracker"
_SNAPSHOT_VERSION: Final[int] = 2  # 2 added the held type_changed reports
_READABLE_VERSIONS: Final[tuple[int, ...]] = (1, 2)

ReportKind = Literal["novel", "missing", "returned", "type_changed", "field_cap"]


@dataclass(frozen=True, slots=True)
class SchemaReport:
    """One schema event; ``index`` is the record (in the batch) it points at.

    ``expected_kind`` and ``observed_type`` are set for ``"type_changed"``;
    ``absent_records`` for ``"missing"`` (``missing_grace + 1``) and ``"returned"``.

    >>> SchemaReport("type_changed", "amount", 7, "numeric", "string").observed_type
    'string'
    """

    kind: ReportKind
    field: str
    index: int
    expected_kind: str | None = None
    observed_type: str | None = None
    absent_records: int = 0


@dataclass(slots=True)
class _Field:
    kind: str | None  # "numeric" | "categorical" | None (no type check)
    in_reference: bool
    last_present: int = _NEVER
    missing: bool = False
    reported_types: set[str] | None = None


def _report_order(report: SchemaReport) -> tuple[int, int, str, str]:
    return (report.index, _REPORT_ORDER[report.kind], report.field, report.observed_type or "")


def _type_first(batch: FeatureBatch, name: str, where: npt.NDArray[np.intp]) -> dict[str, int]:
    """The record of each type of field ``name``: ``type_first`` if the batch has it, else
    the field's first record in the batch (``where``: its records)."""
    if batch.type_first:
        return batch.type_first.get(name, {})
    if where.size == 0:
        return {}
    return dict.fromkeys(batch.types.get(name, ()), int(where[0]))


def _infer_kind(batch: FeatureBatch, name: str) -> str | None:
    if name in batch.numeric:
        return "numeric"
    if name in batch.categorical:
        return "categorical"
    types = batch.types.get(name, frozenset()) - {"null"}
    for kind, allowed in _ALLOWED_TYPES.items():
        if types and types <= allowed:
            return kind
    return None


class SchemaTracker:
    """Novel, missing, returned and re-typed fields of a stream of feature records.

    Here ``amount`` arrived as a string in a record the decoder rejected just before the
    batch's record 3:

    >>> import numpy as np
    >>> from driftwarden.detectors.feature_batch import FeatureBatch, SourcePositions
    >>> tracker = SchemaTracker({"amount": "numeric", "country": "categorical"}, missing_grace=2)
    >>> present = np.array([True, True, False, False, False, True])
    >>> batch = FeatureBatch(
    ...     n_records=6,
    ...     numeric={"amount": np.ones(6)},
    ...     categorical={},
    ...     present={"amount": np.ones(6, dtype=bool), "country": present,
    ...              "device": ~present},
    ...     types={"amount": frozenset({"number", "string"}), "country": frozenset({"string"}),
    ...            "device": frozenset({"string"})},
    ...     positions=SourcePositions.sequential("payments", 6),
    ...     type_first={"amount": {"number": 0, "string": 3}, "country": {"string": 0},
    ...                 "device": {"string": 2}},
    ... )
    >>> for report in tracker.update(batch):
    ...     print(report.kind, report.field, report.index)
    novel device 2
    type_changed amount 3
    missing country 4
    returned country 5
    """

    def __init__(
        self,
        ref_fields: Mapping[str, str] | None,
        missing_grace: int = 1000,
        max_fields: int = 1000,
    ) -> None:
        if missing_grace < 0 or max_fields < 1:
            raise ValueError(
                f"need missing_grace >= 0 and max_fields >= 1, got {missing_grace} and {max_fields}"
            )
        self.missing_grace = missing_grace
        self.max_fields: Final[int] = max_fields
        self.untracked_fields = 0
        self._cap_reported = False
        self._n_records = 0
        self._has_reference = ref_fields is not None
        self._fields: dict[str, _Field] = {}
        # type_changed reports past the end of their batch, made at the next batch's record 0
        self._held: list[SchemaReport] = []
        if ref_fields is not None:
            if len(ref_fields) > max_fields:
                raise ValueError(
                    f"the reference has {len(ref_fields)} fields but max_fields is "
                    f"{max_fields}: raise max_fields to at least {len(ref_fields)}"
                )
            for name, kind in ref_fields.items():
                if kind not in FIELD_KINDS:
                    raise ValueError(f"field {name!r}: kind {kind!r} is not one of {FIELD_KINDS}")
                self._fields[name] = _Field(kind=kind, in_reference=True)

    @property
    def reference_fields(self) -> dict[str, str | None]:
        """The reference's fields with their kinds (``None``: kind unknown)."""
        return {name: f.kind for name, f in sorted(self._fields.items()) if f.in_reference}

    @property
    def missing_fields(self) -> list[str]:
        """Reference fields currently reported missing."""
        return sorted(name for name, f in self._fields.items() if f.missing)

    def update(self, batch: FeatureBatch) -> list[SchemaReport]:
        """Track one batch; return its reports ordered by index."""
        start, n = self._n_records, batch.n_records
        if not self._has_reference:
            for name in sorted(batch.present):
                self._fields[name] = _Field(kind=_infer_kind(batch, name), in_reference=True)
            self._fields = dict(list(self._fields.items())[: self.max_fields])
            self._has_reference = True
        reports: list[SchemaReport] = []
        if n and self._held:
            reports.extend(replace(report, index=0) for report in self._held)
            self._held = []
        for name in sorted(batch.present.keys() | batch.type_first.keys()):
            mask = batch.present.get(name)
            where = np.flatnonzero(mask) if mask is not None else np.empty(0, np.intp)
            field = self._fields.get(name)
            if field is None:
                if where.size == 0:
                    continue
                field = self._admit(name, int(where[0]), reports)
                if field is None:
                    continue
            elif field.kind is not None:
                firsts = _type_first(batch, name, where)
                self._check_types(name, field, field.kind, firsts, n, reports)
            if field.in_reference and where.size:
                self._track_absence(name, field, start + where, reports)
        for name, field in self._fields.items():
            if field.in_reference:
                self._close_absence(name, field, start + n, reports)
        self._n_records += n
        return sorted(reports, key=_report_order)

    def _admit(self, name: str, first: int, reports: list[SchemaReport]) -> _Field | None:
        """Start tracking a field the reference never had, unless the cap is reached."""
        if len(self._fields) >= self.max_fields:
            self.untracked_fields += 1
            if not self._cap_reported:
                self._cap_reported = True
                reports.append(SchemaReport(kind="field_cap", field=name, index=first))
            return None
        field = _Field(kind=None, in_reference=False)
        self._fields[name] = field
        reports.append(SchemaReport(kind="novel", field=name, index=first))
        return field

    def _check_types(
        self,
        name: str,
        field: _Field,
        kind: str,
        firsts: Mapping[str, int],
        n: int,
        reports: list[SchemaReport],
    ) -> None:
        """Report each type of ``firsts`` (type → its record) the kind does not allow, once;
        a report at ``n``, past the batch, is held for the next batch."""
        reported = field.reported_types or set()
        for observed in sorted(firsts.keys() - _ALLOWED_TYPES[kind] - reported):
            reported.add(observed)
            report = SchemaReport(
                kind="type_changed",
                field=name,
                index=firsts[observed],
                expected_kind=kind,
                observed_type=observed,
            )
            (reports if report.index < n else self._held).append(report)
        field.reported_types = reported or None

    def _track_absence(
        self,
        name: str,
        field: _Field,
        present_at: npt.NDArray[np.intp],
        reports: list[SchemaReport],
    ) -> None:
        """Report absences longer than the grace that end at one of ``present_at``."""
        previous = np.concatenate(([field.last_present], present_at[:-1]))
        gaps = present_at - previous - 1
        for i in np.flatnonzero(gaps > self.missing_grace).tolist():
            if not field.missing:
                self._report_missing(name, int(previous[i]), reports)
            reports.append(
                SchemaReport(
                    kind="returned",
                    field=name,
                    index=int(present_at[i]) - self._n_records,
                    absent_records=int(gaps[i]),
                )
            )
            field.missing = False
        field.last_present = int(present_at[-1])

    def _close_absence(
        self, name: str, field: _Field, end: int, reports: list[SchemaReport]
    ) -> None:
        """Report a field whose absence, running to the batch's end, outgrew the grace."""
        if not field.missing and end - field.last_present - 1 > self.missing_grace:
            self._report_missing(name, field.last_present, reports)
            field.missing = True

    def _report_missing(self, name: str, last_present: int, reports: list[SchemaReport]) -> None:
        reports.append(
            SchemaReport(
                kind="missing",
                field=name,
                index=last_present + self.missing_grace + 1 - self._n_records,
                absent_records=self.missing_grace + 1,
            )
        )

    def snapshot(self) -> dict[str, Any]:
        """Return the full state as a JSON-serialisable dict."""
        return {
            "kind": _SNAPSHOT_KIND,
            "version": _SNAPSHOT_VERSION,
            "params": {"missing_grace": self.missing_grace, "max_fields": self.max_fields},
            "has_reference": self._has_reference,
            "n_records": self._n_records,
            "untracked_fields": self.untracked_fields,
            "cap_reported": self._cap_reported,
            "held": [
                {
                    "field": r.field,
                    "expected_kind": r.expected_kind,
                    "observed_type": r.observed_type,
                }
                for r in self._held
            ],
            "fields": [
                {
                    "name": name,
                    "kind": f.kind,
                    "in_reference": f.in_reference,
                    "last_present": f.last_present,
                    "missing": f.missing,
                    "reported_types": sorted(f.reported_types or ()),
                }
                for name, f in sorted(self._fields.items())
            ],
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> Self:
        """Rebuild a tracker from ``snapshot()`` output; it makes the same future reports.

        Version 1 snapshots (no held reports) are read too.
        """
        check_snapshot(state, _SNAPSHOT_KIND, _READABLE_VERSIONS)
        tracker = cls(None, **state["params"])
        tracker._has_reference = state["has_reference"]
        tracker._n_records = state["n_records"]
        tracker.untracked_fields = state["untracked_fields"]
        tracker._cap_reported = state["cap_reported"]
        tracker._fields = {
            f["name"]: _Field(
                kind=f["kind"],
                in_reference=f["in_reference"],
                last_present=f["last_present"],
                missing=f["missing"],
                reported_types=set(f["reported_types"]) or None,
            )
            for f in state["fields"]
        }
        tracker._held = [
            SchemaReport(
                kind="type_changed",
                field=h["field"],
                index=0,
                expected_kind=h["expected_kind"],
                observed_type=h["observed_type"],
            )
            for h in state.get("held", [])
        ]
        return tracker
