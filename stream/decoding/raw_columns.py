"""Decoded feature objects → each field's values, record by record (``RawColumns``).

The first step from decoded JSON to columns: for each field of a batch, its value in every
record, ``ABSENT`` where a record lacks the field, with the set of Python types seen.
``raw_columns`` gathers them from dicts (the JSON decoder's output), fastest when every
record has the same fields; ``struct_decoder`` gathers them from typed structs;
``concat_raw`` joins runs of records; ``column_builder`` turns them into arrays.

Which fields are gathered is decided per batch by a ``FieldAdmission``: the always-wanted
names (the reference's features) and at most ``cap`` others, first met first.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import is_not, itemgetter
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ABSENT",
    "FieldAdmission",
    "RawColumn",
    "RawColumns",
    "Values",
    "concat_raw",
    "raw_columns",
]

_NUMERIC_TYPES: Final = frozenset({int, float, type(None)})


# A column's values: a sequence, or an object array (the fast paths' columns).
Values = Sequence[Any] | npt.NDArray[Any]


class _Absent:
    """Stands for a field a record lacks; float64 conversion reads it as NaN."""

    __slots__ = ()

    def __float__(self) -> float:
        return float("nan")

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


class RawColumn:
    """One field's value in each record, as decoded.

    - ``values``: one per record (a sequence or an object array); ``ABSENT`` where the
      record lacks the field, unless ``present`` is given (then any placeholder). Built on
      first use when the column was joined from parts (``joined``): many uses need only
      ``seen``, ``floats`` and ``present``.
    - ``seen``: the Python types of the values of the records that have the field, plus
      ``type(ABSENT)`` if some record lacks it.
    - ``floats``: the values as float64 (NaN for null or lacking), if the decoder made it.
    - ``present``: which records have the field; None means: those whose value is not
      ``ABSENT``.

    >>> column = RawColumn([1.5, ABSENT], {float, type(ABSENT)})
    >>> column.presence().tolist()
    [True, False]
    """

    __slots__ = ("_parts", "_values", "floats", "n", "present", "seen")

    def __init__(
        self,
        values: Values,
        seen: set[type],
        floats: npt.NDArray[np.float64] | None = None,
        present: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        self._values: Values | None = values
        self._parts: tuple[Values, ...] = ()
        self.n = len(values)
        self.seen = seen
        self.floats = floats
        self.present = present

    @classmethod
    def joined(cls, columns: Sequence[RawColumn]) -> RawColumn:
        """The columns of consecutive runs of records, as one."""
        present = None
        if any(column.present is not None for column in columns):
            present = np.concatenate(
                [
                    np.ones(column.n, np.bool_) if mask is None else mask
                    for column in columns
                    for mask in (column.presence(),)
                ]
            )
        floats = [column.floats for column in columns]
        joined = cls(
            (),
            set().union(*(column.seen for column in columns)),
            None if any(f is None for f in floats) else np.concatenate(floats),  # type: ignore[arg-type]
            present,
        )
        joined._values = None
        joined._parts = tuple(column.values for column in columns)
        joined.n = sum(column.n for column in columns)
        return joined

    @property
    def values(self) -> Values:
        """One value per record (see the class docstring)."""
        if self._values is None:
            self._values = list(chain.from_iterable(self._parts))
            self._parts = ()
        return self._values

    def presence(self) -> npt.NDArray[np.bool_] | None:
        """Which records have the field; None if all do."""
        if self.present is not None or _Absent not in self.seen:
            return self.present
        return np.fromiter(map(is_not, self.values, repeat(ABSENT, self.n)), np.bool_, self.n)

    def __repr__(self) -> str:
        return f"RawColumn(n={self.n}, seen={sorted(t.__name__ for t in self.seen)})"


RawColumns = dict[str, RawColumn]


@dataclass(slots=True)
class FieldAdmission:
    """Which field names of one batch get columns: every name of ``always``, and at most
    ``cap`` others, first met first; names in ``ignore`` never.

    >>> admission = FieldAdmission(always=frozenset({"a"}), ignore=frozenset({"id"}), cap=1)
    >>> admission.admit(["id", "b", "a", "c"]), admission.untracked
    (['b', 'a'], 1)
    """

    always: Collection[str]
    ignore: Collection[str]
    cap: int
    admitted: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)

    @property
    def untracked(self) -> int:
        """How many distinct names were refused for the cap."""
        return len(self.refused)

    def admit(self, names: Iterable[str]) -> list[str]:
        """The names of ``names`` that get columns, in order."""
        selected = []
        for name in names:
            if name in self.admitted or name in self.always:
                selected.append(name)
            elif name in self.ignore or name in self.refused:
                continue
            elif len(self.admitted) < self.cap:
                self.admitted.add(name)
                selected.append(name)
            else:
                self.refused.add(name)
        return selected


def raw_columns(records: Sequence[dict[str, Any]], admission: FieldAdmission) -> RawColumns:
    """The admitted fields of decoded JSON objects, value by record.

    >>> admission = FieldAdmission(always=frozenset(), ignore=frozenset(), cap=9)
    >>> raw = raw_columns([{"a": 1, "b": "x"}, {"a": None}], admission)
    >>> raw["b"].values
    ('x', ABSENT)
    """
    n = len(records)
    first = tuple(records[0]) if n else ()
    if n and set(map(len, records)) == {len(first)}:
        same = _same_fields(records, first)
        if same is not None:
            return _with_types({name: same[name] for name in admission.admit(first)})
    union = tuple(dict.fromkeys(chain.from_iterable(records)))
    selected = admission.admit(union)
    if 2 * sum(map(len, records)) < n * len(union):
        # Few values per field: fetch field by field rather than fill every record.
        return _with_types(
            {
                name: list(map(dict.get, records, repeat(name, n), repeat(ABSENT, n)))
                for name in selected
            }
        )
    # Dense enough (at most doubling the records' size): give every record every field, in
    # one order, then transpose in C.
    template = dict.fromkeys(union, ABSENT)
    rows = [{**template, **record} for record in records]
    by_name = dict(zip(union, zip(*map(dict.values, rows), strict=True), strict=True))
    return _with_types({name: by_name[name] for name in selected})


def concat_raw(parts: Sequence[tuple[RawColumns, int]]) -> RawColumns:
    """The raw columns of consecutive runs of records (each given with its length), as one.

    >>> admission = FieldAdmission(always=frozenset(), ignore=frozenset(), cap=9)
    >>> first, second = raw_columns([{"a": 1}], admission), raw_columns([{"b": 2}], admission)
    >>> concat_raw([(first, 1), (second, 1)])["a"].values
    [1, ABSENT]
    """
    if len(parts) == 1:
        return parts[0][0]
    return {
        name: RawColumn.joined(
            [
                raw.get(name) or RawColumn([ABSENT] * n, {_Absent}, np.full(n, np.nan))
                for raw, n in parts
            ]
        )
        for name in dict.fromkeys(chain.from_iterable(raw for raw, _ in parts))
    }


def _with_types(columns: Mapping[str, Sequence[Any]]) -> RawColumns:
    raw = {}
    for name, values in columns.items():
        seen = set(map(type, values))
        floats = None
        if seen <= _NUMERIC_TYPES:  # likely numeric: convert now, once for all parts
            try:
                floats = np.array(values, dtype=np.float64)
            except OverflowError:
                pass
        raw[name] = RawColumn(values, seen, floats)
    return raw


def _same_fields(
    records: Sequence[dict[str, Any]], names: tuple[str, ...]
) -> dict[str, tuple[Any, ...]] | None:
    """Each field's values if every record has exactly ``names`` (records are known to have
    ``len(names)`` fields each), else None."""
    try:
        if len(names) == 1:
            return {names[0]: tuple(map(itemgetter(names[0]), records))}
        if not names:
            return {}
        return dict(zip(names, zip(*map(itemgetter(*names), records), strict=True), strict=True))
    except KeyError:
        return None
