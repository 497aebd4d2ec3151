"""A report of a replay: what the bank saw, collected batch by batch beside it.

``ReplayCollector.observe`` is given every decoded batch and the bank's output for it (the
``Replayer``'s observer). It counts each feature's live values in the profile's own bins or
categories, per stretch of records, reads the bank's latest statistics after each batch
into a timeline, and keeps the incident events; ``report_data`` turns that into the report's
``ReportData``. The live distribution shown for a feature is that of the records from its
latest incident's onset to its resolution (or the end), else of all records.

Memory: per feature, ``capacity`` stretches of counts (bins + 3, or at most ``max_labels`` + 1
categories) and timeline points, for at most ``max_features`` features; stretches merge in
pairs when full, as the timeline's points do.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.bank import BankOutput, DetectorBank
from driftwarden.detectors.feature_banks import FeatureBanks
from driftwarden.detectors.feature_batch import FeatureBatch
from driftwarden.detectors.profile import FeatureProfile, Profile
from driftwarden.stream.replay import Replayer
from driftwarden.stream.report.incident_book import IncidentBook
from driftwarden.stream.report.model import (
    FeatureView,
    IncidentSpan,
    LiveDistribution,
    ReportData,
    Timeline,
)

__all__ = ["ReplayCollector", "collect"]

_TIMELINE_STATISTICS: Final = ("psi", "mean_shift_sigma", "null_rate", "out_of_range_rate")


@dataclass(slots=True)
class _Track:
    """One feature's counts per stretch of records (rows), the open stretch last."""

    reference: FeatureProfile | None
    kind: str
    width: int
    start: int = 0
    search_edges: npt.NDArray[np.float64] | None = None
    labels: dict[str, int] = field(default_factory=dict)
    ends: list[int] = field(default_factory=list)
    counts: list[npt.NDArray[np.int64]] = field(default_factory=list)
    nulls: list[int] = field(default_factory=list)
    records: list[int] = field(default_factory=list)
    absent: list[int] = field(default_factory=list)


class ReplayCollector:
    """Collects what a report of a replay shows (see the module docstring).

    >>> from driftwarden.detectors.settings import DetectorSettings
    >>> from driftwarden.detectors.feature_batch import SourcePositions
    >>> bank = DetectorBank(DetectorSettings())
    >>> collector = ReplayCollector(None, bank)
    >>> batch = FeatureBatch(3, {}, {"os": np.array(["ios", None, "web"], dtype=object)},
    ...                      {"os": np.ones(3, dtype=bool)}, {"os": frozenset({"string"})},
    ...                      SourcePositions.sequential("f", 3))
    >>> collector.observe(batch, bank.run(batch))
    >>> live = collector.report_data("t", "s").features["os"].live
    >>> live.categories, live.nulls, live.records
    ({'ios': 1, 'web': 1}, 1, 3)
    """

    def __init__(
        self,
        profile: Profile | None,
        bank: FeatureBanks | DetectorBank,
        capacity: int = 240,
        max_labels: int = 64,
        max_features: int = 5000,
    ) -> None:
        self.profile = profile
        self.bank = bank
        self.capacity = capacity
        self.max_labels = max_labels
        self.max_features = max_features
        self.records = 0
        self.book = IncidentBook()
        self.events: dict[str, Counter[str]] = {}
        self._tracks: dict[str, _Track] = {}
        self._timelines: dict[str, Timeline] = {}
        self._before = 0  # records before the batch being observed

    def observe(self, batch: FeatureBatch, output: BankOutput) -> None:
        """Count ``batch`` (after the bank ran over it, giving ``output``)."""
        self._before = self.records
        self.records += batch.n_records
        for name, values in batch.numeric.items():
            track = self._track(name, "numeric")
            if track is not None:
                self._count_numeric(track, values, batch.present[name], batch.n_records)
        for name, labels in batch.categorical.items():
            track = self._track(name, "categorical")
            if track is not None:
                self._count_labels(track, labels, batch.present[name], batch.n_records)
        for name, track in self._tracks.items():
            if name not in batch.numeric and name not in batch.categorical:
                self._close(track, np.zeros(track.width, dtype=np.int64), 0, 0, batch.n_records)
        for event in output.evidence:
            self.events.setdefault(event.feature, Counter())[event.type.value] += 1
        for incident in output.incidents:
            self.events.setdefault(incident.feature, Counter())[incident.type.value] += 1
            # A feature's records_seen and onset_at count its own stream, which for a field
            # the profile lacks starts at its first record: place them on the whole stream.
            x = float(self._before + incident.index + 1)
            onsets = [f.onset_at for f in incident.findings]
            onset_x = x - (incident.records_seen - min(onsets)) if onsets else None
            self.book.add(incident.model_dump(mode="json"), x, onset_x)
        statistics = self.bank.statistics()
        x = float(self.records)
        for name in self._tracks:
            stats = statistics.get(name, {})
            point = {key: stats.get(key) for key in _TIMELINE_STATISTICS}
            self._timelines[name].add(x, point)

    def _track(self, name: str, kind: str) -> _Track | None:
        track = self._tracks.get(name)
        if track is not None:
            return track if track.kind == kind else None
        if len(self._tracks) >= self.max_features:
            return None
        reference = self.profile.features.get(name) if self.profile is not None else None
        if reference is not None and reference.kind != kind:
            reference = None
        if kind == "numeric":
            summary = reference.numeric if reference is not None else None
            if summary is None:
                track = _Track(reference, kind, width=0)
            else:
                edges = [summary.min, *summary.bin_edges, np.nextafter(summary.max, np.inf)]
                track = _Track(reference, kind, len(edges) + 1, search_edges=np.array(edges))
        else:
            top = reference.categorical.top if reference and reference.categorical else {}
            labels = {label: i for i, label in enumerate(top)}
            track = _Track(reference, kind, len(labels) + self.max_labels + 1, labels=labels)
        track.start = self._before
        self._tracks[name] = track
        self._timelines[name] = Timeline(self.capacity)
        return track

    def _count_numeric(
        self,
        track: _Track,
        values: npt.NDArray[np.float64],
        present: npt.NDArray[np.bool_],
        n: int,
    ) -> None:
        finite = values[np.isfinite(values)]
        counts = np.zeros(track.width, dtype=np.int64)
        if track.search_edges is not None:
            bins = np.searchsorted(track.search_edges, finite, side="right")
            counts = np.bincount(bins, minlength=track.width).astype(np.int64)
        seen = int(np.count_nonzero(present))
        self._close(track, counts, seen, seen - finite.size, n - seen)

    def _count_labels(
        self,
        track: _Track,
        labels: npt.NDArray[np.object_],
        present: npt.NDArray[np.bool_],
        n: int,
    ) -> None:
        usable = labels[labels != None]  # noqa: E711
        counts = np.zeros(track.width, dtype=np.int64)
        if usable.size:
            names, tallies = np.unique(usable.astype(str), return_counts=True)
            other = track.width - 1
            for label, tally in zip(names.tolist(), tallies.tolist(), strict=True):
                index = track.labels.get(label)
                if index is None and len(track.labels) < other:
                    index = track.labels[label] = len(track.labels)
                counts[other if index is None else index] += tally
        seen = int(np.count_nonzero(present))
        self._close(track, counts, seen, seen - usable.size, n - seen)

    def _close(
        self, track: _Track, counts: npt.NDArray[np.int64], seen: int, nulls: int, absent: int
    ) -> None:
        """Append one stretch (this batch's), merging pairs when the track is full."""
        if len(track.ends) == self.capacity:
            track.ends = track.ends[1::2]
            pairs = range(0, self.capacity - 1, 2)
            track.counts = [track.counts[i] + track.counts[i + 1] for i in pairs]
            track.nulls = [track.nulls[i] + track.nulls[i + 1] for i in pairs]
            track.records = [track.records[i] + track.records[i + 1] for i in pairs]
            track.absent = [track.absent[i] + track.absent[i + 1] for i in pairs]
        track.ends.append(self.records)
        track.counts.append(counts)
        track.nulls.append(nulls)
        track.records.append(seen)
        track.absent.append(absent)

    def report_data(self, title: str, source: str) -> ReportData:
        """The report so far."""
        statistics = self.bank.statistics()
        features = {}
        for name, track in self._tracks.items():
            spans = self.book.spans(name)
            features[name] = FeatureView(
                name=name,
                kind="numeric" if track.kind == "numeric" else "categorical",
                reference=track.reference,
                live=self._live(track, spans[-1].onset if spans else None, spans),
                timeline=self._timelines[name],
                incidents=spans,
                statistics={k: v for k, v in statistics.get(name, {}).items() if np.isfinite(v)},
                novel_categories=self._novel(track),
                events=dict(sorted(self.events.get(name, Counter()).items())),
            )
        return ReportData(title, source, "record", self.records, features)

    def _live(
        self, track: _Track, onset: float | None, spans: list[IncidentSpan]
    ) -> LiveDistribution:
        ends = np.array(track.ends, dtype=np.int64)
        starts = np.concatenate(([track.start], ends[:-1]))
        chosen = np.ones(len(ends), dtype=bool)
        label = f"all {self.records:,} replayed records"
        if onset is not None and len(ends):
            resolved = spans[-1].resolved
            chosen = ends > onset
            if resolved is not None:
                chosen &= starts < resolved
            if chosen.any():
                first, last = int(starts[chosen][0]) + 1, int(ends[chosen][-1])
                until = "its resolution" if resolved is not None else "the end"
                label = f"records {first:,}–{last:,}: the latest incident, onset to {until}"
            else:
                chosen = np.ones(len(ends), dtype=bool)
        rows = np.flatnonzero(chosen).tolist()
        counts = np.zeros(track.width, dtype=np.int64)
        for i in rows:
            counts += track.counts[i]
        live = LiveDistribution(
            records=sum(track.records[i] for i in rows),
            nulls=sum(track.nulls[i] for i in rows),
            absent=sum(track.absent[i] for i in rows),
            label=label,
        )
        if track.kind == "numeric":
            live.bin_counts = counts.tolist() if track.search_edges is not None else None
            return live
        names = {index: label for label, index in track.labels.items()}
        live.categories = {names[i]: int(c) for i, c in enumerate(counts[:-1].tolist()) if c}
        live.other_count = int(counts[-1])
        return live

    def _novel(self, track: _Track) -> list[str]:
        reference = track.reference
        if track.kind != "categorical" or reference is None or reference.categorical is None:
            return []  # a field training never had is new as a whole, not by category
        known = reference.categorical.top
        return [label for label in track.labels if label not in known]


def collect(replayer: Replayer) -> ReplayCollector:
    """A collector watching ``replayer`` from its next batch on (it becomes its observer).

    >>> from driftwarden.detectors.settings import DetectorSettings
    >>> replayer = Replayer(None, DetectorSettings())
    >>> collect(replayer).observe == replayer.observer
    True
    """
    collector = ReplayCollector(replayer.profile, replayer.banks)
    replayer.observer = collector.observe
    return collector
