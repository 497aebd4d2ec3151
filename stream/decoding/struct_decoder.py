"""The decoder's fast path: records whose fields are all known, decoded straight into structs.

Decoding JSON into msgspec structs of declared field types is faster than decoding it into
dicts, and checks the types in C. ``StructDecoder`` learns the field names of the records
the slow path decoded (``widen``) and declares, for each:

- a numeric feature (``kind_of``): ``float | None``, the only types it accepts (integers
  arrive as floats, converted as the slow path converts them);
- a categorical feature: ``str | bool | int | float | None``, decoded as the slow path would;
- any other field, at any level of the features path: ``Any``, decoded as the slow path would.

Every struct forbids unknown fields; a lacking field defaults to ``ABSENT`` (numeric: a
marked NaN). So a chunk decodes on this path only if each of its payloads is one JSON
object holding known fields of accepted types, and then its values equal the slow path's;
anything else (a new field, a wrong type, a bad record) fails the whole chunk, which the
caller then decodes on the slow path. The fast path changes speed, never results.

A JSON key may hold any character, escaped, but msgspec cannot declare a field named with
``"``, ``\\`` or a control character (``declarable``): such names are never learned, so a
chunk holding one is decoded on the slow path (same results, slower), and with one in the
features path this path is off.

Gathering: ``raw_columns`` puts every value of a chunk into one object array in one C pass
and converts the numeric fields (declared first) to float64 in one call, rather than
transposing tuples field by field in Python.

Memory bound: at most ``max_fields`` names per level (envelope levels and features).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Sequence
from itertools import chain
from operator import attrgetter
from typing import Any, Final

import msgspec
import numpy as np
import numpy.typing as npt
from msgspec.structs import astuple

from driftwarden.detectors.feature_batch import Kind
from driftwarden.stream.decoding.raw_columns import (
    ABSENT,
    FieldAdmission,
    RawColumn,
    RawColumns,
    Values,
)
from driftwarden.stream.decoding.scanner.json_scan import RecordScanner

__all__ = ["StructDecoder", "declarable"]

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
# What msgspec refuses in a renamed field name: it writes names into JSON unescaped, and as
# UTF-8 (which has no lone surrogates).
_UNDECLARABLE: Final = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')


class StructDecoder:
    """Decodes chunks of records into structs, once it knows their fields (see the module).

    ``path`` is the features path split at dots (empty: features at the top level);
    ``scanner=False`` leaves the compiled scanner out (``scan`` then takes no record).

    >>> structs = StructDecoder(path=("features",), kind_of={"x": "numeric"}.get, max_fields=10)
    >>> payloads = [b'{"id": 1, "features": {"x": 2}}', b'{"features": {}}']
    >>> structs.decode(payloads) is None  # nothing learned yet
    True
    >>> structs.widen([[{"id": 1, "features": {}}]], [{"x": 2}])
    >>> roots = structs.decode(payloads)
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
        ignore: frozenset[str] = frozenset(),
        scanner: bool = True,
    ) -> None:
        self.path: Final = path
        self.kind_of: Final = kind_of
        self.max_fields: Final = max_fields
        self.ignore: Final = ignore
        self.scanner: Final = scanner
        self._path_declarable: Final = all(map(declarable, path))  # else this path is off
        self._envelopes: list[dict[str, None]] = [{} for _ in path]
        self._features: dict[str, None] = {}
        self._compiled_for: tuple[Any, ...] | None = None
        self._decoder: msgspec.json.Decoder[Any] | None = None
        self._kinds: tuple[tuple[str, Kind | None], ...] = ()  # in struct field order
        self._n_numeric = 0  # the first ``_n_numeric`` of ``_kinds`` are numeric
        self._to_features: Callable[[Any], Any] | None = None
        self._scanner: RecordScanner | None = None

    def widen(
        self, envelopes: Sequence[Sequence[dict[str, Any]]], features: Sequence[dict[str, Any]]
    ) -> None:
        """Learn the field names of decoded records: ``envelopes[level]`` are the objects at
        each level of the path, ``features`` the feature objects."""
        for level, objects in enumerate(envelopes):
            _learn(self._envelopes[level], objects, self.max_fields, skip=self.path[level])
        _learn(self._features, features, self.max_fields, skip=None)

    def scan(self, payloads: Sequence[bytes], admission: FieldAdmission) -> tuple[RawColumns, int]:
        """The admitted fields of the longest leading run of ``payloads`` that compiled code
        handles (``scanner.json_scan``), and that run's length (0: none)."""
        if self._compile() is None or self._scanner is None:
            return {}, 0
        found, taken = self._scanner.scan(payloads)
        if not taken:
            return {}, 0
        return {name: found[name] for name in admission.admit(found)}, taken

    def decode(self, payloads: Sequence[bytes]) -> list[Any] | None:
        """Each payload decoded as a struct, or None if any does not fit the known fields."""
        decoder = self._compile()
        if decoder is None:
            return None
        try:
            return list(map(decoder.decode, payloads))
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return None

    def raw_columns(self, roots: Sequence[Any], admission: FieldAdmission) -> RawColumns:
        """The admitted fields present in decoded ``roots``, value by record.

        The structs' values go into one object array in a single C pass, and the numeric
        fields (declared first) become float64 rows in one conversion.
        """
        to_features = self._to_features
        features = roots if to_features is None else list(map(to_features, roots))
        n, width, n_numeric = len(features), len(self._kinds), self._n_numeric
        values = np.fromiter(chain.from_iterable(map(astuple, features)), object, n * width)
        block = values.reshape(n, width)
        floats = block[:, :n_numeric].T.astype(np.float64, order="C")  # a row per field
        gapless = np.isnan(floats).sum(axis=1) == 0
        found = {}
        for j, (name, _) in enumerate(self._kinds):
            if name in admission.ignore:
                continue
            if j >= n_numeric:
                labels = block[:, j].tolist()
                column = RawColumn(labels, set(map(type, labels)))
            elif gapless[j]:
                column = RawColumn(block[:, j], {float} if n else set(), floats[j])
            else:
                column = _typed_column(block[:, j], floats[j])
            if column.seen != {_ABSENT_TYPE}:
                found[name] = column
        return {name: found[name] for name in admission.admit(found)}

    def _compile(self) -> msgspec.json.Decoder[Any] | None:
        """The decoder for the fields known now (rebuilt when they or their kinds change)."""
        if not self._features or not self._path_declarable:
            return self._decoder
        # Numeric fields first, so that their values sit side by side in ``raw_columns``.
        kinds = tuple(
            sorted(
                ((name, self.kind_of(name)) for name in self._features),
                key=lambda item: item[1] != "numeric",
            )
        )
        key = (kinds, tuple(tuple(level) for level in self._envelopes))
        if key == self._compiled_for:
            return self._decoder
        inner = _struct("Features", {name: _DECLARED[kind] for name, kind in kinds})
        prefix = ""
        for level in reversed(range(len(self.path))):
            fields = dict.fromkeys(self._envelopes[level], (Any, ABSENT))
            inner = _struct(f"Level{level}", fields, nested=(self.path[level], inner))
            prefix = f"f{len(fields)}." + prefix
        self._kinds = kinds
        self._n_numeric = sum(kind == "numeric" for _, kind in kinds)
        self._to_features = attrgetter(prefix.rstrip(".")) if prefix else None
        self._decoder = msgspec.json.Decoder(inner)
        self._scanner = RecordScanner(self.path, kinds, self.ignore) if self.scanner else None
        self._compiled_for = key
        return self._decoder


def declarable(name: str) -> bool:
    """Whether ``name`` can be the JSON name of a msgspec struct field (``rename``): not if
    it holds ``"``, ``\\``, a control character (U+0000 to U+001F) or a lone surrogate.

    >>> declarable("amount"), declarable("a\\tb"), declarable('say "hi"'), declarable("")
    (True, False, False, True)
    """
    return _UNDECLARABLE.search(name) is None


def _learn(
    known: dict[str, None], objects: Sequence[dict[str, Any]], limit: int, skip: str | None
) -> None:
    """Add the declarable keys of ``objects`` to ``known`` (in order), up to ``limit`` names."""
    for name in dict.fromkeys(chain.from_iterable(objects)):
        if name != skip and name not in known and len(known) < limit and declarable(name):
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


def _typed_column(values: Values, floats: npt.NDArray[np.float64]) -> RawColumn:
    """A ``float | None`` field's raw column, from its values (``_LACKING`` where lacking)
    and those as float64 (changed in place): nulls and lacking values are told apart by
    their NaN bits, without a scan."""
    n = len(floats)
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
