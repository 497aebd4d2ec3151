"""Cut a batch of categorical values where tumbling windows end, and count each piece.

A detector that works on windows of ``window`` non-missing values needs, for every piece of
a batch that lies inside one window, how often each value occurs in it.
``count_window_segments`` finds those pieces and counts each with ``collections.Counter``
(one C loop over the piece's values, about 70 ns a value). Missing values (``None``) are
counted apart and never fill a window; a value that is not a ``str`` counts as
``str(value)``. Python's salted ``hash()`` is used only while counting: the counts are
ordered by first occurrence in the piece, so nothing derived from them depends on the hash
seed unless its user iterates a ``set``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import repeat
from typing import Final, NamedTuple, cast

import numpy as np
import numpy.typing as npt

__all__ = ["CountedSegment", "count_coded_segments", "count_window_segments"]

# Cutting by counts alone costs nothing while missing values are rare; after this many
# pieces that fell short in one window, the rest of the batch is cut at the exact positions
# of its non-missing values (one elementwise pass), so a long run of ``None`` stays cheap.
_SHORT_PIECES_BEFORE_EXACT_CUT: Final[int] = 4
# Up to this many first occurrences are found by scanning the piece once for each key.
_FEW_KEYS: Final[int] = 8
_COUNTED_TYPES: Final[frozenset[type]] = frozenset({str, type(None)})


class CountedSegment(NamedTuple):
    """A piece ``[start, stop)`` of a batch that lies inside one window.

    ``items`` are the piece's values (missing ones included, non-``str`` ones as ``str``),
    ``counts`` each non-missing value's count in order of first occurrence in the piece,
    ``n_missing`` its ``None`` values, and ``closes_window`` whether its last value fills
    the window (the piece then ends with that value, at batch index ``stop - 1``).

    >>> batch = np.array(["a", None, "a"], dtype=object)
    >>> [piece] = count_window_segments(batch, window=5, fill=0)
    >>> dict(piece.counts), piece.n_missing, piece.n_values, piece.closes_window
    ({'a': 2}, 1, 2, False)
    """

    start: int
    stop: int
    items: list[str | None]
    counts: dict[str, int]
    n_missing: int
    closes_window: bool

    @property
    def n_values(self) -> int:
        """Non-missing values in the piece."""
        return self.stop - self.start - self.n_missing

    def first_positions(self, keys: Sequence[str]) -> list[int]:
        """Batch index of the first occurrence of each of ``keys`` (all in the piece).

        >>> batch = np.array(["a", "b", "a", None, "c"], dtype=object)
        >>> [piece] = count_window_segments(batch, window=10, fill=0)
        >>> piece.first_positions(["c", "a"])
        [4, 0]
        """
        if len(keys) <= _FEW_KEYS:  # a scan up to each is cheaper than a pass over all
            return [self.start + self.items.index(key) for key in keys]
        # Built back to front, so each value keeps the position of its first occurrence.
        backwards = range(self.stop - 1, self.start - 1, -1)
        first_at = dict(zip(reversed(self.items), backwards, strict=True))
        return list(map(first_at.__getitem__, keys))

    def positions(self, keys: Sequence[str], occurrences: Sequence[int]) -> list[int]:
        """Batch index of the ``occurrences[i]``-th occurrence (1 = first) of each ``keys[i]``.

        Every key must occur that often in the piece.

        >>> batch = np.array(["a", "b", "a", None, "a"], dtype=object)
        >>> [piece] = count_window_segments(batch, window=10, fill=0)
        >>> piece.positions(["a", "b"], [3, 1])
        [4, 1]
        """
        # Code each value by its key (the others last); a stable sort then lists each key's
        # occurrences in batch order.
        code_of: dict[str | None, int] = dict(zip(keys, range(len(keys)), strict=True))
        codes = np.fromiter(
            map(code_of.get, self.items, repeat(len(keys))), dtype=np.intp, count=len(self.items)
        )
        order = np.argsort(codes, kind="stable")
        firsts = np.searchsorted(codes[order], np.arange(len(keys)))
        chosen = order[firsts + np.asarray(occurrences, dtype=np.intp) - 1]
        return (self.start + chosen).tolist()


def _as_str(value: object) -> str | None:
    return value if value is None or type(value) is str else str(value)


def count_window_segments(
    values: npt.NDArray[np.object_], window: int, fill: int
) -> Iterator[CountedSegment]:
    """Cut ``values`` where windows of ``window`` non-missing values end; count each piece.

    ``fill`` is the number of values the current window already holds (``0 <= fill <
    window``). The pieces cover the batch in order; none straddles a window end, though a
    window may take several pieces (missing values can make a piece fall short). Feeding the
    pieces one by one to a window gives the same windows whatever the batch boundaries.

    >>> batch = np.array(["a", None, "b", "a", "a", "c"], dtype=object)
    >>> for piece in count_window_segments(batch, window=3, fill=1):
    ...     print(piece.start, piece.stop, dict(piece.counts), piece.n_missing, piece.closes_window)
    0 2 {'a': 1} 1 False
    2 3 {'b': 1} 0 True
    3 6 {'a': 2, 'c': 1} 0 True
    """
    if not 0 <= fill < window:
        raise ValueError(f"fill must be in [0, window), got fill={fill} for window={window}")
    size, start, short_pieces = values.size, 0, 0
    kept: npt.NDArray[np.intp] | None = None  # positions of non-missing values, when needed
    while start < size:
        need = window - fill
        if kept is None:
            stop = min(start + need, size)
        else:
            last = int(np.searchsorted(kept, start)) + need - 1
            stop = int(kept[last]) + 1 if last < kept.size else size
        items: list[str | None] = values[start:stop].tolist()
        counts = Counter(items)
        if not set(map(type, counts)) <= _COUNTED_TYPES:
            # Rare (the decoder gives str): count this piece again, as str.
            items = list(map(_as_str, items))
            counts = Counter(items)
        n_missing = counts.pop(None, 0)
        fill += stop - start - n_missing
        closes = fill == window
        present = cast("dict[str, int]", counts)  # None is popped
        yield CountedSegment(start, stop, items, present, n_missing, closes)
        if closes:
            fill, short_pieces = 0, 0
        elif n_missing and kept is None:
            short_pieces += 1
            if short_pieces >= _SHORT_PIECES_BEFORE_EXACT_CUT:
                kept = stop + np.flatnonzero(values[stop:] != None)  # noqa: E711 (elementwise)
        start = stop


def count_coded_segments(
    values: npt.NDArray[np.object_],
    codes: npt.NDArray[np.int32],
    keys: Sequence[str],
    window: int,
    fill: int,
) -> Iterator[CountedSegment]:
    """``count_window_segments`` for a batch already coded by ``keys``: ``codes[i]`` is the
    index of ``values[i]`` in ``keys``, ``len(keys)`` for any other value and -1 for a missing
    one. The pieces and their counts are the same; values outside ``keys`` are counted by
    name, and a piece's ``items`` are listed only when it holds some (they are only needed
    to place those).

    >>> batch = np.array(["a", None, "b", "a", "a", "z"], dtype=object)
    >>> codes = np.array([0, -1, 1, 0, 0, 2], dtype=np.int32)
    >>> for piece in count_coded_segments(batch, codes, ["a", "b"], window=3, fill=1):
    ...     print(piece.start, piece.stop, dict(piece.counts), piece.n_missing, piece.items)
    0 2 {'a': 1} 1 []
    2 3 {'b': 1} 0 []
    3 6 {'a': 2, 'z': 1} 0 ['a', 'a', 'z']
    """
    if not 0 <= fill < window:
        raise ValueError(f"fill must be in [0, window), got fill={fill} for window={window}")
    outside = len(keys)
    size, start, short_pieces = values.size, 0, 0
    kept: npt.NDArray[np.intp] | None = None
    while start < size:
        need = window - fill
        if kept is None:
            stop = min(start + need, size)
        else:
            last = int(np.searchsorted(kept, start)) + need - 1
            stop = int(kept[last]) + 1 if last < kept.size else size
        piece = codes[start:stop]
        tally = np.bincount(piece + 1, minlength=outside + 2).tolist()
        n_missing = tally[0]
        present = {keys[c]: n for c, n in enumerate(tally[1 : outside + 1]) if n}
        items: list[str | None] = []
        if tally[outside + 1]:
            items = list(map(_as_str, values[start:stop].tolist()))
            others = Counter(items[i] for i in np.flatnonzero(piece == outside).tolist())
            for key, count in others.items():
                if key is not None:  # never: missing values are not outside codes
                    present[key] = present.get(key, 0) + count
        fill += stop - start - n_missing
        closes = fill == window
        yield CountedSegment(start, stop, items, cast("dict[str, int]", present), n_missing, closes)
        if closes:
            fill, short_pieces = 0, 0
        elif n_missing and kept is None:
            short_pieces += 1
            if short_pieces >= _SHORT_PIECES_BEFORE_EXACT_CUT:
                kept = stop + np.flatnonzero(codes[stop:] >= 0)
        start = stop
