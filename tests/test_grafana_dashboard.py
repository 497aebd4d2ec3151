"""The Grafana dashboard in config/grafana/: a dashboard Grafana loads (schema and version
fields, panels with queries), provisioned by the compose file, whose every query names only
metrics the service really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from driftwarden.stream.ops.metrics import ServiceMetrics

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "config" / "grafana" / "driftwarden-dashboard.json"
# PromQL words that look like metric names: functions, keywords, label and variable names.
_NOT_METRICS = re.compile(r"\$\w+|\"[^\"]*\"|\[[^\]]*\]|\{[^}]*\}|\b(by|without|le)\b")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _exported() -> set[str]:
    """Sample names of a live ``ServiceMetrics`` registry, by each family's type."""
    names = set()
    for family in ServiceMetrics(topics=["features"]).registry.collect():
        names |= {family.name + suffix for suffix in _SUFFIXES[family.type]}
    return names


def _queries(dashboard: dict[str, Any]) -> list[str]:
    panels = dashboard["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def _metric_names(expr: str) -> set[str]:
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", _NOT_METRICS.sub(" ", expr)))
    return {word for word in words if word.startswith("driftwarden_")}


def test_dashboard_has_the_fields_grafana_needs_and_unique_panel_ids() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert isinstance(dashboard["version"], int) and dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"type", "title", "gridPos"} <= set(panel), panel.get("title")
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["datasource"]["uid"] == "driftwarden-prometheus"


def test_every_query_names_only_metrics_the_service_exports() -> None:
    exported = _exported()
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = _queries(dashboard)
    assert len(queries) >= 10
    named = set()
    for expr in queries:
        metrics = _metric_names(expr)
        assert metrics, f"a query that names no driftwarden metric: {expr}"
        assert metrics <= exported, f"{expr}: not exported: {sorted(metrics - exported)}"
        named |= metrics
    # What the issue asks to see: throughput, lag, DLQ by reason, events by type, drift.
    for wanted in (
        "driftwarden_records_total",
        "driftwarden_consumer_lag",
        "driftwarden_dlq_records_total",
        "driftwarden_events_total",
        "driftwarden_feature_statistic",
    ):
        assert wanted in named, wanted
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for query in (variables["job"]["definition"], variables["feature"]["definition"]):
        assert _metric_names(query) <= exported


def test_the_check_catches_a_metric_the_service_does_not_export() -> None:
    expr = 'sum(rate(driftwarden_records_consumed_total{job=~"$job"}[5m]))'
    assert _metric_names(expr) == {"driftwarden_records_consumed_total"}
    assert not _metric_names(expr) <= _exported()


def test_compose_provisions_the_dashboard_and_prometheus_scrapes_the_metrics_port() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    grafana_mounts = services["grafana"]["volumes"]
    assert any(m.startswith("./config/grafana/driftwarden-dashboard.json:") for m in grafana_mounts)
    assert any(m.startswith("./config/grafana/provisioning:") for m in grafana_mounts)
    for mount in [*grafana_mounts, *services["prometheus"]["volumes"]]:
        assert (REPO / mount.split(":")[0]).exists(), mount
    scrape = yaml.safe_load((REPO / "config" / "prometheus" / "prometheus.yml").read_text())
    targets = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["driftwarden:9464"]
    assert "127.0.0.1:9464:9464" in services["driftwarden"]["ports"]
    provider = yaml.safe_load(
        (REPO / "config/grafana/provisioning/dashboards/driftwarden.yaml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    assert any(m.split(":")[1].startswith(path + "/") for m in grafana_mounts)
    source = yaml.safe_load(
        (REPO / "config/grafana/provisioning/datasources/prometheus.yaml").read_text()
    )
    assert source["datasources"][0]["uid"] == "driftwarden-prometheus"
