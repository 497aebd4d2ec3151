"""MisraGries: the most frequent labels of a stream fed as count tables, in bounded memory.

The Misra-Gries summary (Misra and Gries, 1982, "Finding repeated elements"), in the
mergeable form of Agarwal et al. (2012, "Mergeable summaries"): at most ``capacity``
counters; a count table (a window's, a chunk's, another summary's) is added counter by
counter, then, past ``capacity`` counters, the ``(capacity + 1)``-th largest count is taken
from every counter and those left at zero or below are dropped.

Contract
--------
- **Error bound.** Each kept count is low by at most ``error`` (the sum of what the purges
  took), and ``error <= n / (capacity + 1)`` of the ``n`` values absorbed: so the true count
  of a label lies in ``[count, count + error]`` (``count = 0`` for a label not kept), and
  every label with more than ``n / (capacity + 1)`` values is kept.
- **Mergeable.** Merging two summaries keeps the bound for the union of their streams.
- **Deterministic.** No hashing reaches the state: its content depends only on the tables
  fed and their order, and ``counts()`` and ``to_state()`` are ordered by label, so the same
  stream gives the same state in every process.

Memory bound
------------
``capacity`` labels with one integer each, plus, while a table is added, that table's size.

The detectors feed it whole windows (``CategoricalDrift``); training profiles feed it whole
chunks and merge partial profiles with it (``CategoricalAccumulator``).
"""

from __future__ import annotations

from collections.abc import KeysView, Mapping
from typing import Any, Self

import numpy as np

__all__ = ["MisraGries"]


class MisraGries:
    """A Misra-Gries summary of at most ``capacity`` labels.

    >>> summary = MisraGries(capacity=2)
    >>> summary.update({"a": 5, "b": 3, "c": 1})
    >>> summary.update({"a": 2, "d": 1})
    >>> summary.most_frequent(), summary.error
    ([('a', 5), ('b', 1)], 2)
    """

    def __init__(
        self, capacity: int, counts: Mapping[str, int] | None = None, error: int = 0
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        kept = dict(counts or {})
        if len(kept) > capacity or any(count <= 0 for count in kept.values()) or error < 0:
            raise ValueError(
                f"a Misra-Gries summary holds at most {capacity} positive counts and an error "
                f">= 0, got {len(kept)} counts and error {error}"
            )
        self.capacity = capacity
        self.error = error
        self._counts = kept  # in no particular order: sorted when read

    def __len__(self) -> int:
        return len(self._counts)

    def labels(self) -> KeysView[str]:
        """The kept labels, as a live view (a fast ``in``), in no particular order."""
        return self._counts.keys()

    def update(self, counts: Mapping[str, int]) -> None:
        """Add a table of positive counts (a window's, a chunk's), then purge past capacity."""
        mine = self._counts
        if len(counts) > len(mine):  # walk the smaller table in Python, copy the larger in C
            merged = dict(counts)
            for key, count in mine.items():
                merged[key] = merged.get(key, 0) + count
        else:
            merged = mine
            for key, count in counts.items():
                merged[key] = merged.get(key, 0) + count
        if len(merged) > self.capacity:
            # Taking the (capacity + 1)-th largest count from each leaves at most capacity.
            keys = list(merged)
            values = np.fromiter(merged.values(), dtype=np.int64, count=len(keys))
            kth = int(np.partition(values, values.size - self.capacity - 1)[-self.capacity - 1])
            self.error += kth
            kept = np.flatnonzero(values > kth).tolist()
            merged = {keys[i]: merged[keys[i]] - kth for i in kept}
        self._counts = merged

    def merge(self, other: MisraGries) -> None:
        """Absorb ``other``: the result summarises both streams, errors added."""
        self.update(other._counts)
        self.error += other.error

    def counts(self) -> dict[str, int]:
        """The kept labels with their counts (lower bounds), ordered by label."""
        return {key: self._counts[key] for key in sorted(self._counts)}

    def most_frequent(self) -> list[tuple[str, int]]:
        """The kept labels with their counts, largest first, ties ordered by label."""
        return sorted(self._counts.items(), key=lambda item: (-item[1], item[0]))

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state for ``from_state``, ordered by label."""
        counts = self.counts()
        return {
            "capacity": self.capacity,
            "keys": list(counts),
            "counts": list(counts.values()),
            "error": self.error,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild a summary from ``to_state()`` output.

        >>> summary = MisraGries(3, {"b": 2, "a": 7}, error=1)
        >>> MisraGries.from_state(summary.to_state()).most_frequent()
        [('a', 7), ('b', 2)]
        """
        counts = dict(zip(state["keys"], state["counts"], strict=True))
        return cls(int(state["capacity"]), counts, int(state["error"]))
