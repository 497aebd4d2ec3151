"""Page-Hinkley test for a change in the mean, deciding exactly as river's ``drift.PageHinkley``.

The statistic is a cumulative sum of deviations from the running mean, optionally faded by
``alpha``; a change is signalled when the sum rises (or falls) more than ``threshold`` above its
running extreme. The arithmetic is done in the same order as river 0.26, so every decision is
bit-for-bit the same as river fed one value at a time, whatever the batch boundaries.

Choosing parameters
-------------------
River's defaults (``delta=0.005, threshold=50``) are tuned for raw streams of moderate scale.
On standardised data (mean 0, std 1 under the reference) they raise false alarms all the time:
river 0.26.1 itself gives 307, 331 and 295 detections on 500,000 stationary N(0, 1) values
(seeds 0, 1, 2; ``bench/page_hinkley_defaults.py``). Use ``STANDARDISED_DEFAULTS`` for values
standardised by the reference profile.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Final, Self

import numba
import numpy as np
import numpy.typing as npt

from driftwarden.detectors.base import DriftDetector, as_float_array
from driftwarden.detectors.snapshots import check_snapshot

__all__ = ["STANDARDISED_DEFAULTS", "PageHinkley"]

# Parameters for values standardised by the reference (mean 0, std 1). Measured with
# `.venv/bin/python bench/page_hinkley_defaults.py --long-streams 10` (seeded): 0 false alarms
# in 100 million stationary N(0, 1) values and 0 in 100 million standardised lognormal(0, 1)
# values (also 0 over 2,000 fresh starts of 5,000 values each); a 0.5 sigma mean shift is
# detected after a median of 373 values (up) / 370 (down) on N(0, 1), 373 / 365 on lognormal.
# Fading (alpha < 1) does not help: the extreme the sum is compared with never fades, so the
# faded sum's own noise crosses the threshold (every alpha < 1 cell of the `--search` grid gave
# 3 to 68,000 false alarms per 50 million values). The threshold is set by the lognormal's
# single-value spikes: the largest of 10 million standardised values is 70 to 125.
STANDARDISED_DEFAULTS: Final[dict[str, float | int | str]] = {
    "min_instances": 30,
    "delta": 0.1,
    "threshold": 150.0,
    "alpha": 1.0,
    "mode": "both",
}

_MODES: Final[tuple[str, ...]] = ("up", "down", "both")
_SNAPSHOT_KIND: Final[str] = "PageHinkley"
_SNAPSHOT_VERSION: Final[int] = 1


@numba.njit(cache=True)
def _page_hinkley_kernel(
    values: npt.NDArray[np.float64],
    min_instances: int,
    delta: float,
    threshold: float,
    alpha: float,
    mode_code: int,
    n: float,
    mean: float,
    sum_increase: float,
    sum_decrease: float,
    min_increase: float,
    max_decrease: float,
    reset_pending: bool,
) -> tuple[npt.NDArray[np.int64], int, float, float, float, float, float, float, bool]:
    """Run the test over ``values``; return detections, NaN count and the new state.

    Every floating-point operation mirrors river 0.26 (``stats.Mean.update`` and
    ``PageHinkley.update``) in value and order, so comparisons give identical results.
    """
    # Sized for the worst case (a detection on every value) so the loop never reallocates;
    # np.empty only reserves the pages, and only the few that hold detections are touched.
    detections = np.empty(values.size, dtype=np.int64)
    n_detections = 0
    n_nan = 0
    for i in range(values.size):
        x = values[i]
        if x != x:
            n_nan += 1
            continue
        if reset_pending:
            # River resets on the update that follows a detection, not on the detection itself.
            n = 0.0
            mean = 0.0
            sum_increase = 0.0
            sum_decrease = 0.0
            min_increase = math.inf
            max_decrease = -1.0
            reset_pending = False
        n += 1.0
        mean += (1.0 / n) * (x - mean)
        deviation = x - mean
        sum_increase = alpha * sum_increase + deviation - delta
        sum_decrease = alpha * sum_decrease + deviation + delta
        if sum_increase < min_increase:
            min_increase = sum_increase
        if sum_decrease > max_decrease:
            max_decrease = sum_decrease
        if n >= min_instances:
            rose = sum_increase - min_increase > threshold
            fell = max_decrease - sum_decrease > threshold
            if mode_code == 0:
                reset_pending = rose
            elif mode_code == 1:
                reset_pending = fell
            else:
                reset_pending = rose or fell
            if reset_pending:
                detections[n_detections] = i
                n_detections += 1
    return (
        detections[:n_detections].copy(),
        n_nan,
        n,
        mean,
        sum_increase,
        sum_decrease,
        min_increase,
        max_decrease,
        reset_pending,
    )


def _encode_float(value: float) -> float | str:
    """JSON has no portable inf/NaN: write non-finite floats as the strings ``float`` parses."""
    return value if math.isfinite(value) else repr(value)


def _decode_float(value: float | int | str) -> float:
    return float(value)


class PageHinkley(DriftDetector):
    """Page-Hinkley change detector on the (faded) cumulative deviation from the running mean.

    Detects a rise (``mode="up"``), a fall (``"down"``) or either (``"both"``) in the mean of
    the stream. It signals changes only, no warning zone. On the value after a detection the
    detector starts afresh (running mean, sums and extremes), exactly as river does.

    Decisions are bit-for-bit those of river 0.26's ``drift.PageHinkley`` fed one value at a
    time, for any parameters and any split of the stream into batches. NaN values are skipped
    and counted in ``n_nan``; they are never fed and do not move the count of values seen.

    River's defaults suit raw streams; on standardised data they give hundreds of false alarms
    per 500,000 N(0, 1) values. Pass ``**STANDARDISED_DEFAULTS`` for standardised values.

    ``MEMORY_BOUND``: constant, independent of stream length: six floats (count, running mean,
    two sums, their two extremes), the pending-reset flag and ``n_nan``; the JSON snapshot is
    under 512 bytes. Per call, ``update_many`` reserves 8 bytes of address space per input value
    for the worst case of one detection per value, but touches only the pages that hold
    detections, and returns a copy of 8 bytes per detection.

    Parameters
    ----------
    min_instances
        Number of values (since the start or the last reset) before a change can be signalled.
    delta
        Magnitude of change tolerated: subtracted from (``up``) or added to (``down``) every
        deviation before it is summed.
    threshold
        Detection threshold (lambda) on the rise or fall of the cumulative sum.
    alpha
        Fading factor applied to the cumulative sums at each step (1 means no fading).
    mode
        ``"up"``, ``"down"`` or ``"both"``: which direction of change to detect.

    Examples
    --------
    >>> import numpy as np
    >>> from driftwarden.detectors.page_hinkley import PageHinkley
    >>> rng = np.random.default_rng(1)
    >>> stream = np.concatenate([rng.normal(0.0, 1.0, 1000), rng.normal(3.0, 1.0, 1000)])
    >>> ph = PageHinkley()
    >>> for start in range(0, stream.size, 256):  # any batch split gives the same indices
    ...     for index in ph.update_many(stream[start : start + 256]):
    ...         print(f"Change detected at index {start + index}")
    Change detected at index 1010

    References
    ----------
    E. S. Page. 1954. Continuous Inspection Schemes. Biometrika 41 (1/2), 100-115.
    """

    MEMORY_BOUND: ClassVar[str] = (
        "constant: 6 float64 + 1 bool + 1 int (n_nan) of state; snapshot JSON under 512 bytes"
    )

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
    ) -> None:
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"invalid mode {mode!r}: valid values are {list(_MODES)}")
        self.min_instances = int(min_instances)
        self.delta = float(delta)
        self.threshold = float(threshold)
        self.alpha = float(alpha)
        self.mode = mode
        self._mode_code = _MODES.index(mode)
        self._reset_state()

    def _reset_state(self) -> None:
        self._n = 0.0
        self._mean = 0.0
        self._sum_increase = 0.0
        self._sum_decrease = 0.0
        self._min_increase = math.inf
        self._max_decrease = -1.0

    @property
    def n(self) -> int:
        """Number of values fed since the start or the last reset."""
        return int(self._n)

    def update_many(self, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Feed a whole array; return the indices (into ``values``) where a change is detected.

        >>> import numpy as np
        >>> ph = PageHinkley(threshold=5.0, delta=0.1, min_instances=5)
        >>> ph.update_many(np.r_[np.zeros(20), np.nan, np.full(10, 2.0)])
        array([23])
        >>> ph.n_nan, ph.drift_detected
        (1, False)
        """
        array = as_float_array(values)
        (
            detections,
            n_nan,
            self._n,
            self._mean,
            self._sum_increase,
            self._sum_decrease,
            self._min_increase,
            self._max_decrease,
            self._drift_detected,
        ) = _page_hinkley_kernel(
            array,
            self.min_instances,
            self.delta,
            self.threshold,
            self.alpha,
            self._mode_code,
            self._n,
            self._mean,
            self._sum_increase,
            self._sum_decrease,
            self._min_increase,
            self._max_decrease,
            self._drift_detected,
        )
        self.n_nan += int(n_nan)
        return detections

    def snapshot(self) -> dict[str, Any]:
        """Return parameters and state as a JSON-serialisable dict (non-finite floats as strings).

        >>> import json
        >>> ph = PageHinkley(threshold=5.0)
        >>> state = json.loads(json.dumps(ph.snapshot()))
        >>> state["state"]["min_increase"]
        'inf'
        >>> PageHinkley.restore(state).snapshot() == ph.snapshot()
        True
        """
        return {
            "kind": _SNAPSHOT_KIND,
            "version": _SNAPSHOT_VERSION,
            "params": {
                "min_instances": self.min_instances,
                "delta": _encode_float(self.delta),
                "threshold": _encode_float(self.threshold),
                "alpha": _encode_float(self.alpha),
                "mode": self.mode,
            },
            "state": {
                "n": int(self._n),
                "mean": _encode_float(self._mean),
                "sum_increase": _encode_float(self._sum_increase),
                "sum_decrease": _encode_float(self._sum_decrease),
                "min_increase": _encode_float(self._min_increase),
                "max_decrease": _encode_float(self._max_decrease),
                "drift_detected": bool(self._drift_detected),
                "n_nan": int(self.n_nan),
            },
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> Self:
        """Rebuild a detector from ``snapshot()`` output; it makes the same future decisions.

        >>> import numpy as np
        >>> ph = PageHinkley()
        >>> _ = ph.update_many(np.zeros(100))
        >>> PageHinkley.restore(ph.snapshot()).n
        100
        """
        check_snapshot(state, _SNAPSHOT_KIND, _SNAPSHOT_VERSION)
        params, saved = state["params"], state["state"]
        detector = cls(
            min_instances=int(params["min_instances"]),
            delta=_decode_float(params["delta"]),
            threshold=_decode_float(params["threshold"]),
            alpha=_decode_float(params["alpha"]),
            mode=str(params["mode"]),
        )
        detector._n = float(int(saved["n"]))
        detector._mean = _decode_float(saved["mean"])
        detector._sum_increase = _decode_float(saved["sum_increase"])
        detector._sum_decrease = _decode_float(saved["sum_decrease"])
        detector._min_increase = _decode_float(saved["min_increase"])
        detector._max_decrease = _decode_float(saved["max_decrease"])
        detector._drift_detected = bool(saved["drift_detected"])
        detector.n_nan = int(saved["n_nan"])
        return detector
