"""``driftwarden demo``: the scenario, its scoring, and whole runs on the mock and real Kafka."""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
from confluent_kafka.admin import AdminClient

from driftwarden.detectors.feature_batch import SourcePositions
from driftwarden.detectors.settings import IncidentSettings
from driftwarden.stream.commands import demo as demo_command
from driftwarden.stream.decoding.decoder import Decoder
from driftwarden.stream.demo import runner as demo_runner
from driftwarden.stream.demo.runner import DemoOptions, DemoReport
from driftwarden.stream.demo.scenario import MIN_RECORDS, DemoScore, make_scenario, score

PITFALLS = {
    "mean shift",
    "variance change",
    "gradual drift",
    "novel category",
    "novel field",
    "field disappears",
    "out-of-range values",
    "malformed burst",
}


# The finding kinds that catch each pitfall (the DLQ catches the malformed burst).
CATCHES = {
    "mean shift": {"mean_shift", "distribution_shift"},
    "variance change": {"mean_shift", "distribution_shift"},
    "gradual drift": {"mean_shift", "distribution_shift"},
    "novel category": {"novel_category"},
    "novel field": {"novel_field"},
    "field disappears": {"missing_field"},
    "out-of-range values": {"out_of_range"},
}
# Pitfalls that start at once, so that an incident's onset estimate should be next to them.
SHARP = {"mean shift", "variance change", "novel category", "novel field", "field disappears"}
PANE_RECORDS = IncidentSettings().pane_records


def _incident(
    kind: str, feature: str, offset: int, status: str = "active", type: str = "opened"
) -> dict[str, Any]:
    """An incident event on ``feature`` at ``offset`` with one finding of ``kind``."""
    return {
        "type": f"driftwarden.incident.{type}.v1",
        "subject": feature,
        "data": {
            "feature": feature,
            "record": {"offset": offset},
            "findings": [{"kind": kind, "detector": "d", "status": status}],
        },
    }


def _detector_event(kind: str, feature: str, offset: int) -> dict[str, Any]:
    return {
        "type": f"driftwarden.{kind}.v1",
        "subject": feature,
        "data": {"feature": feature, "detector": "d", "record": {"offset": offset}},
    }


def _perfect_events(scenario: Any) -> list[dict[str, Any]]:
    return [
        _incident(sorted(p.catches)[0], p.features[0], p.start + 10)
        for p in scenario.pitfalls
        if not p.malformed
    ]


@pytest.fixture(scope="module")
def scenario() -> Any:
    return make_scenario(MIN_RECORDS, seed=3)


def test_scenario_injects_each_pitfall_at_its_record(scenario: Any) -> None:
    at = {p.name: p.start for p in scenario.pitfalls}
    assert set(at) == PITFALLS
    assert {p.name: set(p.catches) for p in scenario.pitfalls if not p.malformed} == CATCHES
    assert len(scenario.payloads) == MIN_RECORDS

    def features(i: int) -> dict[str, Any]:
        return msgspec.json.decode(scenario.payloads[i])["features"]

    assert "referral_code" not in features(at["novel field"] - 1)
    assert "referral_code" in features(at["novel field"])
    assert "channel" in features(at["field disappears"] - 1)
    assert "channel" not in features(at["field disappears"])
    purposes = {features(i)["purpose"] for i in range(at["novel category"])}
    assert "crypto" not in purposes
    ages = [features(i)["age"] for i in range(at["out-of-range values"])]
    assert max(ages) <= 75


def test_scenario_malformed_burst_is_rejected_whole_by_the_decoder(scenario: Any) -> None:
    (burst,) = [p for p in scenario.pitfalls if p.malformed]
    window = scenario.payloads[burst.start - 10 : burst.start + burst.malformed + 10]
    decoder = Decoder(
        kinds={"amount": "numeric", "income": "numeric", "employment": "categorical"},
        features_path="features",
    )
    result = decoder.decode(window, SourcePositions.sequential("t", len(window)))
    assert len(result.rejected) == burst.malformed
    assert {r.reason for r in result.rejected} == {
        "malformed_json",
        "non_finite_number",
        "wrong_type",
        "not_an_object",
    }
    assert [r.index for r in result.rejected] == list(range(10, 10 + burst.malformed))


def test_score_passes_when_every_pitfall_is_caught_and_nothing_else_fires(scenario: Any) -> None:
    result = score(scenario, _perfect_events(scenario), dlq_records=scenario.malformed)
    assert result.ok
    assert all(c.caught for c in result.catches)
    assert [c.delay for c in result.catches if not c.pitfall.malformed] == [10] * 7
    assert {c.pitfall.name: c.event_type for c in result.catches if not c.pitfall.malformed} == {
        name: sorted(kinds)[0] for name, kinds in CATCHES.items()
    }


def test_score_catches_only_by_an_active_finding_of_the_right_kind_in_an_incident(
    scenario: Any,
) -> None:
    income = next(p for p in scenario.pitfalls if p.name == "mean shift")
    others = [e for e in _perfect_events(scenario) if e["subject"] != "income"]
    near = income.start + 50
    for wrong in (
        _detector_event("drift.detected", "income", near),  # detector-level: evidence only
        _incident("null_rate", "income", near),  # an incident of another kind
        _incident("mean_shift", "income", near, status="cleared"),  # no longer active
    ):
        result = score(scenario, [*others, wrong], dlq_records=scenario.malformed)
        (catch,) = [c for c in result.catches if c.pitfall is income]
        assert not catch.caught and catch.related == 1, wrong
        assert result.false_alarms == [] and not result.ok
    joined = _incident("mean_shift", "income", near + 100, type="updated")
    result = score(
        scenario,
        [*others, _incident("null_rate", "income", near), joined],
        dlq_records=scenario.malformed,
    )
    (catch,) = [c for c in result.catches if c.pitfall is income]
    assert (catch.event_type, catch.offset, catch.related) == ("mean_shift", near + 100, 1)
    assert result.ok


def test_score_reports_a_missed_pitfall(scenario: Any) -> None:
    events = [e for e in _perfect_events(scenario) if e["subject"] != "purpose"]
    result = score(scenario, events, dlq_records=scenario.malformed)
    assert not result.ok
    missed = [c.pitfall.name for c in result.catches if not c.caught]
    assert missed == ["novel category"]


def test_score_counts_events_on_untouched_features_or_before_injection_as_false_alarms(
    scenario: Any,
) -> None:
    income_start = scenario.pitfalls[0].start
    early = _incident("mean_shift", "income", income_start - 1)
    untouched = _incident("distribution_shift", "state", income_start + 500)
    events = [*_perfect_events(scenario), early, untouched]
    result = score(scenario, events, dlq_records=scenario.malformed)
    assert result.false_alarms == [early, untouched]
    assert all(c.caught for c in result.catches)
    assert not result.ok


def test_score_fails_the_burst_when_the_dlq_count_differs(scenario: Any) -> None:
    result = score(scenario, _perfect_events(scenario), dlq_records=scenario.malformed - 1)
    (burst,) = [c for c in result.catches if c.pitfall.malformed]
    assert not burst.caught
    assert not result.ok


def test_demo_command_exits_1_when_the_report_is_not_clean(
    scenario: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = DemoReport(
        score=DemoScore(catches=score(scenario, [], 0).catches),
        records=MIN_RECORDS,
        consumed=MIN_RECORDS,
        dlq_reasons={},
        failure=None,
        seconds=1.0,
        bootstrap="in-process mock cluster",
        topics=[],
    )
    monkeypatch.setattr(demo_runner, "run_demo", lambda options, out: failing)
    assert demo_command.run(["--records", str(MIN_RECORDS), "--html", ""]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_demo_command_defaults_and_minimum_are_the_scenarios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser()
    demo_command.register(parser.add_subparsers())
    args = parser.parse_args(["demo"])
    defaults = DemoOptions()
    assert (args.records, args.seed) == (defaults.records, defaults.seed)
    assert demo_command.run(["--help"]) == 0
    assert f"at least {MIN_RECORDS:,}" in " ".join(capsys.readouterr().out.split())
    assert demo_command.run(["--records", str(MIN_RECORDS - 1)]) == 2


def test_demo_on_the_mock_cluster_catches_every_pitfall_without_false_alarms(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "demo-report.html"
    prefix = f"dw-demo-{uuid.uuid4().hex[:8]}"
    status = demo_command.run(["--json", "--topic-prefix", prefix, "--html", str(report)])
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    # The report is written and named on stderr; stdout ends with the JSON summary.
    assert f"Report: {report.resolve()}" in captured.err
    assert report.stat().st_size > 0
    summary = json.loads(lines[-1])
    alerts = [json.loads(line) for line in lines[:-1]]
    assert summary["failure"] is None
    assert {p["pitfall"] for p in summary["pitfalls"] if p["caught"]} == PITFALLS
    assert summary["false_alarms"] == []
    assert summary["dlq"]["records"] == 60
    assert summary["consumed"] == DemoOptions().records
    assert all(a["specversion"] == "1.0" for a in alerts)
    # The alerts topic carries incidents only (no alerts.detector_events in the demo).
    assert all(a["type"].startswith("driftwarden.incident.") for a in alerts)
    assert len(alerts) >= len(PITFALLS) - 1
    for caught in summary["pitfalls"]:
        if caught["malformed"]:
            continue
        assert caught["event_type"] in CATCHES[caught["pitfall"]], caught
        assert caught["record"] >= caught["start"]
        # The event that caught it is on the alerts topic, with that finding active.
        event = next(
            a
            for a in alerts
            if a["subject"] == caught["feature"]
            and a["data"]["record"]["offset"] == caught["record"]
            and any(f["kind"] == caught["event_type"] for f in a["data"]["findings"])
        )
        finding = next(f for f in event["data"]["findings"] if f["kind"] == caught["event_type"])
        assert finding["status"] == "active" and finding["detector"] == caught["detector"]
        # Records count from 1, offsets from 0, and none is rejected before the burst; a
        # feature's records count from its bank's first, which a novel field has late.
        onset = finding["onset_at"] - 1
        if finding["onset_record"] is not None:
            if caught["event_type"] != "novel_field":
                assert finding["onset_record"]["offset"] == onset
            onset = finding["onset_record"]["offset"]
        if caught["pitfall"] in SHARP:
            assert abs(onset - caught["start"]) <= PANE_RECORDS, caught
    assert status == 0


def test_demo_against_the_real_broker_catches_every_pitfall(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prefix = f"dw-demo-{uuid.uuid4().hex[:8]}"
    report = tmp_path / "demo-report.html"
    try:
        status = demo_command.run(
            [
                "--bootstrap-servers",
                kafka_bootstrap,
                "--topic-prefix",
                prefix,
                "--html",
                str(report),
            ]
        )
        captured = capsys.readouterr()
        out = captured.out
    finally:
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        ours = [t for t in admin.list_topics(timeout=30).topics if t.startswith(prefix + ".")]
        for future in admin.delete_topics(ours, operation_timeout=30).values():
            future.result(30)
    assert "PASS: every pitfall caught, no false alarm." in out, out + captured.err
    rows = [line for line in out.splitlines() if line.startswith("│ ")]
    assert {row.split("│")[2].strip() for row in rows if "✔" in row} == PITFALLS
    caught_by = {row.split("│")[2].strip(): row.split("│")[5].strip() for row in rows}
    for pitfall, kinds in CATCHES.items():  # by finding kinds of incidents
        assert caught_by[pitfall] in kinds, (pitfall, caught_by[pitfall])
    assert caught_by["malformed burst"] == "DLQ: 60/60 records"
    assert "False alarms: none" in out
    assert out.rstrip().endswith(f"Report: {report.resolve()}")
    assert status == 0
