"""Typing a ``RecordChunk``: numeric or categorical per feature, bad values as bad rows.

A ``ChunkTyper`` decides each feature's kind once, from the first chunk in which the
feature has a non-null value, unless ``numeric`` / ``categorical`` force it:

- CSV text: numeric when every non-null cell parses as a number, else categorical.
- JSON / Parquet: numeric when the values are JSON numbers, categorical when any is a
  string or a boolean (the JSON type is respected: ``"42"`` is a category).

Afterwards the kind is fixed. A value that breaks it (text in a numeric feature, ``inf``,
a nested object or array) makes its row a ``BadRow`` whose reason says which flag fixes
it; the row is left out of every feature so that all features describe the same rows.

Nulls: in numeric features ``""``, ``NA``, ``N/A``, ``null``, ``None`` and ``NaN`` (any
case) and JSON null; in categorical features only ``""`` and JSON null (``"NA"`` may be
Namibia).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from itertools import compress
from typing import Any, TypeGuard

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.category_label import category_label
from driftwarden.detectors.feature_batch import Kind
from driftwarden.stream.profiling.readers import BadRow, Column, RecordChunk

__all__ = ["ChunkTyper", "TypedChunk"]

_NUMERIC_NULLS = frozenset({"", "na", "n/a", "nan", "null", "none"})


@dataclass(frozen=True, slots=True)
class TypedChunk:
    """The well-formed rows of a chunk, each feature typed.

    ``numeric[name]`` is float64 with NaN for null or absent; ``categorical[name]`` holds the
    raw values (``str`` when ``text``, else decoded JSON values, None for null or absent);
    ``all_null`` lists features present here whose kind is still unknown (every value null).
    ``present`` masks the features absent from some rows. ``bad_rows`` are the reader's
    and the typer's rejects, in file order.

    >>> import numpy as np
    >>> typed = TypedChunk(
    ...     path="t.jsonl", lines=np.array([1, 2, 3]), text=False,
    ...     numeric={}, categorical={"c": ["a", None, True]},
    ...     present={"c": np.array([True, False, True])},
    ... )
    >>> typed.present_count("c"), typed.category_counts("c"), typed.labels("c")
    (2, Counter({'a': 1, 'true': 1}), ['a', None, 'true'])
    """

    path: str
    lines: npt.NDArray[np.int64]
    numeric: dict[str, npt.NDArray[np.float64]]
    categorical: dict[str, Column]
    text: bool
    all_null: tuple[str, ...] = ()
    present: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)
    bad_rows: tuple[BadRow, ...] = ()

    @property
    def n_rows(self) -> int:
        """Number of well-formed rows."""
        return len(self.lines)

    def present_count(self, name: str) -> int:
        """Rows in which feature ``name`` appeared (as a value or as null)."""
        mask = self.present.get(name)
        return self.n_rows if mask is None else int(np.count_nonzero(mask))

    def category_counts(self, name: str) -> Counter[str]:
        """Non-null categories of feature ``name`` with their counts in this chunk."""
        counts: Counter[Any] = Counter(self.categorical[name])
        counts.pop("" if self.text else None, None)
        if self.text or all(type(key) is str for key in counts):
            return counts
        # True == 1 for a dict key: relabel value by value so they stay apart.
        relabelled = Counter(map(category_label, self.categorical[name]))
        relabelled.pop(None, None)
        return relabelled  # type: ignore[return-value]

    def labels(self, name: str) -> list[str | None]:
        """One category string per row of feature ``name`` (None for null or absent)."""
        if self.text:
            return [value or None for value in self.categorical[name]]
        return list(map(category_label, self.categorical[name]))


class ChunkTyper:
    """Types chunks with per-feature kinds fixed at first sight (see the module docstring).

    ``features`` keeps only those features (None: all), ``ignore`` drops some,
    ``categorical`` / ``numeric`` force a kind.

    >>> import numpy as np
    >>> from driftwarden.stream.profiling.readers import RecordChunk
    >>> typer = ChunkTyper()
    >>> first = RecordChunk(
    ...     path="t.csv", lines=np.array([2, 3]), text=True,
    ...     columns={"x": ("1.5", ""), "c": ("a", "")},
    ... )
    >>> typed = typer.type_chunk(first)
    >>> typer.kinds, typed.numeric["x"].tolist(), typed.category_counts("c")
    ({'x': 'numeric', 'c': 'categorical'}, [1.5, nan], Counter({'a': 1}))
    >>> later = RecordChunk(
    ...     path="t.csv", lines=np.array([4, 5]), text=True,
    ...     columns={"x": ("oops", "2"), "c": ("b", "b")},
    ... )
    >>> typed = typer.type_chunk(later)
    >>> typed.lines.tolist(), typed.numeric["x"].tolist()
    ([5], [2.0])
    >>> print(typed.bad_rows[0])
    t.csv:4: feature 'x' is numeric but has 'oops' (pass --categorical x if it is not)
    """

    def __init__(
        self,
        *,
        features: Collection[str] | None = None,
        ignore: Collection[str] = (),
        categorical: Collection[str] = (),
        numeric: Collection[str] = (),
    ) -> None:
        both = set(categorical) & set(numeric)
        if both:
            raise ValueError(f"feature {sorted(both)[0]!r} cannot be both numeric and categorical")
        self.features = None if features is None else frozenset(features)
        self.ignore = frozenset(ignore)
        self.kinds: dict[str, Kind] = {name: "categorical" for name in categorical}
        self.kinds.update({name: "numeric" for name in numeric})
        self._forced = frozenset(self.kinds)

    def wanted(self, name: str) -> bool:
        """Whether feature ``name`` is profiled at all."""
        return name not in self.ignore and (self.features is None or name in self.features)

    def type_chunk(self, chunk: RecordChunk) -> TypedChunk:
        """Type every wanted feature of ``chunk``; rows with a bad value are dropped."""
        n = chunk.n_rows
        bad = np.zeros(n, dtype=np.bool_)
        reasons: dict[int, str] = {}
        numeric: dict[str, npt.NDArray[np.float64]] = {}
        categorical: dict[str, Column] = {}
        all_null: list[str] = []
        for name, raw in chunk.columns.items():
            if not self.wanted(name):
                continue
            kind = self.kinds.get(name)
            types = None if chunk.text or _is_float_array(raw) else set(map(type, raw))
            if types is not None and (dict in types or list in types):
                nested = np.fromiter(
                    (isinstance(value, dict | list) for value in raw), np.bool_, len(raw)
                )
                _mark(bad, reasons, nested, name, raw, "is a nested object or array")
            if kind is None:
                kind = _infer_kind(raw, types)
                if kind is None:
                    all_null.append(name)
                    continue
                self.kinds[name] = kind
            if kind == "categorical":
                categorical[name] = raw.tolist() if _is_float_array(raw) else raw
                continue
            values, unparsed = _to_numbers(raw, types)
            if unparsed is not None:
                _mark(bad, reasons, unparsed, name, raw, self._not_a_number_hint(name))
            infinite = np.isinf(values)
            if infinite.any():
                _mark(bad, reasons, infinite, name, raw, "is not a finite number")
            numeric[name] = values
        bad_rows = tuple(
            BadRow(chunk.path, int(chunk.lines[i]), reasons[i]) for i in sorted(reasons)
        )
        present = dict(chunk.present)
        lines = chunk.lines
        if bad.any():
            keep = ~bad
            lines = lines[keep]
            numeric = {name: values[keep] for name, values in numeric.items()}
            categorical = {name: list(compress(raw, keep)) for name, raw in categorical.items()}
            present = {name: mask[keep] for name, mask in present.items()}
        return TypedChunk(
            path=chunk.path,
            lines=lines,
            numeric=numeric,
            categorical=categorical,
            text=chunk.text,
            all_null=tuple(all_null),
            present={name: mask for name, mask in present.items() if self.wanted(name)},
            bad_rows=_in_line_order(chunk.bad_rows, bad_rows),
        )

    def _not_a_number_hint(self, name: str) -> str:
        if name in self._forced:
            return "is not a number (the feature is forced numeric by --numeric)"
        return f"is numeric but has {{value}} (pass --categorical {name} if it is not)"


def _mark(
    bad: npt.NDArray[np.bool_],
    reasons: dict[int, str],
    rows: npt.NDArray[np.bool_],
    name: str,
    raw: Column,
    problem: str,
) -> None:
    for i in np.flatnonzero(rows & ~bad).tolist():
        value = raw[i]
        shown = repr(value if len(repr(value)) <= 40 else f"{str(value)[:37]}...")
        if "{value}" in problem:
            reasons[i] = f"feature {name!r} {problem.replace('{value}', shown)}"
        else:
            reasons[i] = f"feature {name!r} {problem}: {shown}"
    bad |= rows


def _in_line_order(first: tuple[BadRow, ...], second: tuple[BadRow, ...]) -> tuple[BadRow, ...]:
    if not first or not second:
        return first or second
    return tuple(sorted(first + second, key=lambda row: row.line))


def _is_float_array(raw: Column) -> TypeGuard[npt.NDArray[np.float64]]:
    """Whether ``raw`` is already numbers (a Parquet numeric column)."""
    return isinstance(raw, np.ndarray) and raw.dtype.kind == "f"


def _infer_kind(raw: Column, types: set[type] | None) -> Kind | None:
    """The kind of a feature's first values (``types``: their Python types, None for text)."""
    if types is None:
        values = _vectorised_numbers(raw)
        if values is None:
            return "categorical"
        return "numeric" if not np.isnan(values).all() else None
    scalars = types - {type(None), dict, list}
    if not scalars:
        return None
    return "numeric" if scalars <= {int, float} else "categorical"


def _to_numbers(
    raw: Column, types: set[type] | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_] | None]:
    """Values as float64 (NaN for null) and the mask of values that are not numbers.

    ``types`` are the Python types of decoded values; None means CSV text.
    """
    if _is_float_array(raw):
        return raw.astype(np.float64, copy=False), None
    if types is None or types <= {int, float, type(None)}:
        values = _vectorised_numbers(raw)
        if values is not None:
            return values, None
    return _numbers_one_by_one(raw)


def _vectorised_numbers(raw: Column) -> npt.NDArray[np.float64] | None:
    """All of ``raw`` as float64 (NaN for null) at numpy speed, or None if any value resists."""
    try:
        return np.array(raw, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        pass
    if len(raw) == 0 or not isinstance(raw[0], str):
        return None
    cells = np.array(raw, dtype=np.str_)
    null = np.isin(np.char.lower(cells), list(_NUMERIC_NULLS))
    try:
        return np.where(null, "nan", cells).astype(np.float64)
    except ValueError:
        return None


def _numbers_one_by_one(
    raw: Column,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_] | None]:
    values = np.full(len(raw), np.nan, dtype=np.float64)
    unparsed = np.zeros(len(raw), dtype=np.bool_)
    for i, value in enumerate(raw):
        if value is None or isinstance(value, dict | list):
            continue  # null, or already a bad row
        if isinstance(value, str) and value.strip().lower() in _NUMERIC_NULLS:
            continue
        if isinstance(value, bool):
            unparsed[i] = True
            continue
        try:
            values[i] = float(value)
        except (ValueError, TypeError, OverflowError):
            unparsed[i] = True
    return values, (unparsed if unparsed.any() else None)
