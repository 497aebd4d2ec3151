"""The per-(feature, detector) state machine that turns raw detections into events."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["AlertState"]


@dataclass(slots=True)
class AlertState:
    """OK → DRIFTING emits ``drift.detected``; DRIFTING → OK emits ``drift.resolved``.

    Positions are per-feature record numbers (monotonic, restored with the bank), never
    clocks, so a replay makes the same decisions. A detection within ``cooldown`` records of
    the previous transition is suppressed (counted in ``suppressed``), so a detector that
    flaps around its threshold does not flood the alerts topic.

    >>> state = AlertState()
    >>> state.on_detection(100, cooldown=50), state.on_detection(120, cooldown=50)
    (True, False)
    >>> state.resolve_due(10_000, resolve_after=1000)
    1120
    >>> state.on_detection(1150, cooldown=50), state.suppressed
    (False, 1)
    """

    drifting: bool = False
    last_transition: int | None = None
    last_detection: int | None = None
    suppressed: int = 0

    def on_detection(self, record: int, cooldown: int) -> bool:
        """Register a detection at ``record``; return whether it starts a drift (emit it)."""
        if self.drifting:
            self.last_detection = record
            return False
        if self.last_transition is not None and record - self.last_transition < cooldown:
            self.suppressed += 1
            return False
        self.drifting = True
        self.last_transition = record
        self.last_detection = record
        return True

    def on_clear(self, record: int) -> bool:
        """Register a clean outcome (a window without drift); return whether drift resolved."""
        if not self.drifting:
            return False
        self.drifting = False
        self.last_transition = record
        return True

    def resolve_due(self, record_end: int, resolve_after: int) -> int | None:
        """For change detectors: resolve once ``resolve_after`` records pass without a new
        detection. Return the record number at which it resolved, or None."""
        if not self.drifting or self.last_detection is None:
            return None
        due = self.last_detection + resolve_after
        if due > record_end:
            return None
        self.drifting = False
        self.last_transition = due
        return due

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return asdict(self)

    @classmethod
    def restore(cls, state: dict[str, Any]) -> AlertState:
        """Inverse of ``snapshot``."""
        return cls(**state)
