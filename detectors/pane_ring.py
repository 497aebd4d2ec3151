"""The last panes of a feature's stream, and the trailing windows the new ones close.

A ``PaneRing`` keeps the most recent ``capacity`` pane rows (sums, see ``pane_kernels``) with
where each pane starts: its record number in the bank's stream and its source position. Its
``extend`` takes the rows a batch closed and returns a ``PaneHistory``: the kept panes
followed by the new ones (the judges take prefix sums of their count columns, exact in
float64, so that the sums over any run of consecutive panes cost one subtraction).

Memory bound: ``capacity`` rows of ``columns`` floats, and ``capacity`` start records and
positions; a history adds the batch's own rows, freed with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.feature_batch import SourcePositions

__all__ = ["PaneHistory", "PanePosition", "PaneRing"]

PanePosition = tuple[str, int, int]
"""A pane's first record: (source, partition, offset), as ``SourcePositions.describe``."""
_Floats = npt.NDArray[np.float64]
_Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PaneHistory:
    """Kept panes ``[0, first_new)`` then the batch's new panes, oldest first.

    ``starts[i]`` is the bank record number of
    pane ``i``'s first record; ``capacity`` how many panes the longest window spans;
    ``first_number`` the number of the first new pane counted from the feature's first.

    >>> ring = PaneRing(columns=1, capacity=3, pane=10)
    >>> history = ring.extend(np.array([[1.0], [2.0], [3.0]]), 0, 0, 0,
    ...                       SourcePositions.sequential("f", 30), 0)
    >>> history.sums(np.array([2]), 2)[:, 0].tolist(), history.position(1)
    ([5.0], ('f', -1, 10))
    """

    rows: _Floats
    starts: _Ints
    first_new: int
    first_number: int
    capacity: int
    sources: list[SourcePositions]
    indices: npt.NDArray[np.intp]

    @property
    def new(self) -> npt.NDArray[np.intp]:
        """Indices of the batch's new panes."""
        return np.arange(self.first_new, self.rows.shape[0])

    def sums(self, ends: npt.NDArray[np.intp], span: int) -> _Floats:
        """Row sums over the ``span`` panes ending at (and including) each pane of ``ends``,
        or over as many as there are, each summed from its own rows (never a difference of
        prefix sums: the bits must not depend on where the history began)."""
        return np.array(
            [self.rows[max(0, end + 1 - span) : end + 1].sum(axis=0) for end in ends.tolist()]
        ).reshape(-1, self.rows.shape[1])

    def prefix(self, low: int, end: int) -> _Floats:
        """Prefix sums of panes ``low..end``, a zero row first (for split statistics)."""
        out = np.zeros((end - low + 2, self.rows.shape[1]), dtype=np.float64)
        np.cumsum(self.rows[low : end + 1], axis=0, out=out[1:])
        return out

    def oldest(self, end: int) -> int:
        """The oldest pane of the longest window ending at ``end``."""
        return max(0, end + 1 - self.capacity)

    def position(self, h: int) -> PanePosition:
        """The source position of pane ``h``'s first record."""
        return self.sources[h].describe(int(self.indices[h]))


class PaneRing:
    """The most recent ``capacity`` panes of ``pane`` records of one feature.

    Where a pane began is kept as its batch's ``SourcePositions`` and an index into it, read
    only when an onset is reported: the ring holds on to the positions of the batches its
    panes came from (at most the records of its longest window's worth).
    """

    def __init__(self, columns: int, capacity: int, pane: int) -> None:
        self.columns = columns
        self.capacity = capacity
        self.pane = pane
        self.panes = 0
        self.rows = np.zeros((0, columns), dtype=np.float64)
        self.starts = np.zeros(0, dtype=np.int64)
        self.sources: list[SourcePositions] = []
        self.indices = np.zeros(0, dtype=np.intp)
        # Where the open pane began: bank record number and source position.
        self.open_start = 0
        self.open_source = _NOWHERE
        self.open_index = 0

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def extend(
        self,
        rows: _Floats,
        n_before: int,
        start: int,
        base: int,
        positions: SourcePositions,
        offset: int,
    ) -> PaneHistory | None:
        """Take the ``rows`` a batch closed; return the history the batch is judged on (None
        when it closed none).

        The batch's values began at its record ``offset + start`` (the bank's record ``base +
        start``) with ``n_before`` records of the open pane already counted.
        """
        closed = rows.shape[0]
        if n_before == 0:
            self._open_at(base + start, positions, offset + start)
        if not closed:
            return None
        local = start + np.arange(closed + 1, dtype=np.int64) * self.pane - n_before
        starts = base + local[:closed]
        starts[0] = self.open_start
        indices = offset + local[:closed]
        indices[0] = self.open_index
        history_rows = np.concatenate((self.rows, rows)) if len(self) else rows
        history = PaneHistory(
            rows=history_rows,
            starts=np.concatenate((self.starts, starts)),
            first_new=len(self),
            first_number=self.panes,
            capacity=self.capacity,
            sources=[*self.sources, self.open_source, *[positions] * (closed - 1)],
            indices=np.concatenate((self.indices, indices)).astype(np.intp),
        )
        drop = max(0, history_rows.shape[0] - self.capacity)
        self.rows = history_rows[drop:].copy()
        self.starts = history.starts[drop:].copy()
        self.sources = history.sources[drop:]
        self.indices = history.indices[drop:].copy()
        self.panes += closed
        self._open_at(base + int(local[closed]), positions, offset + int(local[closed]))
        return history

    def _open_at(self, record: int, positions: SourcePositions, index: int) -> None:
        self.open_start = record
        if index < len(positions.offsets):
            self.open_source, self.open_index = positions, index

    def history(self) -> PaneHistory:
        """The kept panes alone, none new."""
        return PaneHistory(
            self.rows,
            self.starts,
            len(self),
            self.panes,
            self.capacity,
            self.sources,
            self.indices,
        )

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {
            "columns": self.columns,
            "capacity": self.capacity,
            "pane": self.pane,
            "panes": self.panes,
            "rows": self.rows.tolist(),
            "starts": self.starts.tolist(),
            "positions": [
                list(source.describe(int(i)))
                for source, i in zip(self.sources, self.indices.tolist(), strict=True)
            ],
            "open_start": self.open_start,
            "open_position": list(self.open_source.describe(self.open_index)),
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> PaneRing:
        """Inverse of ``snapshot``."""
        ring = cls(int(state["columns"]), int(state["capacity"]), int(state["pane"]))
        ring.panes = int(state["panes"])
        ring.rows = np.array(state["rows"], dtype=np.float64).reshape(-1, ring.columns)
        ring.starts = np.array(state["starts"], dtype=np.int64)
        ring.sources = [_single(*position) for position in state["positions"]]
        ring.indices = np.zeros(len(ring.sources), dtype=np.intp)
        ring.open_start = int(state["open_start"])
        ring.open_source, ring.open_index = _single(*state["open_position"]), 0
        return ring


def _single(source: str, partition: int, offset: int) -> SourcePositions:
    """The positions of one record."""
    return SourcePositions(
        sources=(str(source),),
        source_ids=np.zeros(1, dtype=np.int32),
        partitions=np.array([partition], dtype=np.int32),
        offsets=np.array([offset], dtype=np.int64),
    )


_NOWHERE = _single("", -1, -1)
