"""The columnar batch that travels from the decoder to the detectors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["FeatureBatch", "Kind", "SourcePositions"]

Kind = Literal["numeric", "categorical"]
"""A feature's kind: numeric (float64 values) or categorical (labels)."""


@dataclass(frozen=True, slots=True)
class SourcePositions:
    """Where each record of a batch came from, so an event can point at its record.

    For Kafka, ``sources`` holds topic names, ``partitions`` the partition and ``offsets`` the
    offset. For a file, ``sources`` holds file names, ``partitions`` is -1 and ``offsets`` the
    1-based line number.

    >>> SourcePositions.sequential("train.csv", 3, first_offset=2).describe(1)
    ('train.csv', -1, 3)
    """

    sources: tuple[str, ...]
    source_ids: npt.NDArray[np.int32]
    partitions: npt.NDArray[np.int32]
    offsets: npt.NDArray[np.int64]

    def describe(self, index: int) -> tuple[str, int, int]:
        """Return ``(source, partition, offset)`` of the record at ``index``."""
        return (
            self.sources[int(self.source_ids[index])],
            int(self.partitions[index]),
            int(self.offsets[index]),
        )

    @classmethod
    def sequential(cls, source: str, n: int, first_offset: int = 0) -> SourcePositions:
        """Positions of ``n`` consecutive records of one source (tests, files)."""
        return cls(
            sources=(source,),
            source_ids=np.zeros(n, dtype=np.int32),
            partitions=np.full(n, -1, dtype=np.int32),
            offsets=np.arange(first_offset, first_offset + n, dtype=np.int64),
        )


@dataclass(frozen=True, slots=True)
class FeatureBatch:
    """A decoded batch of ``n_records`` feature records, one array per feature.

    - ``numeric[name]``: float64, NaN where the value is missing or null.
    - ``categorical[name]``: object array of ``str``, ``None`` where missing or null.
    - ``present[name]``: bool, whether the field appeared in the record at all (even as null),
      for every field seen in the batch, whatever its kind.
    - ``types[name]``: the JSON types observed for the field in this batch
      (``"number"``, ``"string"``, ``"bool"``, ``"null"``, ``"object"``, ``"array"``),
      including in records the decoder rejected (which are not in the batch).
    - ``type_first[name][json_type]``, optional (empty: not known): for each type of
      ``types[name]``, the index of the first record of the batch at or after the first
      input record (accepted or rejected) holding that type; ``n_records`` when no record
      of the batch follows it. Given, it has exactly the fields and types of ``types``.

    Here the decoder rejected a record between the two kept ones, whose ``amount`` was the
    string ``"12"``, so the first record at or after it is the batch's record 1:

    >>> batch = FeatureBatch(
    ...     n_records=2,
    ...     numeric={"amount": np.array([12.5, np.nan])},
    ...     categorical={"country": np.array(["FR", None], dtype=object)},
    ...     present={"amount": np.array([True, True]), "country": np.array([True, False])},
    ...     types={"amount": frozenset({"number", "null", "string"}),
    ...            "country": frozenset({"string"})},
    ...     positions=SourcePositions.sequential("payments", 2, first_offset=40),
    ...     type_first={"amount": {"number": 0, "null": 1, "string": 1},
    ...                 "country": {"string": 0}},
    ... )
    >>> batch.positions.describe(1), batch.type_first["amount"]["string"]
    (('payments', -1, 41), 1)
    """

    n_records: int
    numeric: dict[str, npt.NDArray[np.float64]]
    categorical: dict[str, npt.NDArray[np.object_]]
    present: dict[str, npt.NDArray[np.bool_]]
    types: dict[str, frozenset[str]]
    positions: SourcePositions
    type_first: dict[str, dict[str, int]] = field(default_factory=dict)
    extras: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind, columns in (
            ("numeric", self.numeric),
            ("categorical", self.categorical),
            ("present", self.present),
        ):
            for name, column in columns.items():
                if len(column) != self.n_records:
                    raise ValueError(
                        f"{kind} column {name!r} has {len(column)} values, "
                        f"expected {self.n_records}"
                    )
        if len(self.positions.offsets) != self.n_records:
            raise ValueError("positions must have one entry per record")
        if self.type_first:
            self._check_type_first()

    def _check_type_first(self) -> None:
        if self.type_first.keys() != self.types.keys():
            raise ValueError("type_first must have the fields of types")
        for name, firsts in self.type_first.items():
            if firsts.keys() != self.types[name]:
                raise ValueError(
                    f"type_first of {name!r} has types {sorted(firsts)}, "
                    f"types has {sorted(self.types[name])}"
                )
            if not all(0 <= first <= self.n_records for first in firsts.values()):
                raise ValueError(
                    f"type_first of {name!r} is {firsts}: each must be in 0..{self.n_records}"
                )
