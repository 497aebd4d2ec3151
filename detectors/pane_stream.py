"""PaneStream: a feature's records cut into panes, and the judging of the panes each batch
closes — what ``NumericEvidence`` and ``CategoricalEvidence`` share.

It holds the open pane (its row of sums and the previous record, carried between batches by
the fill kernels of ``pane_kernels``), the ``PaneRing`` of closed panes, and what judging
depends on besides the panes: the window spans and their strides (``findings.scales``,
``findings.strides``), the chi-square's critical value for ``p_value_threshold``, and the
judge's arguments that only change with the settings (cached until ``apply``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from scipy.special import chdtri

from driftwarden.detectors.feature_batch import SourcePositions
from driftwarden.detectors.findings import (
    FindingDetail,
    FindingKind,
    KindVerdicts,
    PaneVerdicts,
    scales,
    strides,
)
from driftwarden.detectors.pane_judgement import Judged
from driftwarden.detectors.pane_ring import PaneHistory, PaneRing
from driftwarden.detectors.settings import IncidentSettings

__all__ = ["Fill", "PaneStream"]

Fill = Callable[
    [int, npt.NDArray[np.float64], npt.NDArray[np.float64]],
    tuple[int, npt.NDArray[np.float64]],
]
"""``fill(n_before, row, carry) -> (n_open, closed rows)``: a fill kernel over one batch."""


class PaneStream:
    """Panes of ``settings.pane_records`` records, judged over ``window_panes`` of them.

    Memory bound: the ring (``window_panes`` rows of ``columns`` floats), one open row and the
    carry.
    """

    def __init__(self, settings: IncidentSettings, columns: int, carry: int) -> None:
        self.settings = settings
        self.pane = settings.pane_records
        self.capacity = settings.window_panes
        self.spans = np.array(scales(self.capacity), dtype=np.int64)
        self.strides = np.array(strides(scales(self.capacity)), dtype=np.int64)
        self.n_open = 0
        self._carry_size = carry
        self.resize(columns)
        self._critical = (math.nan, math.nan, -1)
        self._arguments: tuple[Any, ...] | None = None

    def resize(self, columns: int) -> None:
        """Start over with panes of ``columns`` sums (when a reference is adopted)."""
        self.ring = PaneRing(columns, self.capacity, self.pane)
        self.row = np.zeros(columns)
        self.carry = np.zeros(self._carry_size)
        self.n_open = 0
        self._arguments = None

    def apply(self, settings: IncidentSettings) -> IncidentSettings:
        """Take new thresholds and floors from the next pane on; the pane size and window are
        kept. Returns the settings in force."""
        self.settings = settings.model_copy(
            update={"pane_records": self.pane, "window_panes": self.capacity}
        )
        self._arguments = None
        return self.settings

    def close(
        self, fill: Fill, start: int, base: int, positions: SourcePositions, offset: int
    ) -> tuple[PaneHistory, npt.NDArray[np.intp]] | None:
        """Run ``fill`` over a batch's values from its record ``offset + start`` (the bank's
        record ``base + start``); return the history and, for each pane closed, the batch
        index (from ``offset``) of its last record — or None when none closed."""
        n_before = self.n_open
        self.n_open, rows = fill(n_before, self.row, self.carry)
        history = self.ring.extend(rows, n_before, start, base, positions, offset)
        if history is None:
            return None
        ends = start + np.arange(1, rows.shape[0] + 1) * self.pane - n_before - 1
        return history, ends.astype(np.intp)

    def chi2_critical(self, dof: int) -> float:
        """The chi-square with ``dof`` degrees of freedom at ``p_value_threshold``."""
        threshold = self.settings.p_value_threshold
        if self._critical[:1] != (threshold,) or self._critical[2] != dof:
            self._critical = (threshold, float(chdtri(max(dof, 1), threshold)), dof)
        return self._critical[1]

    def judge(
        self,
        judge: Callable[..., Judged],
        kinds: tuple[FindingKind, ...],
        history: PaneHistory,
        ends: npt.NDArray[np.intp],
        watching: bool,
        arguments: Callable[[], tuple[Any, ...]],
        describe: Callable[
            [FindingKind, PaneHistory, npt.NDArray[np.int64], npt.NDArray[np.float64], int],
            FindingDetail,
        ],
        summary: Callable[[PaneHistory, int], dict[str, Any]],
    ) -> tuple[PaneVerdicts, npt.NDArray[np.bool_]]:
        """Judge the new panes of ``history`` with the compiled ``judge`` (its settings-only
        ``arguments`` cached until ``apply``). Without ``watching`` (no open incident) the
        distributions' cleanliness is worked out only if a pane fires. Returns the verdicts
        of ``kinds`` and the judge's ``clean`` array (it may hold more columns)."""
        if self._arguments is None:
            self._arguments = arguments()
        call = cast("Callable[..., Judged]", judge)
        head = (history.rows, history.first_new, history.first_number)
        fire, span_index, strength, clean = call(*head, *self._arguments, watching)
        if not watching and fire.any():
            fire, span_index, strength, clean = call(*head, *self._arguments, True)
        verdicts = {}
        for k, kind in enumerate(kinds):
            detail = _describer(describe, kind, history, span_index[:, k], strength[:, k])
            verdicts[kind] = KindVerdicts(fire[:, k], strength[:, k], clean[:, k], detail)
        firing = bool(fire.any())
        return PaneVerdicts(ends, history, verdicts, _summariser(summary, history), firing), clean

    def latest(self, summary: Callable[[PaneHistory, int], dict[str, Any]]) -> dict[str, Any]:
        """``summary`` of the latest kept pane's window (empty before one)."""
        if not len(self.ring):
            return {}
        history = self.ring.history()
        return summary(history, history.rows.shape[0] - 1)

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state (settings excluded but the pane size and window)."""
        return {
            "pane": self.pane,
            "capacity": self.capacity,
            "ring": self.ring.snapshot(),
            "open": {
                "n": self.n_open,
                "row": self.row.tolist(),
                "carry": self.carry.tolist(),
            },
        }

    @staticmethod
    def settings_of(state: dict[str, Any], settings: IncidentSettings) -> IncidentSettings:
        """``settings`` with the pane size and window of a snapshot."""
        return settings.model_copy(
            update={"pane_records": state["pane"], "window_panes": state["capacity"]}
        )

    def restore(self, state: dict[str, Any]) -> None:
        """Take the panes of ``snapshot()``."""
        self.ring = PaneRing.restore(state["ring"])
        pane = state["open"]
        self.n_open = int(pane["n"])
        self.row = np.array(pane["row"], dtype=np.float64)
        self.carry = np.array(pane["carry"], dtype=np.float64)


def _describer(
    describe: Callable[..., FindingDetail],
    kind: FindingKind,
    history: PaneHistory,
    span_index: npt.NDArray[np.int64],
    strength: npt.NDArray[np.float64],
) -> Callable[[int], FindingDetail]:
    return lambda j: describe(kind, history, span_index, strength, j)


def _summariser(
    summary: Callable[[PaneHistory, int], dict[str, Any]], history: PaneHistory
) -> Callable[[int], dict[str, Any]]:
    return lambda h: summary(history, h)
