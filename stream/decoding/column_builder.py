"""Each field's values (``raw_columns``) → one numpy column per feature, bad values marked.

``ColumnBuilder.build`` turns the ``RawColumns`` of a batch into the columns of a
``FeatureBatch``:

- ``numeric[name]``: float64, NaN for null or absent.
- ``categorical[name]``: object array of ``str``, None for null or absent. Booleans become
  ``"true"`` / ``"false"`` and numbers are labelled as the profile builder labels them
  (``7`` and ``7.0`` → ``"7"``, ``2.5`` → ``"2.5"``), so live categories match the reference.
- ``present[name]``: whether the key was in the record (even with null).
- ``types[name]``: the JSON types seen, over every record given, kept or not.
- ``type_first[name][json_type]``: for each of those types, the index (among the kept
  records) of the first kept record at or after the first record holding it; the number of
  kept records if none follows it. So a type seen only in a record left out still points
  at a record of the batch, or past its end.

Kinds. A feature's kind comes from ``kinds`` (the reference profile); otherwise the first
non-null scalar value of the batch decides it (number → numeric, string or bool →
categorical) and the builder remembers it, for at most ``max_learned_kinds`` names; past
that, new names are typed anew in each batch. A field holding only nulls, objects or arrays
has no kind and no column (it still has ``present`` and ``types``).

Bad values. A value whose JSON type does not fit the kind (a string, bool, object or array
for a numeric feature; an object or array for a categorical one) is a *wrong type*: the
record is reported in ``wrong_type`` and left out, or, with ``on_wrong_type="null"``, the
value is read as missing and the record kept. A number that overflows float64 (an integer
literal beyond ±1.8e308) is reported in ``non_finite`` whatever the kind, and left out.

Bounds. Per batch, at most ``max_batch_fields`` field names beyond those of ``kinds`` get
columns (``admission()``: first met first; the others are counted, not built), so a flood of
random field names costs O(records × cap) memory. State kept across batches: the learned
kinds, at most ``max_learned_kinds`` names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import compress
from operator import indexOf
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.category_label import category_label
from driftwarden.detectors.feature_batch import Kind
from driftwarden.stream.decoding.raw_columns import (
    ABSENT,
    FieldAdmission,
    RawColumn,
    RawColumns,
    Values,
)

__all__ = ["BuiltColumns", "ColumnBuilder"]

_ABSENT_TYPE: Final = type(ABSENT)

_JSON_TYPE: Final[dict[type, str]] = {
    float: "number",
    int: "number",
    str: "string",
    bool: "bool",
    type(None): "null",
    dict: "object",
    list: "array",
}
_NUMBERS: Final = frozenset({int, float})
_LABELS: Final = frozenset({str, bool})
_SCALARS: Final = _NUMBERS | _LABELS
_FITS: Final[dict[str, frozenset[type]]] = {
    "numeric": frozenset({int, float, type(None)}),
    "categorical": frozenset({str, bool, int, float, type(None)}),
}
_SHOWN_CHARS: Final[int] = 40
_SHOWN_PROBLEMS: Final[int] = 3
_Problems = dict[int, list[str]]  # record → messages, in feature order
_LOG10_2: Final[float] = 0.30102999566398120


@dataclass(frozen=True, slots=True)
class BuiltColumns:
    """The columns of the kept records, and what was wrong with the others.

    ``kept`` has one entry per record given to ``build``; the arrays have one entry per kept
    record, and the dicts are in name order. ``type_first`` is as in the module docstring.
    ``wrong_type`` and ``non_finite`` map a record's position (among those given to
    ``build``) to a message naming each bad feature (in name order, the first three) and its
    value. See ``ColumnBuilder`` for an example.
    """

    kept: npt.NDArray[np.bool_]
    numeric: dict[str, npt.NDArray[np.float64]]
    categorical: dict[str, npt.NDArray[np.object_]]
    present: dict[str, npt.NDArray[np.bool_]]
    types: dict[str, frozenset[str]]
    type_first: dict[str, dict[str, int]]
    wrong_type: dict[int, str]
    non_finite: dict[int, str]


class ColumnBuilder:
    """Builds feature columns from raw columns (see the module docstring).

    >>> from driftwarden.stream.decoding.raw_columns import raw_columns
    >>> builder = ColumnBuilder(kinds={"age": "numeric"})
    >>> records = [{"age": 31, "city": "Lyon"}, {"age": "old", "city": None}]
    >>> built = builder.build(raw_columns(records, builder.admission()), len(records))
    >>> built.kept.tolist(), built.numeric["age"].tolist(), built.categorical["city"].tolist()
    ([True, False], [31.0], ['Lyon'])
    >>> built.wrong_type
    {1: "feature 'age' is numeric, got string 'old'"}
    >>> sorted(built.types["age"]), builder.learned_kinds
    (['number', 'string'], {'city': 'categorical'})
    >>> built.type_first["age"], built.type_first["city"]  # no kept record after 'old'
    ({'number': 0, 'string': 1}, {'null': 1, 'string': 0})
    """

    def __init__(
        self,
        *,
        kinds: Mapping[str, Kind] | None = None,
        ignore: Iterable[str] = (),
        on_wrong_type: Literal["dlq", "null"] = "dlq",
        max_learned_kinds: int = 10_000,
        max_batch_fields: int = 1_000,
    ) -> None:
        kinds = dict(kinds or {})
        for name, kind in kinds.items():
            _check_kind(name, kind)
        if on_wrong_type not in ("dlq", "null"):
            raise ValueError(f"on_wrong_type must be 'dlq' or 'null', got {on_wrong_type!r}")
        if max_learned_kinds < 0 or max_batch_fields < 0:
            raise ValueError("max_learned_kinds and max_batch_fields must be >= 0")
        self.ignore: Final = frozenset(ignore)
        self.kinds: Final[Mapping[str, Kind]] = {
            n: k for n, k in kinds.items() if n not in self.ignore
        }
        self.on_wrong_type: Final = on_wrong_type
        self.max_learned_kinds: Final = max_learned_kinds
        self.max_batch_fields: Final = max_batch_fields
        self._learned: dict[str, Kind] = {}

    @property
    def learned_kinds(self) -> dict[str, Kind]:
        """The kinds inferred so far for names not in ``kinds`` (a copy)."""
        return dict(self._learned)

    @property
    def known_names(self) -> set[str]:
        """Every name with a fixed kind, given or learned (no copy of the kinds made)."""
        return self.kinds.keys() | self._learned.keys()

    def kind(self, name: str) -> Kind | None:
        """The fixed kind of ``name`` (given or learned), if any."""
        return self.kinds.get(name) or self._learned.get(name)

    def remember(self, learned: Mapping[str, Kind]) -> None:
        """Adopt previously learned kinds (from ``learned_kinds``), within the bound."""
        for name, kind in learned.items():
            _check_kind(name, kind)
            if name not in self.kinds and len(self._learned) < self.max_learned_kinds:
                self._learned.setdefault(name, kind)

    def admission(self) -> FieldAdmission:
        """A fresh admission for one batch."""
        return FieldAdmission(frozenset(self.kinds), self.ignore, self.max_batch_fields)

    def build(self, raw: RawColumns, n: int) -> BuiltColumns:
        """Columns of ``n`` records; those with a wrong type (with ``on_wrong_type="dlq"``) or
        a non-finite number are left out and reported."""
        wrong: _Problems = {}
        non_finite: _Problems = {}
        numeric: dict[str, npt.NDArray[np.float64]] = {}
        categorical: dict[str, npt.NDArray[np.object_]] = {}
        present: dict[str, npt.NDArray[np.bool_]] = {}
        types: dict[str, frozenset[str]] = {}
        first_rows: dict[str, dict[str, int]] = {}
        for name in sorted(raw):  # an order that does not depend on how records were decoded
            column_in = raw[name]
            seen = column_in.seen - {_ABSENT_TYPE}
            if not seen:
                continue  # lacking in every record: not a field of this batch
            absent = _ABSENT_TYPE in column_in.seen
            types[name] = frozenset(map(_JSON_TYPE.__getitem__, seen))
            kind = self._kind_of(name, column_in, seen)
            misfit = seen - _FITS[kind] if kind else None
            # Values are only gathered when needed: the fast path rarely needs them.
            values = (
                _set_aside(name, kind, column_in.values, misfit, wrong) if kind and misfit else None
            )
            mask = column_in.present
            if kind == "numeric":
                column = column_in.floats
                if column is None or misfit:
                    current = column_in.values if values is None else values
                    column = _floats(name, current, non_finite)
                numeric[name] = column
                # NaN only where lacking: no scan needed (not so in a column made here, where
                # integers overflowing float64 are NaN too)
                raw_floats = column is column_in.floats
                if absent and mask is None and raw_floats and type(None) not in seen:
                    mask = ~np.isnan(column)
            if mask is None:
                mask = column_in.presence()
            if kind == "categorical":
                current = column_in.values if values is None else values
                categorical[name] = labels = _labels(name, current, seen, non_finite)
                if mask is not None:
                    labels[~mask] = None
            present[name] = np.ones(n, dtype=np.bool_) if mask is None else mask
            first_rows[name] = _first_rows(column_in, seen, mask)
        kept = np.ones(n, dtype=np.bool_)
        if self.on_wrong_type == "null":
            wrong = {}
        if wrong or non_finite:
            kept[[*wrong, *non_finite]] = False
            numeric = {name: column[kept] for name, column in numeric.items()}
            categorical = {name: column[kept] for name, column in categorical.items()}
            present = {name: mask[kept] for name, mask in present.items()}
        return BuiltColumns(
            kept,
            numeric,
            categorical,
            present,
            types,
            _among_kept(first_rows, kept),
            _details(wrong),
            _details(non_finite),
        )

    def _kind_of(self, name: str, column: RawColumn, seen: set[type]) -> Kind | None:
        kind = self.kind(name)
        if kind is not None:
            return kind
        scalars = seen & _SCALARS
        if not scalars:
            return None
        if scalars <= _NUMBERS:
            kind = "numeric"
        elif scalars <= _LABELS:
            kind = "categorical"
        else:
            first = next(value for value in column.values if type(value) in _SCALARS)
            kind = "numeric" if type(first) in _NUMBERS else "categorical"
        if len(self._learned) < self.max_learned_kinds:
            self._learned[name] = kind
        return kind


def _first_rows(
    column: RawColumn, seen: set[type], mask: npt.NDArray[np.bool_] | None
) -> dict[str, int]:
    """The first record holding each JSON type of ``seen`` (the types of the records that
    have the field; ``mask``: which do, None if all)."""
    names = {_JSON_TYPE[kind] for kind in seen}
    first_present = 0 if mask is None else int(np.argmax(mask))
    if len(names) == 1:
        return {names.pop(): first_present}
    floats = column.floats
    if names == {"number", "null"} and floats is not None:  # numeric columns: no scan
        gaps = np.isnan(floats)
        nulls = gaps if mask is None else gaps & mask
        return {"null": int(np.argmax(nulls)), "number": int(np.argmax(~gaps))}
    # Which records lack the field is only known from ``mask`` (the fast path's lacking
    # numeric values are floats), so look among the records that have it.
    flags = None if mask is None else mask.tolist()
    rows = None if mask is None else np.flatnonzero(mask)
    first: dict[str, int] = {}
    for kind in seen:
        values = column.values if flags is None else compress(column.values, flags)
        at = indexOf(map(type, values), kind)  # stops at the first: C speed, no Python loop
        row = at if rows is None else int(rows[at])
        name = _JSON_TYPE[kind]
        first[name] = min(row, first.get(name, row))
    return dict(sorted(first.items()))


def _among_kept(
    first_rows: dict[str, dict[str, int]], kept: npt.NDArray[np.bool_]
) -> dict[str, dict[str, int]]:
    """Each first row as the index, among the kept records, of the first kept at or after it."""
    if kept.all():
        return first_rows
    rows = [row for firsts in first_rows.values() for row in firsts.values()]
    at = iter(np.searchsorted(np.flatnonzero(kept), rows).tolist())
    return {name: {kind: next(at) for kind in firsts} for name, firsts in first_rows.items()}


def _details(problems: _Problems) -> dict[int, str]:
    """One message per record: its problems in feature order, at most ``_SHOWN_PROBLEMS``."""
    details = {}
    for i, messages in problems.items():
        more = len(messages) - _SHOWN_PROBLEMS
        details[i] = "; ".join(messages[:_SHOWN_PROBLEMS]) + (
            f"; and {more} more" if more > 0 else ""
        )
    return details


def _check_kind(name: str, kind: str) -> None:
    if kind not in _FITS:
        raise ValueError(f"feature {name!r}: kind {kind!r} is not numeric or categorical")


def _set_aside(
    name: str, kind: Kind, values: Values, misfit: set[type], wrong: _Problems
) -> list[Any]:
    """Report the records whose value does not fit ``kind``; return values with those None."""
    cleaned = list(values)
    for i, value in enumerate(values):
        if type(value) in misfit:
            cleaned[i] = None
            got = f"{_JSON_TYPE[type(value)]} {_shown(value)}"
            wrong.setdefault(i, []).append(f"feature {name!r} is {kind}, got {got}")
    return cleaned


def _floats(name: str, values: Values, non_finite: _Problems) -> npt.NDArray[np.float64]:
    """``values`` (numbers, None, ABSENT or another NaN) as float64, every NaN numpy's own;
    integers beyond float64 are reported."""
    try:
        column = np.array(values, dtype=np.float64)
    except OverflowError:
        cleaned = list(values)
        for i in _overflowing(values):
            cleaned[i] = None
            non_finite.setdefault(i, []).append(_overflow_message(name, values[i]))
        column = np.array(cleaned, dtype=np.float64)
    np.copyto(column, np.nan, where=np.isnan(column))
    return column


def _labels(
    name: str, values: Values, seen: set[type], non_finite: _Problems
) -> npt.NDArray[np.object_]:
    """``values`` (strings, bools, numbers, None, ABSENT) as category strings; ABSENT is
    left for the caller to blank."""
    column = np.empty(len(values), dtype=object)
    if seen <= {str, type(None)}:
        column[:] = values
        return column
    if int in seen:
        overflowing = _overflowing(values)
        if overflowing:
            values = list(values)
            for i in overflowing:
                non_finite.setdefault(i, []).append(_overflow_message(name, values[i]))
                values[i] = None
    column[:] = [value if value is ABSENT else category_label(value) for value in values]
    return column


def _overflowing(values: Values) -> list[int]:
    """Positions of integers that do not fit in a float64."""
    found = []
    for i, value in enumerate(values):
        if type(value) is int:
            try:
                float(value)
            except OverflowError:
                found.append(i)
    return found


def _overflow_message(name: str, value: int) -> str:
    # str() of an integer past 4300 digits raises: give its order of magnitude instead.
    sign = "-" if value < 0 else ""
    exponent = int((abs(value).bit_length() - 1) * _LOG10_2)
    return f"feature {name!r}: integer {sign}~1e{exponent} overflows float64"


def _shown(value: Any) -> str:
    """A value for a message: short, and safe for huge or deeply nested values."""
    if isinstance(value, dict):
        return f"with {len(value)} keys"
    if isinstance(value, list):
        return f"with {len(value)} items"
    if isinstance(value, str) and len(value) > _SHOWN_CHARS:
        return repr(value[: _SHOWN_CHARS - 3] + "...")
    return "true" if value is True else "false" if value is False else repr(value)
