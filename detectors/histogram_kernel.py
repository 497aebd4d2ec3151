"""The compiled inner loop of HistogramDrift: bin, count and sum live values in one pass.

``BinLookup`` finds a value's bin among sorted search edges exactly as
``np.searchsorted(search_edges, x, side="right")`` does, in a few nanoseconds: a uniform grid
of cells over the edges says which bin a cell starts in, and the edges inside the value's
cell (usually none) settle the rest. ``fill_windows`` runs it over a batch while it counts
the open tumbling window and accumulates its moments, closing windows as they fill.
``ranked_values`` picks the quantile edges of a large reference sample the same way, sorting
only the few grid cells that hold them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["BinLookup", "WindowFill", "fill_windows", "ranked_values"]

# Grid cells per search edge: enough that few cells hold an edge (each such cell costs a
# branch that the CPU may mispredict), few enough that the table stays in L1 cache.
_CELLS_PER_EDGE = 64
# ranked_values: below this many values a plain sort is about as fast; the grid has this many
# cells; the cells holding the ranks may hold at most this share of the values (else sort).
_SELECT_MIN_SIZE = 1 << 14
_SELECT_CELLS = 4096
_SELECT_MAX_SHARE = 8


def _grid_scale(low: float, high: float, n_cells: int) -> float:
    """Cells per unit of a grid of ``n_cells`` over [low, high]; 0 (one cell) if degenerate."""
    width = high - low
    scale = n_cells / width if 0.0 < width < math.inf else 0.0
    return scale if math.isfinite(scale) else 0.0


@numba.njit(cache=True)
def _cell(x: float, origin: float, scale: float, top: float) -> int:
    # Subtraction, multiplication by scale >= 0, clamping and truncation are each monotone
    # (non-decreasing) in x under IEEE rounding, so x <= y implies _cell(x) <= _cell(y):
    # that is all the exactness of the lookup rests on. NaN (from inf * 0) goes to cell 0.
    t = (x - origin) * scale
    if not t > 0.0:
        t = 0.0
    if t > top:
        t = top
    return int(t)


@numba.njit(cache=True)
def _first_bins(
    edges: npt.NDArray[np.float64], origin: float, scale: float, n_cells: int
) -> npt.NDArray[np.int32]:
    # first[c] = number of edges in cells below c. An edge in a lower cell is < every value
    # of cell c, an edge in a higher cell is > every such value, so the bin of a value of
    # cell c is first[c] plus the number of edges of cell c that are <= it.
    per_cell = np.zeros(n_cells, dtype=np.int32)
    for edge in edges:
        per_cell[_cell(edge, origin, scale, n_cells - 1.0)] += 1
    first = np.zeros(n_cells, dtype=np.int32)
    for c in range(1, n_cells):
        first[c] = first[c - 1] + per_cell[c - 1]
    return first


@numba.njit(cache=True)
def _bin_of(
    x: float,
    edges: npt.NDArray[np.float64],
    origin: float,
    scale: float,
    first: npt.NDArray[np.int32],
) -> int:
    # Exact for every x but NaN: the number of edges <= x.
    b = first[_cell(x, origin, scale, first.size - 1.0)]
    while b < edges.size and edges[b] <= x:
        b += 1
    return b


@numba.njit(cache=True)
def _bins(
    values: npt.NDArray[np.float64],
    edges: npt.NDArray[np.float64],
    origin: float,
    scale: float,
    first: npt.NDArray[np.int32],
) -> npt.NDArray[np.intp]:
    out = np.empty(values.size, dtype=np.intp)
    for i in range(values.size):
        x = values[i]
        # NaN sorts after everything, as in numpy.
        out[i] = edges.size if math.isnan(x) else _bin_of(x, edges, origin, scale, first)
    return out


@dataclass(frozen=True, slots=True)
class BinLookup:
    """``np.searchsorted(search_edges, x, side="right")``, bit for bit, for any float ``x``.

    ``search_edges`` must be finite and non-decreasing. The lookup holds them and a table of
    ``64 * len(search_edges)`` int32. Build it with ``BinLookup.build``.

    >>> import numpy as np
    >>> lookup = BinLookup.build(np.array([0.0, 1.0, 2.0, 4.0]))
    >>> lookup.bins(np.array([-1.0, 0.0, 0.5, 1.0, 3.9, 4.0, np.inf, np.nan])).tolist()
    [0, 1, 1, 2, 3, 4, 4, 4]
    """

    search_edges: npt.NDArray[np.float64]
    origin: float
    scale: float
    first_bins: npt.NDArray[np.int32]

    @classmethod
    def build(cls, search_edges: npt.ArrayLike) -> BinLookup:
        """Build the lookup of finite, non-decreasing ``search_edges``.

        >>> BinLookup.build([1.0, 2.0]).bins([1.5, 2.0]).tolist()
        [1, 2]
        """
        edges = np.array(search_edges, dtype=np.float64)
        if edges.ndim != 1 or edges.size == 0 or not np.all(np.isfinite(edges)):
            raise ValueError("search edges must be a non-empty 1-D sequence of finite numbers")
        if np.any(edges[1:] < edges[:-1]):
            raise ValueError("search edges must be non-decreasing")
        low, high = float(edges[0]), float(edges[-1])
        if edges.size >= 4:
            # Span the inner edges and half their width either side, not the whole range:
            # one extreme value in the sample must not squeeze every edge into a few cells.
            half = (float(edges[-2]) - float(edges[1])) / 2.0
            low, high = max(low, float(edges[1]) - half), min(high, float(edges[-2]) + half)
        n_cells = _CELLS_PER_EDGE * edges.size
        scale = _grid_scale(low, high, n_cells)
        return cls(edges, low, scale, _first_bins(edges, low, scale, n_cells))

    def bins(self, values: npt.ArrayLike) -> npt.NDArray[np.intp]:
        """The bin of each value: how many search edges are ``<=`` it (NaN: all of them)."""
        array = np.ascontiguousarray(values, dtype=np.float64).ravel()
        return _bins(array, self.search_edges, self.origin, self.scale, self.first_bins)


@numba.njit(cache=True)
def _fill_windows(
    values: npt.NDArray[np.float64],
    edges: npt.NDArray[np.float64],
    origin: float,
    scale: float,
    first: npt.NDArray[np.int32],
    shift: float,
    window: int,
    n_open: int,
    counts: npt.NDArray[np.int64],
    moments: npt.NDArray[np.float64],
    closed_at: npt.NDArray[np.intp],
    closed_counts: npt.NDArray[np.int64],
    closed_moments: npt.NDArray[np.float64],
) -> tuple[int, int, int]:
    total, total_sq, low, high = moments[0], moments[1], moments[2], moments[3]
    n_nonfinite = 0
    n_closed = 0
    for i in range(values.size):
        x = values[i]
        if not math.isfinite(x):
            n_nonfinite += 1
            continue
        counts[_bin_of(x, edges, origin, scale, first)] += 1
        # Summed one value at a time in stream order, carried across calls: the same
        # floats whatever the batch boundaries.
        centred = x - shift
        total += centred
        total_sq += centred * centred
        if x < low:
            low = x
        if x > high:
            high = x
        n_open += 1
        if n_open == window:
            closed_at[n_closed] = i
            closed_counts[n_closed, :] = counts
            closed_moments[n_closed, 0] = total
            closed_moments[n_closed, 1] = total_sq
            closed_moments[n_closed, 2] = low
            closed_moments[n_closed, 3] = high
            n_closed += 1
            counts[:] = 0
            total, total_sq, low, high = 0.0, 0.0, math.inf, -math.inf
            n_open = 0
    moments[0], moments[1], moments[2], moments[3] = total, total_sq, low, high
    return n_open, n_closed, n_nonfinite


class WindowFill(NamedTuple):
    """The windows one ``fill_windows`` call closed, in order, and what it skipped.

    Row ``r`` of ``closed_counts`` (bin counts) and ``closed_moments`` (sum and sum of squares
    of ``x - shift``, min, max) belongs to the window closed by ``values[closed_at[r]]``.

    >>> import numpy as np
    >>> fill = WindowFill(np.array([9]), np.zeros((1, 3), np.int64), np.zeros((1, 4)), 0, 0)
    >>> fill.closed_at.tolist(), fill.n_open
    ([9], 0)
    """

    closed_at: npt.NDArray[np.intp]
    closed_counts: npt.NDArray[np.int64]
    closed_moments: npt.NDArray[np.float64]
    n_open: int
    n_nonfinite: int


def fill_windows(
    values: npt.NDArray[np.float64],
    lookup: BinLookup,
    shift: float,
    window: int,
    n_open: int,
    counts: npt.NDArray[np.int64],
    moments: npt.NDArray[np.float64],
) -> WindowFill:
    """Add the finite ``values`` to tumbling windows of ``window`` values; skip NaN and ±inf.

    The open window has ``n_open`` values, bin counts ``counts`` (one per bin of ``lookup``)
    and ``moments`` = [sum of ``x - shift``, sum of its squares, min, max] (0, 0, inf, -inf
    when empty); both arrays are updated in place to the window left open at the end.
    ``values`` must be a contiguous float64 array.

    >>> import numpy as np
    >>> lookup = BinLookup.build([0.0, 1.0, 2.0])
    >>> counts, moments = np.zeros(4, dtype=np.int64), np.array([0.0, 0.0, np.inf, -np.inf])
    >>> fill = fill_windows(np.array([0.5, np.nan, 1.5, 1.0, 3.0]), lookup, 0.0, 3, 0,
    ...                     counts, moments)
    >>> fill.closed_at.tolist(), fill.closed_counts.tolist(), fill.n_open, fill.n_nonfinite
    ([3], [[0, 1, 2, 0]], 1, 1)
    >>> fill.closed_moments.tolist(), counts.tolist(), moments.tolist()
    ([[3.0, 3.5, 0.5, 1.5]], [0, 0, 0, 1], [3.0, 9.0, 3.0, 3.0])
    """
    if counts.shape != (lookup.search_edges.size + 1,) or moments.shape != (4,):
        raise ValueError("counts needs one entry per bin of the lookup and moments four")
    max_closed = (n_open + values.size) // window
    closed_at = np.empty(max_closed, dtype=np.intp)
    closed_counts = np.empty((max_closed, counts.size), dtype=np.int64)
    closed_moments = np.empty((max_closed, 4), dtype=np.float64)
    n_open, n_closed, n_nonfinite = _fill_windows(
        values,
        lookup.search_edges,
        lookup.origin,
        lookup.scale,
        lookup.first_bins,
        shift,
        window,
        n_open,
        counts,
        moments,
        closed_at,
        closed_counts,
        closed_moments,
    )
    if n_closed < max_closed:  # non-finite values were skipped
        closed_at = closed_at[:n_closed]
        closed_counts = closed_counts[:n_closed]
        closed_moments = closed_moments[:n_closed]
    return WindowFill(closed_at, closed_counts, closed_moments, n_open, n_nonfinite)


@numba.njit(cache=True)
def _select(
    values: npt.NDArray[np.float64],
    ranks: npt.NDArray[np.int64],
    origin: float,
    scale: float,
    n_cells: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], bool]:
    # The cell map is monotone, so sorted values are the cells' values sorted cell by cell,
    # and equal values share a cell: sorting the cells that hold the ranks is enough.
    top = n_cells - 1.0
    starts = np.zeros(n_cells + 1, dtype=np.int64)
    for x in values:
        starts[_cell(x, origin, scale, top) + 1] += 1
    starts = np.cumsum(starts)
    cells = np.searchsorted(starts, ranks, side="right") - 1
    slot = np.full(n_cells, -1, dtype=np.int64)
    offsets = [0]
    for c in cells:
        if slot[c] < 0:
            slot[c] = len(offsets) - 1
            offsets.append(offsets[-1] + starts[c + 1] - starts[c])
    at = np.empty(ranks.size, dtype=np.float64)
    below = np.empty(ranks.size, dtype=np.int64)
    if offsets[-1] > values.size // _SELECT_MAX_SHARE:
        return at, below, False
    gathered = np.empty(offsets[-1], dtype=np.float64)
    filled = np.array(offsets[:-1], dtype=np.int64)
    for x in values:
        s = slot[_cell(x, origin, scale, top)]
        if s >= 0:
            gathered[filled[s]] = x
            filled[s] += 1
    for j in range(len(offsets) - 1):
        gathered[offsets[j] : offsets[j + 1]].sort()
    for i in range(ranks.size):
        c = cells[i]
        part = gathered[offsets[slot[c]] : offsets[slot[c] + 1]]
        at[i] = part[ranks[i] - starts[c]]
        below[i] = starts[c] + np.searchsorted(part, at[i], side="left")
    return at, below, True


def ranked_values(
    values: npt.NDArray[np.float64], ranks: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """``np.sort(values)[ranks]`` and, for each, how many values are strictly below it.

    ``values`` must be finite, ``ranks`` non-decreasing. Large samples are not sorted
    whole: a grid over their middle (placed from a strided subsample) counts values per cell,
    and only the cells holding the ranks are sorted; when those hold too many values (a
    distribution the subsample misjudged), it sorts after all. The result is the same.

    >>> import numpy as np
    >>> values = np.random.default_rng(1).permutation(np.repeat(np.arange(50_000.0), 2))
    >>> at, below = ranked_values(values, np.array([1, 50_000, 99_999]))
    >>> at.tolist(), below.tolist()
    ([0.0, 25000.0, 49999.0], [0, 50000, 99998])
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    if values.size >= _SELECT_MIN_SIZE and ranks.size:
        sample = np.sort(values[:: values.size // 2048])
        low = float(sample[ranks[0] * sample.size // values.size])
        high = float(sample[ranks[-1] * sample.size // values.size])
        half = (high - low) / 2.0
        low, high = low - half, high + half
        scale = _grid_scale(low, high, _SELECT_CELLS)
        at, below, selected = _select(values, ranks, low, scale, _SELECT_CELLS)
        if selected:
            return at, below
    ordered = np.sort(values)
    at = ordered[ranks]
    return at, np.searchsorted(ordered, at, side="left").astype(np.int64)
