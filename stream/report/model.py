"""What a report shows of one feature, whatever produced it: the reference profile, a live
distribution in the reference's own bins or categories, a bounded timeline of statistics,
and the feature's incidents.

Sources (``replay_source``, ``service_source``) fill these; ``page`` and ``figures`` draw
them and never look at where they came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from driftwarden.detectors.profile import FeatureProfile

__all__ = [
    "DEFAULT_MAX_PANELS",
    "SEVERITY_RANK",
    "Axis",
    "FeatureView",
    "IncidentSpan",
    "LiveDistribution",
    "ReportData",
    "Timeline",
]

Axis = Literal["record", "time"]
"""What a timeline's x means: a record number of the stream, or a Unix time in seconds."""

DEFAULT_MAX_PANELS = 40
"""Features drawn with charts by default (the most severe); the rest are in the overview."""

SEVERITY_RANK: dict[str, int] = {"info": 1, "warning": 2, "critical": 3}
"""How severities order (0: no incident)."""


@dataclass(slots=True)
class LiveDistribution:
    """Live values counted in the reference's shape.

    Numeric: ``bin_counts`` over the profile's bins (underflow, one per gap between ``min``,
    the edges and ``max``, overflow: ``len(bin_edges) + 3`` entries). Categorical:
    ``categories`` with counts (at most a bounded number of labels) and ``other_count`` for the
    rest. ``records`` counts the records the field was expected in, ``nulls`` those where it
    was null or absent. ``label`` says which records these are (e.g. "records 4,001–80,000").

    >>> LiveDistribution(records=10, nulls=2, bin_counts=[0, 5, 3, 0]).values
    8
    """

    records: int = 0
    nulls: int = 0
    absent: int = 0
    bin_counts: list[int] | None = None
    categories: dict[str, int] = field(default_factory=dict)
    other_count: int = 0
    label: str = ""

    @property
    def values(self) -> int:
        """Records with a usable value."""
        if self.bin_counts is not None:
            return int(sum(self.bin_counts))
        return int(sum(self.categories.values()) + self.other_count)

    @property
    def null_rate(self) -> float | None:
        """Share of the records holding the field where it had no usable value (None
        without such records), as the profile's ``null_rate``."""
        return self.nulls / self.records if self.records else None

    @property
    def missing_rate(self) -> float | None:
        """Share of all records without a usable value, the absent ones included.

        >>> LiveDistribution(records=6, nulls=1, absent=4, bin_counts=[0, 5, 0]).missing_rate
        0.5
        """
        total = self.records + self.absent
        return (self.nulls + self.absent) / total if total else None

    @property
    def out_of_range_rate(self) -> float | None:
        """Share of numeric values below the training min or above its max."""
        counts = self.bin_counts
        if counts is None or not sum(counts):
            return None
        return (counts[0] + counts[-1]) / sum(counts)


class Timeline:
    """Statistics of a feature at increasing positions, at most ``capacity`` points.

    When full, every other point is dropped and from then on only every second point offered
    is kept (every fourth after the next time, ...), so a stream of any length leaves between
    ``capacity / 2`` and ``capacity`` evenly spaced points spread over all of it.

    >>> timeline = Timeline(capacity=4)
    >>> kept = [timeline.add(float(x), {"psi": x / 10}) for x in range(10)]
    >>> timeline.xs, timeline.series("psi")
    ([3.0, 7.0], [0.3, 0.7])
    """

    def __init__(self, capacity: int = 240) -> None:
        if capacity < 2:
            raise ValueError(f"a timeline needs a capacity of 2 or more, got {capacity}")
        self.capacity = capacity
        self.xs: list[float] = []
        self._values: dict[str, list[float | None]] = {}
        self._stride = 1
        self._offered = 0

    def add(self, x: float, values: dict[str, float | None]) -> bool:
        """Offer one point; returns whether it was kept."""
        self._offered += 1
        if self._offered % self._stride:
            return False
        if len(self.xs) == self.capacity:
            self.xs = self.xs[1::2]
            self._values = {name: series[1::2] for name, series in self._values.items()}
            self._stride *= 2
            if self._offered % self._stride:
                return False
        n = len(self.xs)
        self.xs.append(x)
        for name, value in values.items():
            series = self._values.setdefault(name, [None] * n)
            series.append(value if value is None or np.isfinite(value) else None)
        for series in self._values.values():
            if len(series) == n:
                series.append(None)
        return True

    @property
    def names(self) -> list[str]:
        """The statistics seen, in the order first met."""
        return list(self._values)

    def series(self, name: str) -> list[float | None]:
        """One statistic at every kept point (None where it was not given)."""
        return list(self._values.get(name, [None] * len(self.xs)))


@dataclass(slots=True)
class IncidentSpan:
    """One incident of a feature as the page marks it: onset, detection (opened), updates,
    resolution (None while open), on the timeline's axis, with its finding kinds and worst
    severity."""

    incident_id: str
    severity: str
    opened: float
    onset: float
    resolved: float | None = None
    updates: list[float] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FeatureView:
    """Everything the page shows of one feature.

    ``statistics`` are the latest readings (psi, mean_shift_sigma, null_rate,
    out_of_range_rate, ...); ``novel_categories`` live labels training never had;
    ``events`` counts events by short type.
    """

    name: str
    kind: Literal["numeric", "categorical"] | None
    reference: FeatureProfile | None
    live: LiveDistribution | None = None
    timeline: Timeline = field(default_factory=Timeline)
    incidents: list[IncidentSpan] = field(default_factory=list)
    statistics: dict[str, float] = field(default_factory=dict)
    novel_categories: list[str] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)

    @property
    def severity(self) -> str | None:
        """The worst severity of its incidents (None without any)."""
        worst = max(self.incidents, key=lambda i: SEVERITY_RANK.get(i.severity, 0), default=None)
        return worst.severity if worst is not None else None

    @property
    def open_incident(self) -> bool:
        """Whether an incident was still open at the end."""
        return any(span.resolved is None for span in self.incidents)

    def order_key(self) -> tuple[float, ...]:
        """Sorts features most severe first: worst severity, an open incident, the drift
        statistic (PSI, else the mean shift in σ), then name order (by the caller)."""
        drift = self.statistics.get("psi")
        if drift is None or not np.isfinite(drift):
            drift = abs(self.statistics.get("mean_shift_sigma", 0.0) or 0.0)
        return (
            -SEVERITY_RANK.get(self.severity or "", 0),
            -float(self.open_incident),
            -float(drift if np.isfinite(drift) else 0.0),
        )


@dataclass(slots=True)
class ReportData:
    """A whole report: ``title``, what it was made from (``source``, one line), the timeline
    axis, the records covered, the features, and notes shown at the top (what was left out).
    """

    title: str
    source: str
    axis: Axis
    records: int
    features: dict[str, FeatureView]
    notes: list[str] = field(default_factory=list)

    def ordered(self) -> list[FeatureView]:
        """The features, most severe first (``FeatureView.order_key``, then name)."""
        return sorted(self.features.values(), key=lambda view: (*view.order_key(), view.name))
