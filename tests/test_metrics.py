"""ServiceMetrics, the HTTP endpoint (/metrics, /healthz, /readyz) and secret hygiene."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from driftwarden.detectors.bank import DetectorBank
from driftwarden.detectors.feature_batch import FeatureBatch, SourcePositions
from driftwarden.detectors.settings import DetectorSettings
from driftwarden.stream.config import load_config
from driftwarden.stream.ops.health_server import HealthServer, Probes, is_ready
from driftwarden.stream.ops.logs import configure_logging
from driftwarden.stream.ops.metrics import (
    FEATURE_STATISTICS,
    ServiceMetrics,
    merge_feature_statistics,
)


def _partition(partition: int, lag: int, desired: bool = True) -> dict[str, Any]:
    """One partition of librdkafka's consumer statistics, as librdkafka 2.x writes it."""
    return {
        "partition": partition,
        "broker": 1 if partition >= 0 else -1,
        "leader": 1 if partition >= 0 else -1,
        "desired": desired,
        "unknown": False,
        "msgq_cnt": 0,
        "msgq_bytes": 0,
        "xmit_msgq_cnt": 0,
        "xmit_msgq_bytes": 0,
        "fetchq_cnt": 12,
        "fetchq_size": 1440,
        "fetch_state": "active" if desired else "none",
        "query_offset": -2,
        "next_offset": 5012,
        "app_offset": 5000,
        "stored_offset": -1001,
        "stored_leader_epoch": -1,
        "commited_offset": 4800,
        "committed_offset": 4800,
        "committed_leader_epoch": 0,
        "eof_offset": -1001,
        "lo_offset": 0,
        "hi_offset": 4800 + max(lag, 0),
        "ls_offset": 4800 + max(lag, 0),
        "consumer_lag": lag,
        "consumer_lag_stored": -1,
        "leader_epoch": 0,
        "txmsgs": 0,
        "txbytes": 0,
        "rxmsgs": 5012,
        "rxbytes": 601440,
        "msgs": 5012,
        "rx_ver_drops": 0,
        "msgs_inflight": 0,
        "next_ack_seq": 0,
        "next_err_seq": 0,
        "acked_msgid": 0,
    }


def _stats(topics: dict[str, dict[int, tuple[int, bool]]]) -> str:
    """A librdkafka consumer statistics document; ``topics``: partition → (lag, desired)."""
    histogram = {"min": 0, "max": 0, "avg": 0, "sum": 0, "cnt": 0, "p50": 0, "p99": 0}
    return json.dumps(
        {
            "name": "rdkafka#consumer-1",
            "client_id": "rdkafka",
            "type": "consumer",
            "ts": 2560160530,
            "time": 1795939197,
            "age": 4606618,
            "replyq": 0,
            "msg_cnt": 0,
            "msg_size": 0,
            "metadata_cache_cnt": 1,
            "brokers": {
                "127.0.0.1:19092/1": {
                    "name": "127.0.0.1:19092/1",
                    "nodeid": 1,
                    "state": "UP",
                    "rtt": histogram,
                    "toppars": {},
                }
            },
            "topics": {
                topic: {
                    "topic": topic,
                    "age": 1545,
                    "metadata_age": 1546,
                    "batchsize": histogram,
                    "batchcnt": histogram,
                    "partitions": {
                        str(p): _partition(p, lag, desired)
                        for p, (lag, desired) in partitions.items()
                    },
                }
                for topic, partitions in topics.items()
            },
            "cgrp": {
                "state": "up",
                "stateage": 4547,
                "join_state": "steady",
                "rebalance_age": 1545,
                "rebalance_cnt": 1,
                "rebalance_reason": "Metadata for subscribed topic(s) has changed",
                "assignment_size": 3,
            },
            "tx": 22,
            "rx": 21,
            "rxmsgs": 5012,
        }
    )


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def metrics() -> ServiceMetrics:
    return ServiceMetrics(topics=["features"])


# -- counters and histogram ----------------------------------------------------------------


def test_counters_move_with_each_observation(metrics: ServiceMetrics) -> None:
    metrics.observe_batch("features", records=500, nbytes=60_000, seconds=0.004)
    metrics.observe_batch("features", records=250, nbytes=30_000, seconds=0.3)
    metrics.observe_batch("clicks", records=7, nbytes=700, seconds=0.001)
    metrics.observe_dlq("malformed_json", 3)
    metrics.observe_dlq("malformed_json")
    metrics.observe_dlq("wrong_type", 0)
    metrics.observe_event("drift.detected")
    metrics.observe_event("driftwarden.drift.detected.v1", n=2)
    metrics.observe_checkpoint()
    metrics.observe_reload(ok=True)
    metrics.observe_reload(ok=False)
    metrics.observe_reload(ok=False)
    metrics.set_assigned("split", 3)

    value = metrics.value
    assert value("driftwarden_records_total", topic="features") == 750
    assert value("driftwarden_records_total", topic="clicks") == 7
    assert value("driftwarden_bytes_total", topic="features") == 90_000
    assert value("driftwarden_dlq_records_total", reason="malformed_json") == 4
    assert value("driftwarden_dlq_records_total", reason="wrong_type") == 0
    assert value("driftwarden_events_total", type="drift.detected") == 3
    assert value("driftwarden_events_total", type="category.novel") == 0
    assert value("driftwarden_checkpoints_total") == 1
    assert value("driftwarden_reloads_total", result="ok") == 1
    assert value("driftwarden_reloads_total", result="failed") == 2
    assert value("driftwarden_assigned_partitions", stage="split") == 3
    assert value("driftwarden_batch_seconds_count") == 3
    assert value("driftwarden_batch_seconds_bucket", le="0.001") == 1
    assert value("driftwarden_batch_seconds_bucket", le="0.005") == 2
    assert value("driftwarden_batch_seconds_bucket", le="0.25") == 2
    assert value("driftwarden_batch_seconds_bucket", le="10.0") == 3


def test_incident_events_start_at_zero_and_count_under_their_short_type(
    metrics: ServiceMetrics,
) -> None:
    for kind in ("incident.opened", "incident.updated", "incident.resolved"):
        assert metrics.value("driftwarden_events_total", type=kind) == 0  # rate() from the start
    metrics.observe_event("incident.opened")
    metrics.observe_event("driftwarden.incident.opened.v1")
    metrics.observe_event("driftwarden.incident.updated.v1", n=3)
    assert metrics.value("driftwarden_events_total", type="incident.opened") == 2
    assert metrics.value("driftwarden_events_total", type="incident.updated") == 3
    assert metrics.value("driftwarden_events_total", type="drift.detected") == 0


def test_known_label_values_are_exported_at_zero_before_anything_happens(
    metrics: ServiceMetrics,
) -> None:
    assert metrics.value("driftwarden_records_total", topic="features") == 0
    assert metrics.value("driftwarden_dlq_records_total", reason="too_large") == 0
    assert metrics.value("driftwarden_events_total", type="support.sparse") == 0


def test_registries_of_two_services_are_independent() -> None:
    first, second = ServiceMetrics(), ServiceMetrics()
    first.observe_checkpoint()
    assert first.value("driftwarden_checkpoints_total") == 1
    assert second.value("driftwarden_checkpoints_total") == 0


# -- consumer lag from librdkafka statistics -----------------------------------------------


def test_lag_is_parsed_per_partition_from_librdkafka_statistics(metrics: ServiceMetrics) -> None:
    assert metrics.total_lag() is None
    metrics.stats_callback(
        _stats(
            {
                "features": {0: (120, True), 1: (0, True), 2: (-1, True), -1: (-1, False)},
                "clicks": {0: (30, True), 1: (999, False)},
            }
        )
    )
    lag = metrics.value
    assert lag("driftwarden_consumer_lag", topic="features", partition="0") == 120
    assert lag("driftwarden_consumer_lag", topic="features", partition="1") == 0
    assert lag("driftwarden_consumer_lag", topic="features", partition="2") is None  # unknown
    assert lag("driftwarden_consumer_lag", topic="features", partition="-1") is None
    assert lag("driftwarden_consumer_lag", topic="clicks", partition="0") == 30
    assert lag("driftwarden_consumer_lag", topic="clicks", partition="1") is None  # not ours
    assert metrics.total_lag() == 150


def test_partitions_gone_from_the_statistics_lose_their_lag_series(
    metrics: ServiceMetrics,
) -> None:
    metrics.stats_callback(_stats({"features": {0: (120, True), 1: (40, True)}}))
    metrics.stats_callback(_stats({"features": {0: (10, True)}}))
    assert metrics.value("driftwarden_consumer_lag", topic="features", partition="0") == 10
    assert metrics.value("driftwarden_consumer_lag", topic="features", partition="1") is None
    assert metrics.total_lag() == 10
    metrics.stats_callback(_stats({"features": {0: (-1, True)}}))
    assert metrics.total_lag() is None


@pytest.mark.parametrize("document", ["", "{not json", "[1, 2]", '{"topics": 3}'])
def test_unreadable_statistics_never_raise_and_keep_the_last_lags(
    metrics: ServiceMetrics, document: str
) -> None:
    metrics.stats_callback(_stats({"features": {0: (75, True)}}))
    metrics.stats_callback(document)
    assert metrics.total_lag() == 75


def test_librdkafka_settings_route_statistics_to_the_callback(metrics: ServiceMetrics) -> None:
    settings = metrics.librdkafka_settings(interval_ms=2000)
    assert settings["statistics.interval.ms"] == 2000
    settings["stats_cb"](_stats({"features": {0: (5, True)}}))
    assert metrics.total_lag() == 5


# -- per-feature statistics ----------------------------------------------------------------


def _bank_statistics(features: list[str], psi: float = 0.1) -> dict[str, dict[str, float]]:
    return {
        name: {"psi": psi, "js": 0.05, "null_rate": 0.01, "out_of_range_rate": 0.0, "z": 9.0}
        for name in features
    }


def _feature_series(metrics: ServiceMetrics) -> list[tuple[str, str]]:
    families = text_string_to_metric_families(metrics.exposition().decode())
    return [
        (sample.labels["feature"], sample.labels["statistic"])
        for family in families
        if family.name == "driftwarden_feature_statistic"
        for sample in family.samples
    ]


def test_feature_series_are_capped_and_features_beyond_the_cap_counted_once() -> None:
    metrics = ServiceMetrics(max_feature_series=3)
    names = [f"f{i}" for i in range(5)]
    metrics.update_feature_statistics(_bank_statistics(names))
    metrics.update_feature_statistics(_bank_statistics(names, psi=0.7))

    series = _feature_series(metrics)
    assert {feature for feature, _ in series} == {"f0", "f1", "f2"}
    assert len(series) <= 3 * len(FEATURE_STATISTICS)
    assert {statistic for _, statistic in series} <= set(FEATURE_STATISTICS)
    assert metrics.value("driftwarden_feature_statistic", feature="f2", statistic="psi") == 0.7
    assert metrics.value("driftwarden_feature_series_dropped_total") == 2


def test_exported_features_keep_their_series_when_new_features_arrive() -> None:
    metrics = ServiceMetrics(max_feature_series=2)
    metrics.update_feature_statistics(_bank_statistics(["age", "income"]))
    metrics.update_feature_statistics({"zip": {"cardinality": 900.0}, "age": {"psi": 0.4}})
    assert metrics.value("driftwarden_feature_statistic", feature="age", statistic="psi") == 0.4
    assert (
        metrics.value("driftwarden_feature_statistic", feature="zip", statistic="cardinality")
        is None
    )
    assert metrics.value("driftwarden_feature_series_dropped_total") == 1


def test_statistics_of_several_banks_merge_with_the_last_value_winning() -> None:
    merged = merge_feature_statistics(
        [
            {"age": {"psi": 0.1, "null_rate": 0.0}},
            {"age": {"psi": 0.3}, "country": {"js": 0.2}},
        ]
    )
    assert merged == {"age": {"psi": 0.3, "null_rate": 0.0}, "country": {"js": 0.2}}


def test_mean_shift_sigma_is_exported_with_its_sign() -> None:
    metrics = ServiceMetrics()
    metrics.update_feature_statistics({"age": {"mean_shift_sigma": -0.8, "psi": 0.12}})
    value = metrics.value
    assert value("driftwarden_feature_statistic", feature="age", statistic="mean_shift_sigma") == (
        -0.8
    )
    assert ("age", "mean_shift_sigma") in _feature_series(metrics)


def _batch(rng: np.random.Generator, latency_mean: float, first: int) -> FeatureBatch:
    n = 10_000
    plans = np.array(["free", "pro", "team"], dtype=object)
    return FeatureBatch(
        n,
        {"latency": rng.normal(latency_mean, 5.0, n)},
        {"plan": rng.choice(plans, n)},
        {"latency": np.ones(n, dtype=bool), "plan": np.ones(n, dtype=bool)},
        {"latency": frozenset({"number"}), "plan": frozenset({"string"})},
        SourcePositions.sequential("requests", n, first),
    )


@pytest.mark.parametrize(
    "settings",
    [
        DetectorSettings(),
        DetectorSettings(
            numeric={"histogram": {"enabled": True}, "null_rate": {"enabled": True}},
            categorical={"null_rate": {"enabled": True}},
        ),
    ],
    ids=["defaults", "tumbling-detectors-on"],
)
def test_every_statistic_a_bank_reports_is_exported_and_follows_a_mean_shift(
    settings: DetectorSettings,
) -> None:
    rng = np.random.default_rng(11)
    bank, metrics = DetectorBank(settings), ServiceMetrics()
    shift: list[float] = []
    for i, mean in enumerate([100, 100, 100, 104, 104, 104]):  # +0.8σ from the fourth batch
        bank.run(_batch(rng, mean, i * 10_000))
        statistics = bank.statistics()
        assert set(statistics["latency"]) | set(statistics["plan"]) <= set(FEATURE_STATISTICS)
        metrics.update_feature_statistics(statistics)
        value = metrics.value(
            "driftwarden_feature_statistic", feature="latency", statistic="mean_shift_sigma"
        )
        assert value == statistics["latency"]["mean_shift_sigma"]
        shift.append(value)
    assert max(map(abs, shift[:3])) < 0.1
    assert all(0.6 < sigma < 1.0 for sigma in shift[3:])


# -- the HTTP endpoint ---------------------------------------------------------------------


@pytest.fixture
def now() -> list[float]:
    return [0.0]


@pytest.fixture
def probes(now: list[float]) -> Probes:
    return Probes(liveness_timeout_s=10, clock=lambda: now[0])


@pytest.fixture
def server(metrics: ServiceMetrics, probes: Probes) -> Iterator[HealthServer]:
    with HealthServer(metrics, probes, "127.0.0.1", 0) as running:
        yield running


def test_healthz_and_readyz_follow_the_probes(
    server: HealthServer, probes: Probes, now: list[float]
) -> None:
    base = f"http://127.0.0.1:{server.port}"
    assert _get(f"{base}/healthz") == (200, b"ok\n")
    assert _get(f"{base}/readyz")[0] == 503
    probes.set_ready(True, "lag 0 <= 10000")
    assert _get(f"{base}/readyz") == (200, b"ok\n")
    now[0] += 11
    assert _get(f"{base}/healthz")[0] == 503
    assert _get(f"{base}/nothing-here")[0] == 404


def test_metrics_endpoint_serves_parseable_exposition(
    server: HealthServer, metrics: ServiceMetrics
) -> None:
    metrics.observe_batch("features", records=10, nbytes=1000, seconds=0.02)
    metrics.stats_callback(_stats({"features": {0: (3, True)}}))
    metrics.update_feature_statistics({"age": {"psi": 0.25}})
    status, body = _get(f"http://127.0.0.1:{server.port}/metrics?x=1")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    expected = {
        "driftwarden_records": "counter",
        "driftwarden_bytes": "counter",
        "driftwarden_dlq_records": "counter",
        "driftwarden_events": "counter",
        "driftwarden_checkpoints": "counter",
        "driftwarden_reloads": "counter",
        "driftwarden_feature_series_dropped": "counter",
        "driftwarden_batch_seconds": "histogram",
        "driftwarden_consumer_lag": "gauge",
        "driftwarden_assigned_partitions": "gauge",
        "driftwarden_feature_statistic": "gauge",
    }
    assert {name: families[name].type for name in expected} == expected
    records = [s for s in families["driftwarden_records"].samples if s.name.endswith("_total")]
    assert [(s.labels, s.value) for s in records] == [({"topic": "features"}, 10.0)]


def test_the_server_binds_to_loopback_by_default(metrics: ServiceMetrics) -> None:
    assert HealthServer(metrics, Probes(), port=0).host == "127.0.0.1"


def test_ready_needs_assignment_and_a_known_lag_within_the_limit() -> None:
    assert is_ready(True, 10_000, 10_000)
    assert not is_ready(True, 10_001, 10_000)
    assert not is_ready(True, None, 10_000)
    assert not is_ready(False, 0, 10_000)


# -- secrets -------------------------------------------------------------------------------

SECRET = "s3cr3t-XYZ"


def test_no_secret_from_the_config_reaches_metrics_or_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "service.yaml"
    file.write_text(
        "kafka:\n"
        "  bootstrap_servers: 127.0.0.1:19092\n"
        "  input_topics: [features]\n"
        "  client:\n"
        "    security.protocol: SASL_SSL\n"
        "    sasl.mechanism: PLAIN\n"
        "    sasl.username: driftwarden\n"
        f'    sasl.password: "{SECRET}"\n'
    )
    config = load_config(file, env={})
    assert config.kafka.client["sasl.password"] == SECRET  # it is really in the config

    redacted = config.redacted()
    assert SECRET not in json.dumps(redacted)
    assert redacted["kafka"]["client"]["sasl.password"] == "***"

    metrics = ServiceMetrics(topics=config.kafka.input_topics)
    for topic in config.kafka.input_topics:
        metrics.observe_batch(topic, records=5000, nbytes=610_000, seconds=0.08)
    metrics.observe_dlq("malformed_json", 2)
    metrics.observe_event("drift.detected")
    metrics.observe_checkpoint()
    metrics.observe_reload(ok=True)
    metrics.set_assigned("split", 1)
    metrics.stats_callback(_stats({"features": {0: (42, True)}}))
    metrics.update_feature_statistics(_bank_statistics(["age", "income"]))
    with HealthServer(metrics, Probes(), config.service.metrics.host, 0) as server:
        status, body = _get(f"http://{server.host}:{server.port}/metrics")
    assert status == 200 and b"driftwarden_records_total" in body
    assert SECRET.encode() not in body

    # The service logs its config at start (`config_loaded`) and its changes on reload.
    try:
        configure_logging("json", "info")
        structlog.get_logger("test").info("config_loaded", config=config.redacted())
        changed = config.model_copy(deep=True)
        changed.kafka.client = {**config.kafka.client, "sasl.password": "other-" + SECRET}
        structlog.get_logger("test").info("config_reloaded", changes=config.diff(changed))
    finally:
        structlog.reset_defaults()
    logged = capsys.readouterr().err
    assert "config_loaded" in logged and "config_reloaded" in logged
    assert SECRET not in logged
