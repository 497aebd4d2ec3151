"""Prometheus metrics of the drift service, in a registry of their own.

``ServiceMetrics`` owns a ``prometheus_client.CollectorRegistry`` (never the global one, so
several services or tests can live in one process). The service calls a handful of cheap
methods once per batch, per event, per checkpoint or per reload, never per record; the
consumer's librdkafka statistics feed the lag gauges through ``stats_callback``.
docs/operations.md lists every metric with its type and labels.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Final

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from driftwarden.detectors.events import EventType
from driftwarden.detectors.incident_events import IncidentEventType
from driftwarden.stream.cloudevents import short_type
from driftwarden.stream.decoding.decoder import REASONS

__all__ = [
    "BATCH_SECONDS_BUCKETS",
    "FEATURE_STATISTICS",
    "ServiceMetrics",
    "merge_feature_statistics",
]

log = structlog.get_logger(__name__)

FEATURE_STATISTICS: Final[tuple[str, ...]] = (
    "psi",
    "js",
    "null_rate",
    "out_of_range_rate",
    "sparse_rate",
    "cardinality",
    "mean_shift_sigma",
)
"""The statistic names exported per feature; any other name is not exported."""

BATCH_SECONDS_BUCKETS: Final[tuple[float, ...]] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (seconds) of ``driftwarden_batch_seconds``: 1 ms to 10 s, then +Inf."""

# Refused feature names are remembered so that each is counted once; this caps that memory
# should the banks ever track more distinct names than this (they are capped well below).
_MAX_REMEMBERED_DROPS: Final = 100_000


def merge_feature_statistics(
    banks: Iterable[Mapping[str, Mapping[str, float]]],
) -> dict[str, dict[str, float]]:
    """Merge several banks' ``DetectorBank.statistics()`` into one: the last value wins.

    Partitions see samples of the same stream, so any partition's latest statistic is a fair
    reading of the feature; the last bank given wins for a (feature, statistic) pair.

    >>> merge_feature_statistics([{"age": {"psi": 0.1, "js": 0.2}}, {"age": {"psi": 0.3}}])
    {'age': {'psi': 0.3, 'js': 0.2}}
    """
    merged: dict[str, dict[str, float]] = {}
    for bank in banks:
        for feature, values in bank.items():
            merged.setdefault(feature, {}).update(values)
    return merged


class ServiceMetrics:
    """Counters, gauges and the batch-latency histogram of one service.

    ``max_feature_series`` caps the features exported by ``driftwarden_feature_statistic``:
    the first features seen keep their series; later ones are counted once each by
    ``driftwarden_feature_series_dropped_total`` and not exported. At most
    ``max_feature_series × 6`` feature series exist, whatever the stream holds.

    >>> metrics = ServiceMetrics()
    >>> metrics.observe_batch("features", records=500, nbytes=61_000, seconds=0.004)
    >>> metrics.observe_event("driftwarden.drift.detected.v1")
    >>> metrics.value("driftwarden_records_total", topic="features")
    500.0
    >>> metrics.value("driftwarden_events_total", type="drift.detected")
    1.0
    """

    def __init__(self, max_feature_series: int = 200, topics: Iterable[str] = ()) -> None:
        if max_feature_series < 0:
            raise ValueError(f"max_feature_series must be >= 0, got {max_feature_series}")
        self.max_feature_series = max_feature_series
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self._records = Counter("driftwarden_records", "Records consumed.", ["topic"], registry=reg)
        self._bytes = Counter(
            "driftwarden_bytes", "Bytes of record values consumed.", ["topic"], registry=reg
        )
        self._dlq_records = Counter(
            "driftwarden_dlq_records", "Records sent to the DLQ.", ["reason"], registry=reg
        )
        self._events = Counter(
            "driftwarden_events",
            "Events published to the alerts topic, by short type (drift.detected).",
            ["type"],
            registry=reg,
        )
        self._checkpoints = Counter(
            "driftwarden_checkpoints", "Checkpoints completed.", registry=reg
        )
        self._reloads = Counter(
            "driftwarden_reloads",
            "Config reloads, by result (ok, failed).",
            ["result"],
            registry=reg,
        )
        self._batch_seconds = Histogram(
            "driftwarden_batch_seconds",
            "Seconds to decode, detect and publish one consumed batch.",
            buckets=BATCH_SECONDS_BUCKETS,
            registry=reg,
        )
        self._consumer_lag = Gauge(
            "driftwarden_consumer_lag",
            "Records between the committed offset and the end of the partition "
            "(librdkafka statistics).",
            ["topic", "partition"],
            registry=reg,
        )
        self._assigned_partitions = Gauge(
            "driftwarden_assigned_partitions",
            "Partitions assigned to a stage (split: input partitions; detect: columns-topic "
            "partitions).",
            ["stage"],
            registry=reg,
        )
        self._stalled_partitions = Gauge(
            "driftwarden_partitions_stalled",
            "Partitions of a stage whose progress waits for the broker to accept their outputs.",
            ["stage"],
            registry=reg,
        )
        self._feature_statistic = Gauge(
            "driftwarden_feature_statistic",
            "Latest drift statistic per feature (at most max_feature_series features).",
            ["feature", "statistic"],
            registry=reg,
        )
        self._feature_series_dropped = Counter(
            "driftwarden_feature_series_dropped",
            "Features not exported as statistic gauges because the series cap was reached.",
            registry=reg,
        )
        # Label values known up front start at 0, so rate() works from the first scrape.
        for topic in topics:
            self._records.labels(topic=topic)
            self._bytes.labels(topic=topic)
        for event_type in [*IncidentEventType, *EventType]:
            self._events.labels(type=event_type.value)
        for reason in REASONS:
            self._dlq_records.labels(reason=reason)
        for result in ("ok", "failed"):
            self._reloads.labels(result=result)
        self._exported: set[str] = set()
        # labels() costs microseconds per call; the cached children make an update cheap.
        self._feature_children: dict[tuple[str, str], Gauge] = {}
        self._dropped: set[str] = set()
        self._feature_lock = threading.Lock()
        # Replaced whole by stats_callback (consumer thread), read by total_lag (any thread).
        self._lags: dict[tuple[str, str], int] = {}

    # -- what the service calls ------------------------------------------------------------

    def observe_batch(self, topic: str, records: int, nbytes: int, seconds: float) -> None:
        """Count one processed batch of ``topic``: its records, value bytes and duration."""
        self._records.labels(topic=topic).inc(records)
        self._bytes.labels(topic=topic).inc(nbytes)
        self._batch_seconds.observe(seconds)

    def observe_dlq(self, reason: str, n: int = 1) -> None:
        """Count ``n`` records sent to the DLQ for ``reason`` (the decoder's reason code)."""
        if n:
            self._dlq_records.labels(reason=reason).inc(n)

    def observe_event(self, type: str, n: int = 1) -> None:
        """Count ``n`` published events; ``type`` is short (``drift.detected``) or the
        CloudEvents type (``driftwarden.drift.detected.v1``); the label is the short form.

        >>> m = ServiceMetrics()
        >>> m.observe_event("category.novel"); m.observe_event("driftwarden.category.novel.v1")
        >>> m.value("driftwarden_events_total", type="category.novel")
        2.0
        """
        self._events.labels(type=short_type(type)).inc(n)

    def observe_checkpoint(self) -> None:
        """Count one completed checkpoint."""
        self._checkpoints.inc()

    def observe_reload(self, ok: bool) -> None:
        """Count one config reload, successful or not."""
        self._reloads.labels(result="ok" if ok else "failed").inc()

    def set_assigned(self, stage: str, n: int) -> None:
        """The number of partitions currently assigned to ``stage``'s consumer."""
        self._assigned_partitions.labels(stage=stage).set(n)

    def set_stalled(self, stage: str, n: int) -> None:
        """How many of ``stage``'s partitions are stalled now (``stream.service.stalls``)."""
        self._stalled_partitions.labels(stage=stage).set(n)

    def update_feature_statistics(self, stats: Mapping[str, Mapping[str, float]]) -> None:
        """Set the feature gauges from ``DetectorBank.statistics()`` (or a merge of several).

        Only the names in ``FEATURE_STATISTICS`` are exported; ``None`` values are skipped;
        a feature absent from ``stats`` keeps its last exported values. Costs
        O(features × statistics), about 2 ms for 200 features × 5 statistics: call it with
        the progress line (or about once a second), not for every batch.

        >>> m = ServiceMetrics(max_feature_series=1)
        >>> m.update_feature_statistics({"age": {"psi": 0.12, "z": 3.0}, "income": {"js": 0.4}})
        >>> m.value("driftwarden_feature_statistic", feature="age", statistic="psi")
        0.12
        >>> m.value("driftwarden_feature_statistic", feature="income", statistic="js") is None
        True
        >>> m.value("driftwarden_feature_series_dropped_total")
        1.0
        """
        with self._feature_lock:
            for feature, values in stats.items():
                if feature not in self._exported:
                    if len(self._exported) >= self.max_feature_series:
                        if (
                            feature not in self._dropped
                            and len(self._dropped) < _MAX_REMEMBERED_DROPS
                        ):
                            self._dropped.add(feature)
                            self._feature_series_dropped.inc()
                        continue
                    self._exported.add(feature)
                for name, value in values.items():
                    if name in FEATURE_STATISTICS and value is not None:
                        child = self._feature_children.get((feature, name))
                        if child is None:
                            child = self._feature_statistic.labels(feature=feature, statistic=name)
                            self._feature_children[(feature, name)] = child
                        child.set(value)

    # -- librdkafka statistics -------------------------------------------------------------

    def librdkafka_settings(self, interval_ms: int = 5000) -> dict[str, Any]:
        """Consumer settings that route librdkafka statistics to ``stats_callback``.

        >>> sorted(ServiceMetrics().librdkafka_settings(1000))
        ['statistics.interval.ms', 'stats_cb']
        """
        return {"statistics.interval.ms": interval_ms, "stats_cb": self.stats_callback}

    def stats_callback(self, stats_json: str) -> None:
        """librdkafka's ``stats_cb``: set ``driftwarden_consumer_lag`` per partition.

        Reads ``topics.<t>.partitions.<p>.consumer_lag`` of the partitions this consumer
        wants (``desired``), skipping the internal partition -1 and unknown lags (-1, before
        the group has committed an offset there). Partitions no longer reported lose their
        series. An unreadable document is logged and ignored: an exception here would be
        raised from the service's ``consume()``.

        >>> m = ServiceMetrics()
        >>> m.stats_callback('{"topics": {"f": {"partitions": {'
        ...     '"0": {"desired": true, "consumer_lag": 40},'
        ...     '"1": {"desired": true, "consumer_lag": -1},'
        ...     '"-1": {"desired": false, "consumer_lag": -1}}}}}')
        >>> m.total_lag(), m.value("driftwarden_consumer_lag", topic="f", partition="0")
        (40, 40.0)
        """
        try:
            stats = json.loads(stats_json)
        except (ValueError, TypeError) as exc:
            log.warning("kafka_statistics_unreadable", error=str(exc))
            return
        self.observe_statistics(stats)

    def observe_statistics(self, stats: Any) -> None:
        """``stats_callback`` for a document already parsed (the service parses it once
        for the metrics and the broker watch)."""
        try:
            lags = _partition_lags(stats)
            reported = set(stats.get("topics") or {})
        except (TypeError, AttributeError) as exc:
            log.warning("kafka_statistics_unreadable", error=str(exc))
            return
        # Each consumer (one per stage) reports its own topics: only their series change.
        mine = {key for key in self._lags if key[0] in reported}
        for stale in mine - lags.keys():
            self._consumer_lag.remove(*stale)
        for (topic, partition), lag in lags.items():
            self._consumer_lag.labels(topic=topic, partition=partition).set(lag)
        self._lags = {key: lag for key, lag in self._lags.items() if key not in mine} | lags

    def total_lag(self) -> int | None:
        """Sum of the known per-partition lags of the latest statistics; ``None`` if none
        is known yet (no statistics, or no offset committed on any assigned partition)."""
        lags = self._lags
        return sum(lags.values()) if lags else None

    # -- reading ---------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The registry in the Prometheus text exposition format (what /metrics serves)."""
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float | None:
        """One sample's current value, by sample name (``..._total``, ``..._count``) and
        labels; ``None`` when there is no such sample. For tests and the progress line."""
        return self.registry.get_sample_value(name, labels)


def _partition_lags(stats: Any) -> dict[tuple[str, str], int]:
    lags: dict[tuple[str, str], int] = {}
    for topic, described in (stats.get("topics") or {}).items():
        for key, partition in (described.get("partitions") or {}).items():
            if key == "-1" or not partition.get("desired", True):
                continue
            lag = partition.get("consumer_lag")
            if isinstance(lag, int) and not isinstance(lag, bool) and lag >= 0:
                lags[(str(topic), str(key))] = lag
    return lags
