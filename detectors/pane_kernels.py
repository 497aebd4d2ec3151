"""Compiled loops that cut a feature's column into panes of ``pane`` records and sum each.

A pane is one row of float64 sums (layouts below), written when its last record arrives; the
open pane and the previous record are carried in ``row`` and ``carry`` between calls, and
every sum is taken one value at a time in stream order, so the rows do not depend on how the
stream was cut into batches. ``values`` are the feature's records in order (NaN, or code -1,
for a missing value); each call returns ``(records in the open pane, panes closed)``.
"""

from __future__ import annotations

import math
from typing import Final

import numba
import numpy as np
import numpy.typing as npt

from driftwarden.detectors.histogram_kernel import _bin_of

__all__ = [
    "CATEGORICAL_COLUMNS",
    "NUMERIC_COLUMNS",
    "fill_categorical_panes",
    "fill_numeric_panes",
]

# Numeric pane rows: records, missing, finite values, sums of z and z**2 (z: the value in
# reference standard deviations, clipped), consecutive finite pairs with the sum of their z
# products, the same three sums of the values' full-bin index b, consecutive missing pairs,
# then one count per full bin.
RECORDS, MISSING, FINITE, SUM_Z, SUM_Z2, PAIRS, CROSS_Z, SUM_B, SUM_B2, CROSS_B, MISS_PAIRS = range(
    11
)
NUMERIC_COLUMNS: Final[int] = 11
# Categorical pane rows: records, missing, values, consecutive value pairs, of which equal,
# consecutive missing pairs, then one count per reference category and one for the rest.
C_RECORDS, C_MISSING, C_VALUES, C_PAIRS, C_SAME, C_MISS_PAIRS = range(6)
CATEGORICAL_COLUMNS: Final[int] = 6

# carry[0]: what the previous record was (0 none yet, 1 a value, 2 missing); then its z and bin
# (numeric) or its code (categorical).
_NONE, _VALUE, _MISSING = 0.0, 1.0, 2.0


@numba.njit(cache=True)
def _fill_numeric(
    values: npt.NDArray[np.float64],
    edges: npt.NDArray[np.float64],
    origin: float,
    scale: float,
    first: npt.NDArray[np.int32],
    mean: float,
    inv_std: float,
    clip: float,
    pane: int,
    n_open: int,
    row: npt.NDArray[np.float64],
    carry: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
) -> tuple[int, int]:
    # The pane's sums live in locals and reach ``row`` once per pane: the loop then touches
    # memory only for the bin count.
    n_closed = 0
    previous, prev_z, prev_b = carry[0], carry[1], carry[2]
    missing, finite, sum_z, sum_z2 = row[MISSING], row[FINITE], row[SUM_Z], row[SUM_Z2]
    pairs, cross_z, sum_b, sum_b2 = row[PAIRS], row[CROSS_Z], row[SUM_B], row[SUM_B2]
    cross_b, miss_pairs = row[CROSS_B], row[MISS_PAIRS]
    for i in range(values.size):
        x = values[i]
        if math.isnan(x):
            missing += 1.0
            if previous == _MISSING:
                miss_pairs += 1.0
            previous = _MISSING
        else:
            b = _bin_of(x, edges, origin, scale, first)
            z = min(max((x - mean) * inv_std, -clip), clip)
            fb = float(b)
            finite += 1.0
            sum_z += z
            sum_z2 += z * z
            sum_b += fb
            sum_b2 += fb * fb
            row[NUMERIC_COLUMNS + b] += 1.0
            if previous == _VALUE:
                pairs += 1.0
                cross_z += z * prev_z
                cross_b += fb * prev_b
            previous, prev_z, prev_b = _VALUE, z, fb
        n_open += 1
        if n_open == pane:
            row[RECORDS] = pane
            row[MISSING], row[FINITE], row[SUM_Z], row[SUM_Z2] = missing, finite, sum_z, sum_z2
            row[PAIRS], row[CROSS_Z], row[SUM_B], row[SUM_B2] = pairs, cross_z, sum_b, sum_b2
            row[CROSS_B], row[MISS_PAIRS] = cross_b, miss_pairs
            out[n_closed, :] = row
            n_closed += 1
            row[:] = 0.0
            missing = finite = sum_z = sum_z2 = pairs = cross_z = 0.0
            sum_b = sum_b2 = cross_b = miss_pairs = 0.0
            n_open = 0
    row[RECORDS] = n_open
    row[MISSING], row[FINITE], row[SUM_Z], row[SUM_Z2] = missing, finite, sum_z, sum_z2
    row[PAIRS], row[CROSS_Z], row[SUM_B], row[SUM_B2] = pairs, cross_z, sum_b, sum_b2
    row[CROSS_B], row[MISS_PAIRS] = cross_b, miss_pairs
    carry[0], carry[1], carry[2] = previous, prev_z, prev_b
    return n_open, n_closed


@numba.njit(cache=True)
def _fill_categorical(
    codes: npt.NDArray[np.int32],
    pane: int,
    n_open: int,
    row: npt.NDArray[np.float64],
    carry: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
) -> tuple[int, int]:
    n_closed = 0
    previous, prev_code = carry[0], carry[1]
    for i in range(codes.size):
        code = codes[i]
        row[C_RECORDS] += 1.0
        if code < 0:
            row[C_MISSING] += 1.0
            if previous == _MISSING:
                row[C_MISS_PAIRS] += 1.0
            previous = _MISSING
        else:
            row[C_VALUES] += 1.0
            row[CATEGORICAL_COLUMNS + code] += 1.0
            if previous == _VALUE:
                row[C_PAIRS] += 1.0
                if code == prev_code:
                    row[C_SAME] += 1.0
            previous, prev_code = _VALUE, float(code)
        n_open += 1
        if n_open == pane:
            out[n_closed, :] = row
            n_closed += 1
            row[:] = 0.0
            n_open = 0
    carry[0], carry[1] = previous, prev_code
    return n_open, n_closed


def fill_numeric_panes(
    values: npt.NDArray[np.float64],
    lookup_edges: npt.NDArray[np.float64],
    lookup: tuple[float, float, npt.NDArray[np.int32]],
    standard: tuple[float, float, float],
    pane: int,
    n_open: int,
    row: npt.NDArray[np.float64],
    carry: npt.NDArray[np.float64],
) -> tuple[int, npt.NDArray[np.float64]]:
    """Sum ``values`` into panes; return the open pane's record count and the closed rows.

    ``lookup`` is a ``BinLookup``'s ``(origin, scale, first_bins)`` over ``lookup_edges``,
    ``standard`` the reference ``(mean, 1 / std, clip)``; ``row`` has ``NUMERIC_COLUMNS`` plus
    one column per full bin.

    >>> from driftwarden.detectors.histogram_kernel import BinLookup
    >>> lk = BinLookup.build(np.array([0.0, 1.0]))
    >>> row, carry = np.zeros(NUMERIC_COLUMNS + 3), np.zeros(3)
    >>> n_open, rows = fill_numeric_panes(np.array([0.5, np.nan, 2.0]), lk.search_edges,
    ...     (lk.origin, lk.scale, lk.first_bins), (0.0, 1.0, 5.0), 2, 0, row, carry)
    >>> n_open, rows[0, [RECORDS, MISSING, FINITE]].tolist(), rows[0, NUMERIC_COLUMNS:].tolist()
    (1, [2.0, 1.0, 1.0], [0.0, 1.0, 0.0])
    """
    out = np.empty(((n_open + values.size) // pane, row.size), dtype=np.float64)
    origin, scale, first = lookup
    mean, inv_std, clip = standard
    n_open, n_closed = _fill_numeric(
        values,
        lookup_edges,
        origin,
        scale,
        first,
        mean,
        inv_std,
        clip,
        pane,
        n_open,
        row,
        carry,
        out,
    )
    return n_open, out[:n_closed]


def fill_categorical_panes(
    codes: npt.NDArray[np.int32],
    pane: int,
    n_open: int,
    row: npt.NDArray[np.float64],
    carry: npt.NDArray[np.float64],
) -> tuple[int, npt.NDArray[np.float64]]:
    """Sum category ``codes`` (-1 missing) into panes, as ``fill_numeric_panes``.

    >>> row, carry = np.zeros(CATEGORICAL_COLUMNS + 2), np.zeros(2)
    >>> n_open, rows = fill_categorical_panes(np.array([1, 1, -1], dtype=np.int32), 3, 0, row,
    ...                                       carry)
    >>> n_open, rows[0, [C_VALUES, C_PAIRS, C_SAME]].tolist(), rows[0, 6:].tolist()
    (0, [2.0, 1.0, 1.0], [0.0, 2.0])
    """
    out = np.empty(((n_open + codes.size) // pane, row.size), dtype=np.float64)
    n_open, n_closed = _fill_categorical(codes, pane, n_open, row, carry, out)
    return n_open, out[:n_closed]
