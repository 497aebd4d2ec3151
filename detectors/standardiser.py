"""Standardisation of a numeric feature by its reference mean and std (scale-free thresholds)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Standardiser"]


class Standardiser:
    """Maps values to ``(x - mean) / std`` of the reference.

    With a profile, mean and std are the training data's. Without one, the first ``warmup``
    non-NaN values form the reference: they are only measured (running moments, O(1) memory),
    and ``transform`` returns standardised values from the value after them on. A zero std
    (a constant reference) is replaced by 1 so that any departure still shows. Standardised
    values are clipped to ``±clip`` (NaN stays NaN).

    >>> s = Standardiser(mean=None, std=None, warmup=4)
    >>> start, z = s.transform(np.array([1.0, 3.0, np.nan, 1.0, 3.0, 5.0]))
    >>> start, z.tolist(), s.mean, s.std
    (5, [3.0], 2.0, 1.0)
    """

    def __init__(
        self, mean: float | None, std: float | None, warmup: int = 1000, clip: float = np.inf
    ) -> None:
        self.warmup = warmup
        self.clip = clip
        self.mean: float | None = mean
        self.std: float | None = std
        self._n = 0
        self._sum = 0.0
        self._sum_sq = 0.0

    @property
    def ready(self) -> bool:
        """Whether the reference mean and std are known."""
        return self.mean is not None and self.std is not None

    def transform(self, values: npt.NDArray[np.float64]) -> tuple[int, npt.NDArray[np.float64]]:
        """Return ``(start, z)``: ``z`` standardises ``values[start:]`` (NaN stays NaN)."""
        start = 0
        if not self.ready:
            start = self._absorb(values)
            if not self.ready:
                return len(values), values[:0]
        assert self.mean is not None and self.std is not None
        scale = self.std if self.std > 0.0 else 1.0
        z = (values[start:] - self.mean) / scale
        if np.isfinite(self.clip):
            np.clip(z, -self.clip, self.clip, out=z)
        return start, z

    def _absorb(self, values: npt.NDArray[np.float64]) -> int:
        """Feed warm-up values; return the index of the first value after the warm-up."""
        finite = ~np.isnan(values)
        cumulative = np.cumsum(finite)
        needed = self.warmup - self._n
        if cumulative.size == 0 or cumulative[-1] < needed:
            taken = values[finite]
            end = len(values)
        else:
            end = int(np.searchsorted(cumulative, needed)) + 1
            taken = values[:end][finite[:end]]
        self._n += taken.size
        self._sum += float(taken.sum())
        self._sum_sq += float(np.dot(taken, taken))
        if self._n >= self.warmup:
            mean = self._sum / self._n
            self.mean = mean
            self.std = float(np.sqrt(max(self._sum_sq / self._n - mean * mean, 0.0)))
        return end

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {
            "warmup": self.warmup,
            "clip": self.clip if np.isfinite(self.clip) else None,
            "mean": self.mean,
            "std": self.std,
            "n": self._n,
            "sum": self._sum,
            "sum_sq": self._sum_sq,
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> Standardiser:
        """Inverse of ``snapshot``."""
        clip = state["clip"] if state["clip"] is not None else np.inf
        restored = cls(state["mean"], state["std"], state["warmup"], clip)
        restored._n, restored._sum, restored._sum_sq = state["n"], state["sum"], state["sum_sq"]
        return restored
