"""The service's counters, which the progress line, the metrics, the demo and tests read."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ServiceStats"]


@dataclass(slots=True)
class ServiceStats:
    """Counters of one process, shared by the stages it runs.

    Stage one counts ``records``, ``bytes``, ``dlq`` and ``chunks_out`` (column chunks
    produced); stage two counts ``chunks_in`` (column chunks run through the banks) and
    ``events``. In one process, stage two has caught up once ``chunks_in`` reaches
    ``chunks_out``.
    """

    records: int = 0
    bytes: int = 0
    dlq: int = 0
    events: dict[str, int] = field(default_factory=dict)
    dlq_reasons: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    batch_seconds: list[float] = field(default_factory=list)
    chunks_out: int = 0
    chunks_in: int = 0
