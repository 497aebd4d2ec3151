"""The decoder's fastest path: JSON records scanned straight into columns, in compiled code.

``RecordScanner.scan`` reads a batch of payloads in one numba pass: feature numbers go
straight into float64 rows and category labels into per-batch integer codes, so no Python
object is made per value, which is why it beats decoding into structs and gathering their
values (``bench/decode.py``; figures in docs/benchmarks.md). ``input.decoder: msgspec``
turns it off.

It handles a strict subset of JSON, the shape model servers log, and refuses anything
else, so that its output always equals that of the struct path
(``driftwarden.stream.decoding.struct_decoder``, which then decodes the batch instead):

- each payload is one object, optionally surrounded by whitespace; the features object sits
  at the features path, each level of which appears once;
- keys are ASCII without escapes; at the features level each key is a known feature, at
  most once per record: a numeric feature holds a number or null, a categorical one a
  string without escapes or null, an ignored one a scalar;
- other fields (envelope levels) hold scalars: numbers, ASCII strings without escapes,
  ``true``, ``false``, ``null``;
- every number is JSON's grammar with at most 19 significant digits and converts exactly
  (``decimal_float``: no overflow, no subnormal).

Anything else (nested objects or arrays outside the path, escapes, a new field, a wrong
type, a malformed or non-finite number) ends the run ``scan`` takes: it returns the columns
of the records before it, which the caller joins with what the other paths make of the
rest. Invalid UTF-8 in a label refuses the whole batch (rare: not worth finding its record).

Memory: per call, ``O(records x features)`` for the columns and two label tables per
categorical feature of ``O(records)`` entries; nothing is kept between calls but the
compiled field table (one entry per known field).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final, overload

import numpy as np
import numpy.typing as npt

from driftwarden.stream.decoding.raw_columns import ABSENT, RawColumn, RawColumns
from driftwarden.stream.decoding.scanner.json_tokens import (
    COLON,
    COMMA,
    LEFT_BRACE,
    LOWER_N,
    QUOTE,
    RIGHT_BRACE,
    SPACE,
    hash_bytes,
    is_null,
    number,
    same_bytes,
    scalar_end,
    skip_space,
    string_end,
)
from driftwarden.stream.decoding.scanner.kernel_cache import compiled

__all__ = ["RecordScanner"]

_ABSENT_TYPE: Final = type(ABSENT)
# Kinds of the field table and the record states of numeric columns.
_NUMERIC, _CATEGORICAL, _SKIPPED = 0, 1, 2
_LACKING, _NUMBER, _NULL = 0, 1, 2
# Codes of categorical columns below the label codes (they index the lookup from its end).
_CODE_ABSENT, _CODE_NULL = -2, -1


@compiled()
def _label_code(
    buf: npt.NDArray[np.uint8],
    start: int,
    stop: int,
    slot: int,
    table: npt.NDArray[np.int32],
    spans: npt.NDArray[np.int64],
    n_labels: npt.NDArray[np.int32],
) -> int:
    """The per-batch code of the label ``buf[start:stop]`` of categorical ``slot``."""
    mask = table.shape[1] - 1
    i = np.int64(hash_bytes(buf, start, stop) & np.uint64(mask))
    while True:
        code = table[slot, i]
        if code < 0:
            code = n_labels[slot]
            n_labels[slot] = code + 1
            table[slot, i] = code
            spans[slot, code, 0] = start
            spans[slot, code, 1] = stop
            return code
        s0, s1 = spans[slot, code, 0], spans[slot, code, 1]
        if s1 - s0 == stop - start and same_bytes(buf, start, stop, buf, s0):
            return code
        i = (i + 1) & mask


@compiled()
def _field(
    buf: npt.NDArray[np.uint8],
    start: int,
    stop: int,
    table: npt.NDArray[np.int32],
    names: npt.NDArray[np.uint8],
    name_at: npt.NDArray[np.int64],
) -> int:
    """The index of the known field named ``buf[start:stop]``, or -1."""
    mask = table.size - 1
    i = np.int64(hash_bytes(buf, start, stop) & np.uint64(mask))
    while True:
        field = table[i]
        if field < 0:
            return -1
        n0, n1 = name_at[field], name_at[field + 1]
        if n1 - n0 == stop - start and same_bytes(buf, start, stop, names, n0):
            return field
        i = (i + 1) & mask


@compiled()
def _scan(
    buf: npt.NDArray[np.uint8],
    bounds: npt.NDArray[np.int64],
    path: npt.NDArray[np.uint8],
    path_at: npt.NDArray[np.int64],
    table: npt.NDArray[np.int32],
    names: npt.NDArray[np.uint8],
    name_at: npt.NDArray[np.int64],
    kinds: npt.NDArray[np.int8],
    slots: npt.NDArray[np.int32],
    floats: npt.NDArray[np.float64],
    states: npt.NDArray[np.int8],
    codes: npt.NDArray[np.int32],
    label_table: npt.NDArray[np.int32],
    spans: npt.NDArray[np.int64],
    n_labels: npt.NDArray[np.int32],
) -> int:
    """Scan every record; return -1, or the index of the first record it refuses."""
    depth = path_at.size - 1
    follow = np.full(name_at.size, -1, dtype=np.int64)  # the field after each, last seen
    for r in range(bounds.size - 1):
        pos, end = bounds[r], bounds[r + 1]
        if pos < end and buf[pos] <= SPACE:
            pos = skip_space(buf, pos, end)
        if pos >= end or buf[pos] != LEFT_BRACE:
            return r
        pos += 1
        level = 0
        found_path = False  # the path key of the current level was met
        expect_key = False  # after a comma, a key must follow
        last = -1  # the record's previous feature (-1: none yet)
        while True:
            if pos < end and buf[pos] <= SPACE:
                pos = skip_space(buf, pos, end)
            if pos >= end:
                return r
            c = buf[pos]
            if c == RIGHT_BRACE and not expect_key:  # } closes the current object
                if level < depth and not found_path:
                    return r
                pos += 1
                if level == 0:
                    break
                level -= 1
                found_path = True
            elif c == QUOTE:  # a key
                key0 = pos + 1
                field = -1
                if level == depth:  # most records list their features in one order
                    guess = follow[last + 1]
                    if guess >= 0:
                        n0, n1 = name_at[guess], name_at[guess + 1]
                        key1 = key0 + n1 - n0
                        if key1 < end and buf[key1] == QUOTE:
                            # compared here, not by ``same_bytes``: a call costs more (see
                            # ``skip_space``) and this runs for every feature of every record
                            k = 0
                            while k < n1 - n0 and buf[key0 + k] == names[n0 + k]:
                                k += 1
                            if k == n1 - n0:
                                field = guess
                if field < 0:
                    key1 = string_end(buf, key0, end, True)
                    if key1 < 0:
                        return r
                pos = key1 + 1
                if pos < end and buf[pos] <= SPACE:
                    pos = skip_space(buf, pos, end)
                if pos >= end or buf[pos] != COLON:
                    return r
                pos = pos + 1
                if pos < end and buf[pos] <= SPACE:
                    pos = skip_space(buf, pos, end)
                if pos >= end:
                    return r
                if level < depth:
                    p0, p1 = path_at[level], path_at[level + 1]
                    if key1 - key0 == p1 - p0 and same_bytes(buf, key0, key1, path, p0):
                        if found_path or buf[pos] != LEFT_BRACE:
                            return r
                        pos += 1
                        level += 1
                        found_path = False
                        expect_key = False
                        continue
                    pos = scalar_end(buf, pos, end)
                    if pos < 0:
                        return r
                else:
                    if field < 0:
                        field = _field(buf, key0, key1, table, names, name_at)
                        if field < 0:
                            return r
                        follow[last + 1] = field
                    last = field
                    slot = slots[field]
                    kind = kinds[field]
                    if kind == _NUMERIC:
                        if states[slot, r] != _LACKING:
                            return r
                        if buf[pos] == LOWER_N and is_null(buf, pos, end):
                            states[slot, r] = _NULL
                            pos += 4
                        else:
                            value, pos = number(buf, pos, end)
                            if pos < 0:
                                return r
                            floats[slot, r] = value
                            states[slot, r] = _NUMBER
                    elif kind == _CATEGORICAL:
                        if codes[slot, r] != _CODE_ABSENT:
                            return r
                        if buf[pos] == LOWER_N and is_null(buf, pos, end):
                            codes[slot, r] = _CODE_NULL
                            pos += 4
                        elif buf[pos] == QUOTE:
                            stop = string_end(buf, pos + 1, end, False)
                            if stop < 0:
                                return r
                            codes[slot, r] = _label_code(
                                buf, pos + 1, stop, slot, label_table, spans, n_labels
                            )
                            pos = stop + 1
                        else:
                            return r
                    else:
                        pos = scalar_end(buf, pos, end)
                        if pos < 0:
                            return r
                if pos < end and buf[pos] <= SPACE:
                    pos = skip_space(buf, pos, end)
                if pos >= end:
                    return r
                if buf[pos] == COMMA:
                    pos += 1
                    expect_key = True
                    continue
                if buf[pos] != RIGHT_BRACE:
                    return r
                expect_key = False
                continue
            else:
                return r
            # after a closed nested object: a comma or the end of its parent
            if pos < end and buf[pos] <= SPACE:
                pos = skip_space(buf, pos, end)
            if pos >= end:
                return r
            if buf[pos] == COMMA:
                pos += 1
                expect_key = True
            elif buf[pos] != RIGHT_BRACE:
                return r
            else:
                expect_key = False
        if skip_space(buf, pos, end) != end:
            return r
    return -1


class RecordScanner:
    """Scans batches of records whose fields are known (see the module docstring).

    ``path`` is the features path split at dots; ``fields`` the known feature-level names
    with their kinds, in the order the columns come out; ``ignore`` the feature-level names
    that are not features (their values are checked and skipped). A field of no kind that is
    not ignored makes every record holding it refused.

    >>> scanner = RecordScanner(("features",), [("x", "numeric"), ("c", "categorical")], ())
    >>> raw, taken = scanner.scan([b'{"id": "a1", "features": {"x": 2, "c": "FR"}}',
    ...                            b'{"features": {"c": null, "x": -0.5e1}}',
    ...                            b'{"features": {"x": "2"}}'])  # a wrong type: refused
    >>> taken, raw["x"].floats.tolist(), list(raw["c"].values)
    (2, [2.0, -5.0], ['FR', None])
    """

    def __init__(
        self,
        path: tuple[str, ...],
        fields: Sequence[tuple[str, str | None]],
        ignore: Sequence[str] | frozenset[str],
    ) -> None:
        self.numeric: Final = [name for name, kind in fields if kind == "numeric"]
        self.categorical: Final = [name for name, kind in fields if kind == "categorical"]
        self.order: Final = [name for name, kind in fields if kind is not None]
        table_fields = [(name, _NUMERIC, slot) for slot, name in enumerate(self.numeric)] + [
            (name, _CATEGORICAL, slot) for slot, name in enumerate(self.categorical)
        ]
        table_fields += [
            (name, _SKIPPED, 0) for name, kind in fields if kind is None and name in ignore
        ]
        encoded = [name.encode() for name, _, _ in table_fields]
        self._refuses_all = not all(name.isascii() for name in encoded)
        self._names = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)
        self._name_at = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(name) for name in encoded], out=self._name_at[1:])
        self._kinds = np.array([kind for _, kind, _ in table_fields], dtype=np.int8)
        self._slots = np.array([slot for _, _, slot in table_fields], dtype=np.int32)
        self._table = np.full(_power_of_two(4 * len(encoded) + 4), -1, dtype=np.int32)
        mask = self._table.size - 1
        for field, name in enumerate(encoded):
            i = int(hash_bytes(np.frombuffer(name, np.uint8), 0, len(name)) & np.uint64(mask))
            while self._table[i] >= 0:
                i = (i + 1) & mask
            self._table[i] = field
        parts = [part.encode() for part in path]
        self._path = np.frombuffer(b"".join(parts) or b"\0", dtype=np.uint8)
        self._path_at = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(part) for part in parts], out=self._path_at[1:])

    def scan(self, payloads: Sequence[bytes]) -> tuple[RawColumns, int]:
        """The raw columns (in ``fields`` order) of the longest leading run of ``payloads``
        inside the handled subset, and the length of that run (0: the first is outside)."""
        n = len(payloads)
        if self._refuses_all or not n:
            return {}, 0
        joined = b"".join(payloads)
        bounds = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, payloads), np.int64, n), out=bounds[1:])
        n_numeric, n_categorical = len(self.numeric), len(self.categorical)
        floats = np.full((n_numeric, n), np.nan)
        states = np.zeros((n_numeric, n), dtype=np.int8)
        codes = np.full((n_categorical, n), _CODE_ABSENT, dtype=np.int32)
        label_table = np.full((n_categorical, _power_of_two(2 * n)), -1, dtype=np.int32)
        spans = np.empty((n_categorical, n, 2), dtype=np.int64)
        n_labels = np.zeros(n_categorical, dtype=np.int32)
        refused = _scan(
            np.frombuffer(joined, dtype=np.uint8),
            bounds,
            self._path,
            self._path_at,
            self._table,
            self._names,
            self._name_at,
            self._kinds,
            self._slots,
            floats,
            states,
            codes,
            label_table,
            spans,
            n_labels,
        )
        taken = n if refused < 0 else int(refused)
        if not taken:
            return {}, 0
        columns: RawColumns = {}
        for slot, name in enumerate(self.numeric):
            column = _numeric_column(floats[slot, :taken], states[slot, :taken])
            if column is not None:
                columns[name] = column
        for slot, name in enumerate(self.categorical):
            try:
                labels = [
                    joined[start:stop].decode()
                    for start, stop in spans[slot, : n_labels[slot]].tolist()
                ]
            except UnicodeDecodeError:  # rare: not worth finding the record
                return {}, 0
            column = _categorical_column(labels, codes[slot, :taken])
            if column is not None:
                columns[name] = column
        return {name: columns[name] for name in self.order if name in columns}, taken


def _numeric_column(
    floats: npt.NDArray[np.float64], states: npt.NDArray[np.int8]
) -> RawColumn | None:
    """The raw column of one numeric field (None if no record has it)."""
    counts = np.bincount(states, minlength=3).tolist()
    seen: set[type] = set()
    if counts[_NUMBER]:
        seen.add(float)
    if counts[_NULL]:
        seen.add(type(None))
    if not seen:
        return None
    present = None
    if counts[_LACKING]:
        seen.add(_ABSENT_TYPE)
        present = states != _LACKING
    return RawColumn(_ScannedNumbers(floats, states), seen, floats, present)


class _ScannedNumbers(Sequence[Any]):
    """A numeric column's values as the other paths give them (``float``, ``None`` for
    null, ``ABSENT`` where lacking), made one by one only if something asks: the column
    builder reads ``floats`` and presence, and needs values only where a batch mixes this
    path with another that met a wrong type."""

    __slots__ = ("_floats", "_states")

    def __init__(self, floats: npt.NDArray[np.float64], states: npt.NDArray[np.int8]) -> None:
        self._floats = floats
        self._states = states

    def __len__(self) -> int:
        return len(self._floats)

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        state = self._states[index]
        if state == _NUMBER:
            return float(self._floats[index])
        return None if state == _NULL else ABSENT

    def __iter__(self) -> Iterator[Any]:
        by_state = {_NULL: None, _LACKING: ABSENT}
        for value, state in zip(self._floats.tolist(), self._states.tolist(), strict=True):
            yield value if state == _NUMBER else by_state[state]


def _categorical_column(labels: list[str], codes: npt.NDArray[np.int32]) -> RawColumn | None:
    """The raw column of one categorical field (None if no record has it)."""
    lookup = np.empty(len(labels) + 2, dtype=object)
    lookup[: len(labels)] = labels
    lookup[_CODE_ABSENT] = ABSENT
    lookup[_CODE_NULL] = None
    n_absent = int(np.count_nonzero(codes == _CODE_ABSENT))
    if n_absent == codes.size:
        return None
    seen: set[type] = {str} if labels and bool(np.any(codes >= 0)) else set()
    if np.any(codes == _CODE_NULL):
        seen.add(type(None))
    present = None
    if n_absent:
        seen.add(_ABSENT_TYPE)
        present = codes != _CODE_ABSENT
    return RawColumn(lookup[codes], seen, None, present)


def _power_of_two(at_least: int) -> int:
    return 1 << max(1, (at_least - 1).bit_length())
