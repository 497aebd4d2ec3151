"""What a feature's pane-by-pane evidence says: per kind of finding, which panes fire, which
are back inside the reference, and the details of a firing pane."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.pane_ring import PaneHistory

__all__ = [
    "FindingDetail",
    "FindingKind",
    "KindVerdicts",
    "PaneVerdicts",
    "best_split",
    "scales",
]


class FindingKind(StrEnum):
    """What changed in a feature.

    >>> FindingKind("mean_shift").value
    'mean_shift'
    """

    DISTRIBUTION_SHIFT = "distribution_shift"
    MEAN_SHIFT = "mean_shift"
    NOVEL_CATEGORY = "novel_category"
    NOVEL_FIELD = "novel_field"
    MISSING_FIELD = "missing_field"
    TYPE_CHANGE = "type_change"
    OUT_OF_RANGE = "out_of_range"
    SPARSE_SUPPORT = "sparse_support"
    NULL_RATE = "null_rate"


@dataclass(frozen=True, slots=True)
class FindingDetail:
    """A firing pane's strongest window: the test (``detector``, ``statistic``, ``value``,
    ``threshold``), the effect in plain units, the history index of the pane where the change
    most likely began, and ``strength``, the effect in floors (severity comes from it)."""

    detector: str
    statistic: str
    value: float | None
    threshold: float | None
    effect: dict[str, float]
    onset_pane: int
    strength: float


@dataclass(frozen=True, slots=True)
class KindVerdicts:
    """One kind over a batch's new panes: ``firing`` (evidence and effect past their opening
    thresholds in some window), ``strength`` (the firing effect in floors), ``clean`` (the
    longest window's effect under the resolve threshold) and ``describe(j)`` for new pane
    ``j``."""

    firing: npt.NDArray[np.bool_]
    strength: npt.NDArray[np.float64]
    clean: npt.NDArray[np.bool_]
    describe: Callable[[int], FindingDetail]


@dataclass(frozen=True, slots=True)
class PaneVerdicts:
    """The verdicts of the panes a batch closed. ``ends[j]`` is the batch index of new pane
    ``j``'s last record; ``summary(h)`` the live-vs-reference summary of the longest window
    ending at history pane ``h``."""

    ends: npt.NDArray[np.intp]
    history: PaneHistory
    kinds: dict[FindingKind, KindVerdicts]
    summary: Callable[[int], dict[str, Any]]
    firing: bool
    """Whether any kind fires in any new pane."""


def scales(window_panes: int) -> tuple[int, ...]:
    """The trailing windows tested at each pane's end, in panes.

    >>> scales(50), scales(8)
    ((1, 2, 5, 10, 20, 50), (1, 2, 5, 8))
    """
    return tuple(sorted({s for s in (1, 2, 5, 10, 20) if s < window_panes} | {window_panes}))


def strides(spans: tuple[int, ...]) -> tuple[int, ...]:
    """Every how many panes each span is tested: windows of one or two panes at every pane,
    a window of ``s >= 5`` panes every ``ceil(s / 2)``, in which it moves little.

    >>> strides((1, 2, 5, 10, 20, 50))
    (1, 1, 3, 5, 10, 25)
    """
    return tuple(1 if s < 5 else -(-s // 2) for s in spans)


def best_split(statistic: npt.NDArray[np.float64], lowest: int) -> int:
    """The history index where the change most likely began: ``lowest`` plus the argmax of
    ``statistic`` over candidate splits (0 when there is none).

    >>> best_split(np.array([0.5, 3.0, 1.0]), 10)
    11
    """
    if statistic.size == 0 or not np.isfinite(statistic).any():
        return lowest
    return lowest + int(np.nanargmax(statistic))
