"""The decoder's fast path: records whose fields are all known, decoded straight into structs.

Decoding JSON into msgspec structs of declared field types is about twice as fast as
decoding it into dicts, and checks the types in C. ``StructDecoder`` learns the field names
of the records the slow path decoded (``widen``) and declares, for each:

- a numeric feature (``kind_of``): ``float | None``, the only types it accepts (integers
  arrive as floats, converted as the slow path converts them);
- a categorical feature: ``str | bool | int | float | None``, decoded as the slow path would;
- any other field, at any level of the features path: ``Any``, decoded as the slow path would.

Every struct forbids unknown fields; a lacking field defaults to ``ABSENT`` (numeric: a
marked NaN). So a chunk
decodes on this path only if each of its records holds known fields of accepted types, and
then its values equal the slow path's; anything else (a new field, a wrong type, a bad record)
fails the whole chunk, which the caller then decodes on the slow path. The fast path
changes speed, never results.

Memory bound: at most ``max_fields`` names per level (envelope levels and features).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from itertools import chain
from operator import attrgetter
from typing import Any, Final, Union

import msgspec
import numpy as np
from msgspec.structs import astuple

from stream.column_builder import Kind
from stream.raw_columns import ABSENT, FieldAdmission, RawColumn, RawColumns

__all__ = ["StructDecoder"]

_ABSENT_TYPE: Final = type(ABSENT)
# Default of numeric fields: a NaN with its own bits, so that conversion stays all-float and
# lacking values (these bits) stay apart from nulls (numpy's plain NaN). JSON has no NaN.
_LACKING_BITS: Final = 0x7FF8_0000_0BAD_F00D
_LACKING: Final[float] = struct.unpack("<d", struct.pack("<Q", _LACKING_BITS))[0]
_DECLARED: Final[dict[Kind | None, tuple[Any, Any]]] = {
    "numeric": (float | None, _LACKING),
    "categorical": (str | bool | int | float | None, ABSENT),
    None: (Any, ABSENT),
}


class StructDecoder:
    """Decodes chunks of records into structs, once it knows their fields (see the module).

    ``path`` is the features path split at dots (empty: features at the top level).

    >>> structs = StructDecoder(path=("features",), kind_of={"x": "numeric"}.get, max_fields=10)
    >>> joined = b'[{"id": 1, "features": {"x": 2}},"sep",{"features": {}}]'
    >>> structs.decode(joined, "sep", 2) is None  # nothing learned yet
    True
    >>> structs.widen([[{"id": 1, "features": {}}]], [{"x": 2}])
    >>> roots = structs.decode(joined, "sep", 2)
    >>> x = structs.raw_columns(roots, FieldAdmission(frozenset(), frozenset(), 10))["x"]
    >>> x.floats.tolist(), x.present.tolist()
    ([2.0, nan], [True, False])
    """

    def __init__(
        self,
        *,
        path: tuple[str, ...],
        kind_of: Callable[[str], Kind | None],
        max_fields: int,
    ) -> None:
        self.path: Final = path
        self.kind_of: Final = kind_of
        self.max_fields: Final = max_fields
        self._envelopes: list[dict[str, None]] = [{} for _ in path]
        self._features: dict[str, None] = {}
        self._compiled_for: tuple[Any, ...] | None = None
        self._decoder: msgspec.json.Decoder[Any] | None = None
        self._root: type | None = None
        self._kinds: tuple[tuple[str, Kind | None], ...] = ()
        self._to_features: Callable[[Any], Any] | None = None

    def widen(
        self, envelopes: Sequence[Sequence[dict[str, Any]]], features: Sequence[dict[str, Any]]
    ) -> None:
        """Learn the field names of decoded records: ``envelopes[level]`` are the objects at
        each level of the path, ``features`` the feature objects."""
        for level, objects in enumerate(envelopes):
            _learn(self._envelopes[level], objects, self.max_fields, skip=self.path[level])
        _learn(self._features, features, self.max_fields, skip=None)

    def decode(self, joined: bytes, token: str, n: int) -> list[Any] | None:
        """The ``n`` records of ``joined`` (payloads joined by the string ``token``) as
        structs, or None if any record does not fit the known fields."""
        decoder = self._compile()
        if decoder is None:
            return None
        try:
            values = decoder.decode(joined)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return None
        roots = values[0::2]
        separators = values[1::2]
        if (
            len(values) != 2 * n - 1
            or separators.count(token) != len(separators)
            or set(map(type, roots)) != {self._root}
        ):
            return None
        return roots

    def raw_columns(self, roots: Sequence[Any], admission: FieldAdmission) -> RawColumns:
        """The admitted fields present in decoded ``roots``, value by record."""
        to_features = self._to_features
        features = roots if to_features is None else list(map(to_features, roots))
        if len(self._kinds) > 1:
            columns: Sequence[Sequence[Any]] = list(zip(*map(astuple, features), strict=True))
        else:
            columns = [tuple(map(attrgetter("f0"), features))] if self._kinds else []
        found = {}
        for (name, kind), values in zip(self._kinds, columns, strict=True):
            if name in admission.ignore:
                continue
            column = (
                _typed_column(values)
                if kind == "numeric"
                else RawColumn(values, set(map(type, values)))
            )
            if column.seen != {_ABSENT_TYPE}:
                found[name] = column
        return {name: found[name] for name in admission.admit(found)}

    def _compile(self) -> msgspec.json.Decoder[Any] | None:
        """The decoder for the fields known now (rebuilt when they or their kinds change)."""
        if not self._features:
            return self._decoder
        kinds = tuple((name, self.kind_of(name)) for name in self._features)
        key = (kinds, tuple(tuple(level) for level in self._envelopes))
        if key == self._compiled_for:
            return self._decoder
        inner = _struct("Features", {name: _DECLARED[kind] for name, kind in kinds})
        prefix = ""
        for level in reversed(range(len(self.path))):
            fields = dict.fromkeys(self._envelopes[level], (Any, ABSENT))
            inner = _struct(f"Level{level}", fields, nested=(self.path[level], inner))
            prefix = f"f{len(fields)}." + prefix
        self._root = inner
        self._kinds = kinds
        self._to_features = attrgetter(prefix.rstrip(".")) if prefix else None
        self._decoder = msgspec.json.Decoder(list[Union[inner, str]])  # type: ignore[valid-type]  # noqa: UP007
        self._compiled_for = key
        return self._decoder


def _learn(
    known: dict[str, None], objects: Sequence[dict[str, Any]], limit: int, skip: str | None
) -> None:
    """Add the keys of ``objects`` to ``known`` (in order), up to ``limit`` names."""
    for name in dict.fromkeys(chain.from_iterable(objects)):
        if name != skip and name not in known and len(known) < limit:
            known[name] = None


def _struct(
    name: str, fields: dict[str, tuple[Any, Any]], nested: tuple[str, type] | None = None
) -> type:
    """A struct with one optional field per entry of ``fields`` (JSON name → type and
    default), attributes ``f0``, ``f1``, ... in order, and a required ``nested`` field."""
    spec: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    rename = {}
    if nested is not None:
        spec.append((f"f{len(fields)}", nested[1]))
        rename[f"f{len(fields)}"] = nested[0]
    for i, (json_name, (declared, default)) in enumerate(fields.items()):
        spec.append((f"f{i}", declared, default))
        rename[f"f{i}"] = json_name
    return msgspec.defstruct(name, spec, rename=rename, forbid_unknown_fields=True, gc=False)


def _typed_column(values: Sequence[Any]) -> RawColumn:
    """A ``float | None`` field's raw column (``_LACKING`` where lacking): nulls and lacking
    values are told apart by their NaN bits, without a scan."""
    n = len(values)
    floats = np.array(values, dtype=np.float64)
    gaps = np.isnan(floats)
    n_gaps = int(np.count_nonzero(gaps))
    if not n_gaps:
        return RawColumn(values, {float} if n else set(), floats)
    lacking = floats.view(np.uint64) == _LACKING_BITS
    n_lacking = int(np.count_nonzero(lacking))
    seen: set[type] = set()
    if n_gaps < n:
        seen.add(float)
    if n_gaps > n_lacking:
        seen.add(type(None))
    if n_lacking:
        seen.add(_ABSENT_TYPE)
        floats[lacking] = np.nan  # the plain NaN of the slow path
    return RawColumn(values, seen, floats, ~lacking)
