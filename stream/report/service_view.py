"""A service's report from what ``service_source`` read: the events on the alerts topic make
the incidents and the timeline (each incident event carries the live-vs-reference summary of
its moment), the latest snapshots the live distributions and statistics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import numpy as np

from driftwarden.detectors.profile import Profile
from driftwarden.stream.cloudevents import short_type
from driftwarden.stream.report.incident_book import IncidentBook
from driftwarden.stream.report.model import FeatureView, LiveDistribution, ReportData, Timeline
from driftwarden.stream.report.service_source import LiveFeatureState

__all__ = ["event_seconds", "service_report_data"]

_SUMMARY_STATISTICS = ("psi", "mean_shift_sigma", "null_rate", "out_of_range_rate")


def event_seconds(envelope: Mapping[str, Any]) -> float | None:
    """When an event happened, in Unix seconds: its ``time`` (the triggering record's
    timestamp), else the Kafka timestamp the reader noted, else None.

    >>> event_seconds({"time": "2023-11-14T22:13:20.000Z"})
    1700000000.0
    """
    text = envelope.get("time")
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    stamp = envelope.get("_timestamp_ms")
    return stamp / 1000 if isinstance(stamp, int | float) and stamp > 0 else None


def _live(profile: Profile | None, name: str, state: LiveFeatureState | None) -> Any:
    if state is None or not state.summary:
        return None
    live = state.summary.get("live", {})
    records = int(live.get("records", 0))
    null_rate = float(live.get("null_rate", 0.0) or 0.0)
    nulls = round(records * null_rate)
    distribution = LiveDistribution(records=records, nulls=nulls, label="the latest window")
    reference = profile.features.get(name) if profile is not None else None
    if reference is not None and reference.numeric is not None:
        expected = len(reference.numeric.bin_edges) + 3
        if len(state.bin_counts) == expected:
            distribution.bin_counts = list(state.bin_counts)
        return distribution
    values = records - nulls
    for row in live.get("top", []):
        label, share = str(row[0]), float(row[1])
        if label == "(other)":
            distribution.other_count += round(share * values)
        elif share > 0:
            distribution.categories[label] = round(share * values)
    return distribution


def service_report_data(
    profile: Profile | None,
    live: Mapping[str, LiveFeatureState],
    events: list[dict[str, Any]],
    now: float,
    title: str,
    source: str,
) -> ReportData:
    """The report of a service: ``events`` (CloudEvents off the alerts topic, any order),
    ``live`` (``read_live_state``), ``now`` (Unix seconds: where the latest statistics sit
    on the timeline)."""
    timed = sorted(
        ((x, e) for e in events if (x := event_seconds(e)) is not None), key=lambda p: p[0]
    )
    # Record numbers of each feature's stream against time, to place onsets on the axis.
    clock: dict[str, tuple[list[float], list[float]]] = {}
    for x, envelope in timed:
        data = envelope.get("data") or {}
        seen = data.get("records_seen")
        if isinstance(seen, int):
            records, times = clock.setdefault(str(envelope.get("subject")), ([], []))
            records.append(float(seen))
            times.append(x)
    book = IncidentBook()
    timelines: dict[str, Timeline] = {}
    counts: dict[str, Counter[str]] = {}
    novel: dict[str, list[str]] = {}
    for x, envelope in timed:
        data = envelope.get("data") or {}
        feature = str(data.get("feature", envelope.get("subject", "?")))
        kind = short_type(str(envelope.get("type", "")))
        counts.setdefault(feature, Counter())[kind] += 1
        timeline = timelines.setdefault(feature, Timeline())
        if kind.startswith("incident."):
            onsets = [f.get("onset_at") for f in data.get("findings") or []]
            onsets = [o for o in onsets if isinstance(o, int)]
            onset_x = None
            if onsets and feature in clock:
                records, times = clock[feature]
                order = np.argsort(records)
                onset_x = float(
                    np.interp(min(onsets), np.array(records)[order], np.array(times)[order])
                )
            book.add(data, x, onset_x)
            summary = (data.get("summary") or {}).get("live") or {}
            timeline.add(x, {k: summary.get(k) for k in _SUMMARY_STATISTICS if k in summary})
            for finding in data.get("findings") or []:
                values = (finding.get("detail") or {}).get("values")
                if finding.get("kind") == "novel_category" and isinstance(values, list):
                    known = novel.setdefault(feature, [])
                    known += [str(v) for v in values if str(v) not in known][:20]
        elif isinstance(data.get("value"), int | float) and data.get("statistic"):
            timeline.add(x, {str(data["statistic"]): float(data["value"])})
    names = dict.fromkeys([*(profile.features if profile else ()), *live, *timelines])
    features = {}
    for name in names:
        state = live.get(name)
        timeline = timelines.get(name, Timeline())
        statistics = {
            k: v for k, v in (state.statistics if state else {}).items() if np.isfinite(v)
        }
        if statistics:
            timeline.add(now, {k: statistics.get(k) for k in _SUMMARY_STATISTICS})
        reference = profile.features.get(name) if profile is not None else None
        shape: Literal["numeric", "categorical"] | None = None
        if reference is not None:
            shape = reference.kind
        elif state is not None:
            shape = "numeric" if "mean_shift_sigma" in statistics else "categorical"
        features[name] = FeatureView(
            name=name,
            kind=shape,
            reference=reference,
            live=_live(profile, name, state),
            timeline=timeline,
            incidents=book.spans(name),
            statistics=statistics,
            novel_categories=novel.get(name, []),
            events=dict(sorted(counts.get(name, Counter()).items())),
        )
    return ReportData(title, source, "time", 0, features)
