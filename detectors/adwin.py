"""ADWIN: adaptive windowing change detector, decision-for-decision equal to river's."""

from __future__ import annotations

import math
from typing import Any, Self

import numba
import numpy as np
import numpy.typing as npt

from driftwarden.detectors.base import DriftDetector, as_float_array
from driftwarden.detectors.snapshots import check_snapshot

__all__ = ["ADWIN"]

# The window is a table of bucket rows. Row r holds up to max_buckets summaries (total,
# variance) of 2**r values each, in a ring of max_buckets + 1 slots: ``starts[r]`` is the slot
# of its oldest summary, ``counts[r]`` how many it holds. 64 rows hold any window shorter than
# max_buckets * 2**63 values, so the table is allocated once and never grows. Arithmetic on
# the summaries is river's, operation for operation, so every rounding and decision is too.
_MAX_ROWS = 64

# Layout of the float and integer state vectors handed to the kernel.
_TOTAL, _VARIANCE, _WIDTH = 0, 1, 2
_N_ROWS, _TICK, _RESET_PENDING, _N_DETECTIONS = 0, 1, 2, 3
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1

_SNAPSHOT_KIND = "ADWIN"
_SNAPSHOT_VERSION = 1


@numba.njit(cache=True, error_model="numpy")
def _significant_cut(
    totals: npt.NDArray[np.float64],
    starts: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    n_rows: int,
    width: float,
    total: float,
    variance: float,
    delta: float,
    min_window_length: float,
) -> bool:
    """Whether some split of the window, scanned oldest first, has significantly different means."""
    capacity = totals.shape[1]
    # Constant over one scan; river recomputes both per split, with the same result.
    delta_prime = math.log(2.0 * math.log(width) / delta)
    window_variance = variance / width
    # river's test is |u0/n0 - u1/n1| > sqrt(K*m) + L*m, with m = 1/a + 1/b = S/(a*b) where
    # a = n0 - mwl + 1, b = n1 - mwl + 1 and S = a + b. Any split with
    #     (|u0*n1 - u1*n0| + 1e-12*(|u0|*n1 + |u1|*n0))**2 * a*b <= K*S*(n0*n1)**2 * (1 - 2e-9)
    # is one river rejects (L*m >= 0 is dropped; the 1e-12 term bounds the rounding of the
    # products, the 2e-9 the few ulps by which river's own terms can be off, each by orders of
    # magnitude). This test needs no division or square root, so only the splits it cannot
    # clear pay for river's exact test. It is used only where every term stays finite and
    # normal: 1e-200 < variance / width < 1e100, width < 1e12 and delta' > 0.
    certify = 0.0 < delta_prime < 1e300 and 1e-200 < window_variance < 1e100 and width < 1e12
    quadratic_bound = (
        2.0 * window_variance * delta_prime * (width - 2.0 * min_window_length + 2.0)
    ) * (1.0 - 2e-9)
    offset = min_window_length - 1.0
    n0 = 0.0
    n1 = width
    u0 = 0.0
    u1 = total
    size = math.ldexp(2.0, n_rows - 1)
    for row in range(n_rows - 1, -1, -1):
        size *= 0.5  # 2**row, exactly
        slot = starts[row]
        # The newest summary is never a split point: the scan stops just before it.
        for _ in range(counts[row] if row > 0 else counts[0] - 1):
            n0 += size
            n1 -= size
            value = totals[row, slot]
            u0 += value
            u1 -= value
            slot = slot + 1 if slot + 1 < capacity else 0
            if n1 >= min_window_length and n0 >= min_window_length:
                if certify:
                    gap = abs(u0 * n1 - u1 * n0) + 1e-12 * (abs(u0) * n1 + abs(u1) * n0)
                    n0_n1 = n0 * n1
                    a_times_b = (n0 - offset) * (n1 - offset)
                    if gap * gap * a_times_b <= quadratic_bound * (n0_n1 * n0_n1):
                        continue
                delta_mean = u0 / n0 - u1 / n1
                m_recip = 1.0 / (n0 - min_window_length + 1.0) + 1.0 / (
                    n1 - min_window_length + 1.0
                )
                epsilon = (
                    math.sqrt(2.0 * m_recip * window_variance * delta_prime)
                    + 2.0 / 3.0 * delta_prime * m_recip
                )
                if abs(delta_mean) > epsilon:
                    return True
    return False


@numba.njit(cache=True, error_model="numpy")
def _drop_oldest(
    totals: npt.NDArray[np.float64],
    variances: npt.NDArray[np.float64],
    starts: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    n_rows: int,
    width: float,
    total: float,
    variance: float,
) -> tuple[int, float, float, float]:
    """Remove the oldest summary; return the new (n_rows, width, total, variance)."""
    row = n_rows - 1
    size = math.ldexp(1.0, row)
    slot = starts[row]
    oldest_total = totals[row, slot]
    mean = oldest_total / size
    width -= size
    total -= oldest_total
    window_mean = total / width
    variance -= variances[row, slot] + size * width * (mean - window_mean) * (
        mean - window_mean
    ) / (size + width)
    starts[row] = slot + 1 if slot + 1 < totals.shape[1] else 0
    counts[row] -= 1
    if counts[row] == 0:
        n_rows -= 1
    return n_rows, width, total, variance


@numba.njit(cache=True, error_model="numpy")
def _adwin_kernel(
    values: npt.NDArray[np.float64],
    totals: npt.NDArray[np.float64],
    variances: npt.NDArray[np.float64],
    starts: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    fstate: npt.NDArray[np.float64],
    istate: npt.NDArray[np.int64],
    delta: float,
    clock: int,
    max_buckets: int,
    min_window_length: float,
    grace_period: float,
    detections: npt.NDArray[np.int64],
) -> tuple[int, int]:
    """Feed ``values`` in order; write detection indices to ``detections``.

    Returns ``(number of detections, number of NaN values skipped)``.
    """
    capacity = max_buckets + 1
    total = fstate[_TOTAL]
    variance = fstate[_VARIANCE]
    width = fstate[_WIDTH]
    n_rows = istate[_N_ROWS]
    tick = istate[_TICK]
    reset_pending = istate[_RESET_PENDING] != 0
    # river checks when its i32 tick is a multiple of clock; phase is tick mod clock.
    phase = tick % clock
    n_found = 0
    n_nan = 0
    for i in range(values.size):
        value = values[i]
        if math.isnan(value):
            n_nan += 1
            continue
        if reset_pending:
            # river starts a fresh window on the value after a detection.
            counts[:n_rows] = 0
            n_rows = 1
            total = 0.0
            variance = 0.0
            width = 0.0
            tick = 0
            phase = 0
            reset_pending = False

        slot = starts[0] + counts[0]
        if slot >= capacity:
            slot -= capacity
        totals[0, slot] = value
        variances[0, slot] = 0.0
        counts[0] += 1
        width += 1.0
        increment = 0.0
        if width > 1.0:
            deviation = value - total / (width - 1.0)
            increment = (width - 1.0) * deviation * deviation / width
        variance += increment
        total += value

        # A full row merges its two oldest summaries into one summary of the row above.
        # (Written inline: a call passing arrays costs more than the merge itself.)
        row = 0
        size = 1.0  # 2**row: the number of values each summary of this row stands for
        while counts[row] == capacity:
            if row + 1 == _MAX_ROWS:
                raise OverflowError("ADWIN window outgrew its 64 bucket rows")
            first = starts[row]
            second = first + 1 if first + 1 < capacity else 0
            t0 = totals[row, first]
            t1 = totals[row, second]
            mean_0 = t0 / size
            mean_1 = t1 / size
            pair_variance = (
                variances[row, first]
                + variances[row, second]
                + size * 0.5 * (mean_0 - mean_1) * (mean_0 - mean_1)
            )
            starts[row] = second + 1 if second + 1 < capacity else 0
            counts[row] -= 2
            if row + 1 == n_rows:
                n_rows += 1
            slot = starts[row + 1] + counts[row + 1]
            if slot >= capacity:
                slot -= capacity
            totals[row + 1, slot] = t0 + t1
            variances[row + 1, slot] = pair_variance
            counts[row + 1] += 1
            row += 1
            size *= 2.0

        if tick == _I32_MAX:
            tick = _I32_MIN
            phase = tick % clock
        else:
            tick += 1
            phase = phase + 1 if phase + 1 < clock else 0
        if phase != 0 or not width > grace_period:
            continue
        detected = False
        while _significant_cut(
            totals, starts, counts, n_rows, width, total, variance, delta, min_window_length
        ):
            detected = True
            n_rows, width, total, variance = _drop_oldest(
                totals, variances, starts, counts, n_rows, width, total, variance
            )
        if detected:
            detections[n_found] = i
            n_found += 1
            reset_pending = True
            istate[_N_DETECTIONS] += 1

    fstate[_TOTAL] = total
    fstate[_VARIANCE] = variance
    fstate[_WIDTH] = width
    istate[_N_ROWS] = n_rows
    istate[_TICK] = tick
    istate[_RESET_PENDING] = reset_pending
    return n_found, n_nan


class ADWIN(DriftDetector):
    r"""Adaptive Windowing change detector (ADWIN2, Bifet & Gavaldà 2007) for streams of numbers.

    ADWIN keeps a window of recent values, compressed into exponential buckets, and drops
    its oldest part whenever two sub-windows have means that differ by more than a
    Hoeffding-style bound for significance ``delta``. Every detection index equals what
    ``river.drift.ADWIN`` (river 0.26) reports when fed the same values one at a time, for
    any parameters and any split of the stream into batches: the arithmetic runs in river's
    order, and, as in river, the value after a detection starts a fresh window.

    Parameters
    ----------
    delta
        Significance value, in (0, 1). Smaller means fewer false alarms and later detections.
    clock
        Check for a change every ``clock`` values (1 = after every value).
    max_buckets
        Buckets of each size kept before two are merged (at least 2; river crashes below).
    min_window_length
        Smallest sub-window, in values, on either side of a split that is tested.
    grace_period
        No check until the window holds more than this many values.

    NaN values are skipped and counted in ``n_nan``; they do not advance the clock. Unlike
    river's, ``n_detections`` counts every detection since creation, and ``width`` is an int.

    MEMORY_BOUND: ``nbytes`` = 1,080 + 1,024 * (``max_buckets`` + 1) bytes of arrays
    (7,224 with the defaults), allocated once. The rows in use number about
    log2(width / max_buckets) + 1 (about 21 for a window of 10 million values), and a
    ``snapshot()`` holds only those: its JSON is under ``1000 + 64 * (54 * max_buckets + 8)``
    characters (18,792 with the defaults), typically 3 to 4 thousand.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(42)
    >>> stream = np.concatenate([rng.normal(0.0, 1.0, 1000), rng.normal(1.5, 1.0, 1000)])
    >>> adwin = ADWIN()
    >>> [int(i) for i in adwin.update_many(stream)]
    [1023]
    >>> adwin.n_detections
    1

    References
    ----------
    Albert Bifet and Ricard Gavaldà. "Learning from time-changing data with adaptive
    windowing." SIAM International Conference on Data Mining, 2007, pp. 443-448.
    """

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
    ) -> None:
        super().__init__()
        if not 0.0 < delta < 1.0:
            raise ValueError(f"ADWIN delta must be in (0, 1), got {delta!r}")
        for name, value, lowest in (
            ("clock", clock, 1),
            ("max_buckets", max_buckets, 2),
            ("min_window_length", min_window_length, 0),
            ("grace_period", grace_period, 0),
        ):
            if value < lowest:
                raise ValueError(f"ADWIN {name} must be at least {lowest}, got {value!r}")
        self._delta = float(delta)
        self._clock = int(clock)
        self._max_buckets = int(max_buckets)
        self._min_window_length = int(min_window_length)
        self._grace_period = int(grace_period)
        self._totals = np.zeros((_MAX_ROWS, self._max_buckets + 1), dtype=np.float64)
        self._variances = np.zeros((_MAX_ROWS, self._max_buckets + 1), dtype=np.float64)
        self._starts = np.zeros(_MAX_ROWS, dtype=np.int64)
        self._counts = np.zeros(_MAX_ROWS, dtype=np.int64)
        self._fstate = np.zeros(3, dtype=np.float64)
        self._istate = np.zeros(4, dtype=np.int64)
        self._istate[_N_ROWS] = 1

    @property
    def delta(self) -> float:
        """Significance value."""
        return self._delta

    @property
    def clock(self) -> int:
        """A check for change runs every ``clock`` values."""
        return self._clock

    @property
    def max_buckets(self) -> int:
        """Buckets of each size kept before two are merged."""
        return self._max_buckets

    @property
    def min_window_length(self) -> int:
        """Smallest sub-window tested on either side of a split."""
        return self._min_window_length

    @property
    def grace_period(self) -> int:
        """No check until the window holds more than this many values."""
        return self._grace_period

    @property
    def width(self) -> int:
        """Number of values in the window (river gives the same number as a float)."""
        return int(self._fstate[_WIDTH])

    @property
    def total(self) -> float:
        """Sum of the values in the window."""
        return float(self._fstate[_TOTAL])

    @property
    def estimation(self) -> float:
        """Mean of the window (0.0 when it is empty)."""
        width = self._fstate[_WIDTH]
        return 0.0 if width == 0.0 else float(self._fstate[_TOTAL] / width)

    @property
    def variance(self) -> float:
        """river's ``variance``: the window's sum of squared deviations from its mean.

        Divide by ``width`` for the variance per value.
        """
        return float(self._fstate[_VARIANCE])

    @property
    def n_detections(self) -> int:
        """Detections since this detector was created (river's resets with each new window)."""
        return int(self._istate[_N_DETECTIONS])

    @property
    def nbytes(self) -> int:
        """Bytes of state held in arrays; fixed at construction, whatever the stream length."""
        arrays = (self._totals, self._variances, self._starts, self._counts)
        return sum(array.nbytes for array in (*arrays, self._fstate, self._istate))

    def update_many(self, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Feed a whole array in order; return the indices (into ``values``) of detections.

        >>> adwin = ADWIN(clock=1)
        >>> [int(i) for i in adwin.update_many([0.0] * 100 + [10.0] * 20)]
        [104]
        """
        array = as_float_array(values)
        detections = np.empty(array.size, dtype=np.int64)
        n_found, n_nan = _adwin_kernel(
            array,
            self._totals,
            self._variances,
            self._starts,
            self._counts,
            self._fstate,
            self._istate,
            self._delta,
            self._clock,
            self._max_buckets,
            float(self._min_window_length),
            float(self._grace_period),
            detections,
        )
        self.n_nan += n_nan
        if array.size:
            self._drift_detected = bool(n_found and detections[n_found - 1] == array.size - 1)
        return detections[:n_found].copy()

    def snapshot(self) -> dict[str, Any]:
        """Return the full state as a JSON-serialisable dict (floats round-trip exactly).

        >>> import json
        >>> adwin = ADWIN()
        >>> _ = adwin.update_many(np.random.default_rng(0).normal(size=500))
        >>> restored = ADWIN.restore(json.loads(json.dumps(adwin.snapshot())))
        >>> restored.width, restored.estimation == adwin.estimation
        (500, True)
        """
        n_rows = int(self._istate[_N_ROWS])
        return {
            "kind": _SNAPSHOT_KIND,
            "version": _SNAPSHOT_VERSION,
            "params": {
                "delta": self._delta,
                "clock": self._clock,
                "max_buckets": self._max_buckets,
                "min_window_length": self._min_window_length,
                "grace_period": self._grace_period,
            },
            "total": float(self._fstate[_TOTAL]),
            "variance": float(self._fstate[_VARIANCE]),
            "width": float(self._fstate[_WIDTH]),
            "tick": int(self._istate[_TICK]),
            "reset_pending": bool(self._istate[_RESET_PENDING]),
            "n_detections": int(self._istate[_N_DETECTIONS]),
            "drift_detected": self._drift_detected,
            "n_nan": self.n_nan,
            "bucket_totals": [self._row_in_order(self._totals, row) for row in range(n_rows)],
            "bucket_variances": [self._row_in_order(self._variances, row) for row in range(n_rows)],
        }

    def _row_in_order(self, table: npt.NDArray[np.float64], row: int) -> list[float]:
        slots = (self._starts[row] + np.arange(self._counts[row])) % table.shape[1]
        return [float(value) for value in table[row, slots]]

    @classmethod
    def restore(cls, state: dict[str, Any]) -> Self:
        """Rebuild a detector from ``snapshot()``; it makes exactly the same future decisions.

        >>> adwin = ADWIN()
        >>> ADWIN.restore(adwin.snapshot()).delta
        0.002
        """
        check_snapshot(state, _SNAPSHOT_KIND, _SNAPSHOT_VERSION)
        detector = cls(**state["params"])
        bucket_totals = state["bucket_totals"]
        bucket_variances = state["bucket_variances"]
        if not 1 <= len(bucket_totals) <= _MAX_ROWS or len(bucket_variances) != len(bucket_totals):
            raise ValueError("ADWIN snapshot has a malformed bucket table")
        for row, (row_totals, row_variances) in enumerate(
            zip(bucket_totals, bucket_variances, strict=True)
        ):
            if len(row_totals) != len(row_variances) or len(row_totals) > detector._max_buckets:
                raise ValueError(f"ADWIN snapshot has a malformed bucket row {row}")
            count = len(row_totals)
            detector._totals[row, :count] = row_totals
            detector._variances[row, :count] = row_variances
            detector._counts[row] = count
        detector._istate[_N_ROWS] = len(bucket_totals)
        detector._istate[_TICK] = int(state["tick"])
        detector._istate[_RESET_PENDING] = int(bool(state["reset_pending"]))
        detector._istate[_N_DETECTIONS] = int(state["n_detections"])
        detector._fstate[_TOTAL] = float(state["total"])
        detector._fstate[_VARIANCE] = float(state["variance"])
        detector._fstate[_WIDTH] = float(state["width"])
        detector._drift_detected = bool(state["drift_detected"])
        detector.n_nan = int(state["n_nan"])
        return detector
