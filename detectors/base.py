"""The two small contracts detectors honour: ``DriftDetector``, a base class for the change
detectors over a stream of numbers (ADWIN, Page-Hinkley), and ``WindowedDetector``, a
protocol for the detectors that judge tumbling windows (histogram, null rate, categorical).
"""

from __future__ import annotations

import abc
from typing import Any, Protocol, Self, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["DriftDetector", "WindowedDetector", "as_float_array"]

ReportT = TypeVar("ReportT")


def as_float_array(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return ``values`` as a contiguous 1-D float64 array (no copy when it already is one).

    >>> as_float_array([1, 2.5, float("nan")]).tolist()
    [1.0, 2.5, nan]
    """
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D array of values, got shape {array.shape}")
    return array


class DriftDetector(abc.ABC):
    """An online detector of change in a stream of numbers.

    Subclasses implement ``update_many``; ``update`` is the one-value convenience on top of it.
    NaN values are skipped (counted in ``n_nan``), never fed to the statistic. Every detector
    has a fixed memory bound independent of stream length (``MEMORY_BOUND`` in its docstring)
    and round-trips through ``snapshot()`` / ``restore()`` to a small JSON-serialisable dict.

    >>> import numpy as np
    >>> from driftwarden.detectors.page_hinkley import PageHinkley
    >>> rng = np.random.default_rng(1)
    >>> detector: DriftDetector = PageHinkley(delta=0.1, threshold=150.0, alpha=1.0)
    >>> detector.update_many(np.concatenate([rng.normal(0, 1, 500), rng.normal(3, 1, 500)]))
    array([546])
    """

    def __init__(self) -> None:
        self._drift_detected = False
        self.n_nan = 0

    @property
    def drift_detected(self) -> bool:
        """Whether the last value fed (by ``update`` or ``update_many``) triggered a detection."""
        return self._drift_detected

    def update(self, x: float) -> bool:
        """Feed one value; return whether it triggered a detection."""
        return bool(self.update_many(np.array([x], dtype=np.float64)).size)

    @abc.abstractmethod
    def update_many(self, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Feed a whole array; return the indices (into ``values``) where drift was detected."""

    @abc.abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """Return the full state as a JSON-serialisable dict."""

    @classmethod
    @abc.abstractmethod
    def restore(cls, state: dict[str, Any]) -> Self:
        """Rebuild a detector from ``snapshot()`` output; it makes the same future decisions."""


class WindowedDetector(Protocol[ReportT]):
    """A detector that judges tumbling windows of ``window`` values, one report per window.

    ``HistogramDrift`` (``ReportT = HistogramReport``), ``NullRate`` (``NullRateReport``) and
    ``CategoricalDrift`` (``CategoricalReport | NovelCategoryReport``) honour it structurally,
    without a common base class. Reports carry their index in the batch and do not depend on
    where batches begin and end; ``restore(snapshot())`` makes the same future reports.

    >>> from driftwarden.detectors.null_rate import NullRate, NullRateReport
    >>> detector: WindowedDetector[NullRateReport] = NullRate(0.0, window=100)
    >>> [(r.index, r.null_rate) for r in detector.update_many(np.arange(250) % 10 == 0)]
    [(99, 0.1), (199, 0.1)]
    >>> type(detector).restore(detector.snapshot()).update_many(np.zeros(50, dtype=bool))[0].index
    49
    """

    @property
    def window(self) -> int:
        """Values (or records, for the null rate) per tumbling window."""
        ...

    def update_many(self, values: npt.ArrayLike, /) -> list[ReportT]:
        """Feed a whole batch; return its reports ordered by index into ``values``."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """Return the full state as a JSON-serialisable dict."""
        ...

    @classmethod
    def restore(cls, state: dict[str, Any], /) -> Self:
        """Rebuild a detector from ``snapshot()`` output; it makes the same future reports."""
        ...
