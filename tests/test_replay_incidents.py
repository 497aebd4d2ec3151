"""``driftwarden replay`` writes incidents: each pitfall of the scenario (``replay_scenario``)
caught by a finding of its kind on its feature, not before its line; each incident's life;
the detector-level events beside them with ``--detector-events``; and the same output, ids
included, on every replay of a file, whatever the batch size.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import river.datasets

from driftwarden.detectors.incidents import IncidentEvent
from driftwarden.detectors.settings import IncidentSettings
from driftwarden.stream.commands import profile as profile_command
from driftwarden.stream.replay import ReplayReport
from tests.replay_scenario import (
    CATCHES,
    INCIDENT,
    MISSING_AT,
    MISSING_GRACE,
    NEW_FIELD_AT,
    PANE_RECORDS,
    UNCHANGED,
    Production,
    build_profile,
    events_of,
    first_catch,
    first_kept_from,
    is_incident,
    make_production,
    record_number,
    run_replay,
    write_csv,
    write_jsonl,
)


@pytest.fixture(scope="module")
def profile_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_profile(tmp_path_factory.mktemp("training"))


@pytest.fixture(scope="module")
def production() -> Production:
    return make_production(7, lambda value: f"{value:.3f}", absent_as_null=False)


def test_each_pitfall_is_caught_by_an_incident_finding_of_its_kind_not_before_its_line(
    tmp_path: Path, profile_path: Path, production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = write_jsonl(tmp_path / "prod.jsonl", production.records)
    status, out, _ = run_replay(capsys, "--profile", str(profile_path), str(prod))
    assert status == 0
    events = events_of(out)
    assert events and all(map(is_incident, events))
    assert not [e for e in events if e["subject"] in UNCHANGED]

    def counted(feature: str, line: int) -> int:
        """A record's number in the feature's stream: the bank of a field the profile lacks
        (promo_code) starts at the field's first record."""
        base = 0
        if feature == "promo_code":
            base = record_number(production, production.first_line[feature]) - 1
        return record_number(production, line) - base

    for event in events:
        data = event["data"]
        record, feature = data["record"], data["feature"]
        assert event["subject"] == feature
        assert (record["source"], record["partition"]) == ("prod.jsonl", -1)
        assert event["source"] == "/driftwarden/replay/prod.jsonl" and "time" not in event
        assert data["records_seen"] == counted(feature, record["offset"])
        first = production.first_line[feature]
        for finding in data["findings"]:  # nothing is detected before it was planted
            detected = finding["detected_record"]["offset"]
            assert detected >= first, (feature, finding["kind"])
            assert finding["detected_at"] == counted(feature, detected)
            assert finding["onset_at"] <= finding["detected_at"] <= data["records_seen"]
            if finding["onset_record"] is not None:
                onset = finding["onset_record"]["offset"]
                assert finding["onset_at"] == counted(feature, onset)
    for feature, kind in CATCHES.items():
        _, finding = first_catch(events, feature, kind)
        planted = counted(feature, production.first_line[feature])
        assert abs(finding["onset_at"] - planted) <= PANE_RECORDS, (feature, kind, finding)
    shift = first_catch(events, "amount", "mean_shift")[1]
    assert 1.5 < shift["effect"]["mean_shift_sigma"] < 2.5  # planted: +2 training σ
    novel = first_catch(events, "country", "novel_category")[1]
    assert novel["detail"]["values"] == ["BR"]
    assert novel["effect"]["share"] >= IncidentSettings().novel_share_floor
    opened, field = first_catch(events, "promo_code", "novel_field")
    assert opened["type"] == "driftwarden.incident.opened.v1"
    assert field["detected_record"]["offset"] == NEW_FIELD_AT + 1
    missing = first_catch(events, "session_len", "missing_field")[1]
    assert missing["detected_record"]["offset"] > MISSING_AT + MISSING_GRACE
    assert missing["effect"]["absent_records"] > MISSING_GRACE
    changed = first_catch(events, "score", "type_change")[1]
    assert changed["detail"]["observed_type"] == "string"
    assert changed["severity"] == "critical"
    # The record holding the string is rejected: the finding points at the next one kept.
    first_string = production.first_line["score"]
    assert changed["detected_record"]["offset"] == first_kept_from(production, first_string)


def test_each_incident_opens_once_then_updates_and_ends_at_its_resolution(
    tmp_path: Path, profile_path: Path, production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = write_jsonl(tmp_path / "prod.jsonl", production.records)
    events = events_of(run_replay(capsys, "--profile", str(profile_path), str(prod))[1])
    lives: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        lives.setdefault(event["data"]["incident_id"], []).append(event)
    assert set(CATCHES) <= {life[0]["subject"] for life in lives.values()}
    for life in lives.values():
        kinds = [e["type"].removeprefix(INCIDENT).removesuffix(".v1") for e in life]
        assert kinds[0] == "opened" and "opened" not in kinds[1:]
        assert "resolved" not in kinds[:-1]
        assert len({e["subject"] for e in life}) == 1
        assert len({e["data"]["opened_at"] for e in life}) == 1
        for event in life:
            data = event["data"]
            resolved = kinds[-1] == "resolved" and event is life[-1]
            assert data["status"] == ("resolved" if resolved else "open")
            statuses = {f["status"] for f in data["findings"]}
            if resolved:
                assert statuses == {"cleared"}
            else:
                assert "active" in statuses
    # Two incidents of one feature never overlap: the next opens after the last resolved.
    by_feature: dict[str, list[list[dict[str, Any]]]] = {}
    for life in lives.values():
        by_feature.setdefault(life[0]["subject"], []).append(life)
    for lives_of_feature in by_feature.values():
        for before, after in itertools.pairwise(lives_of_feature):
            assert before[-1]["type"] == "driftwarden.incident.resolved.v1"
            assert after[0]["data"]["records_seen"] > before[-1]["data"]["records_seen"]


def test_every_published_incident_is_an_incident_event_of_the_model(
    tmp_path: Path, profile_path: Path, production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = write_jsonl(tmp_path / "prod.jsonl", production.records)
    events = events_of(run_replay(capsys, "--profile", str(profile_path), str(prod))[1])
    assert len(events) >= len(CATCHES)
    for event in events:
        data = event["data"]
        # ``index`` (the batch position) is not published: the model needs one to validate.
        model = IncidentEvent.model_validate({**data, "index": 0})
        assert model.model_dump(mode="json") == data
        assert model.type.cloudevent_type == event["type"]
        assert all(e["records_seen"] <= data["records_seen"] for e in data["evidence"])


def test_detector_events_flag_adds_the_detector_level_events_beside_the_same_incidents(
    tmp_path: Path, profile_path: Path, production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = write_jsonl(tmp_path / "prod.jsonl", production.records)
    summary = tmp_path / "summary.json"
    _, incidents_only, _ = run_replay(capsys, "--profile", str(profile_path), str(prod))
    status, out, _ = run_replay(capsys, "--profile", str(profile_path), str(prod),
                                "--detector-events", "--report", str(summary))  # fmt: skip
    assert status == 0
    lines = out.splitlines()
    events = [json.loads(line) for line in lines]
    # The incident lines are the same bytes, in the same order, as without the flag.
    assert [line for line, e in zip(lines, events, strict=True) if is_incident(e)] == (
        incidents_only.splitlines()
    )
    detector = [e for e in events if not is_incident(e)]
    found = {(e["subject"], e["data"]["type"]) for e in detector}
    assert {
        ("amount", "drift.detected"),
        ("country", "category.novel"),
        ("score", "feature.type_changed"),
        ("promo_code", "feature.novel"),
        ("session_len", "feature.missing"),
    } <= found
    assert not [e for e in detector if e["subject"] in UNCHANGED]
    offsets = [e["data"]["record"]["offset"] for e in events]
    assert offsets == sorted(offsets)  # in record order
    in_evidence = 0
    for event in detector:
        data = event["data"]
        assert data["record"]["offset"] >= production.first_line[data["feature"]]
        # It is in the evidence of the feature's next incident event, if there is one.
        later = (
            e["data"]["evidence"]
            for e in events
            if is_incident(e)
            and e["subject"] == data["feature"]
            and e["data"]["records_seen"] >= data["records_seen"]
        )
        evidence = next(later, None)
        if evidence is not None:
            noted = [(x["type"], x["record"]) for x in evidence]
            assert (data["type"], data["record"]) in noted, (data["feature"], data["type"])
            in_evidence += 1
    assert in_evidence >= len(detector) // 2  # the check above is not vacuous
    novel = next(e["data"] for e in detector if e["data"]["type"] == "category.novel")
    assert novel["live"]["value"] == "BR"
    missing = next(e["data"] for e in detector if e["data"]["type"] == "feature.missing")
    assert missing["record"]["offset"] > MISSING_AT + MISSING_GRACE
    report = ReplayReport.model_validate_json(summary.read_text())
    assert report.events == len(events)
    assert report.events_by_type["drift.detected"] == sum(
        e["data"]["type"] == "drift.detected" for e in events
    )


@pytest.mark.parametrize("flags", [(), ("--detector-events",)])
def test_replaying_the_same_file_twice_gives_byte_identical_output(
    tmp_path: Path,
    profile_path: Path,
    production: Production,
    capsys: pytest.CaptureFixture[str],
    flags: tuple[str, ...],
) -> None:
    prod = write_jsonl(tmp_path / "prod.jsonl", production.records)
    first = run_replay(capsys, "--profile", str(profile_path), str(prod), *flags)
    second = run_replay(capsys, "--profile", str(profile_path), str(prod), *flags)
    assert first[0] == second[0] == 0
    assert first[1] == second[1] and first[1].count("\n") >= len(CATCHES)
    ids = [event["id"] for event in events_of(first[1])]  # the bytes above hold them
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == len(ids)  # distinct events, distinct ids


def test_kinds_joining_an_incident_at_one_record_give_events_with_distinct_ids(
    tmp_path: Path, profile_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    # amount is N(100, 15) in training; from line 1001 it is N(250, 15), every other one null:
    # a mean shift, values out of range and nulls, all seen at the first pane's end.
    values = np.concatenate([rng.normal(100.0, 15.0, 1000), rng.normal(250.0, 15.0, 2000)])
    records = [{"amount": v if i < 1000 or i % 2 else None} for i, v in enumerate(values.tolist())]
    prod = write_jsonl(tmp_path / "prod.jsonl", records)
    events = events_of(run_replay(capsys, "--profile", str(profile_path), str(prod))[1])
    amount = [e for e in events if e["subject"] == "amount"]  # the other features go missing
    first = amount[0]["data"]["records_seen"]
    at_once = [e for e in amount if e["data"]["records_seen"] == first]
    assert len(at_once) >= 3  # opened, then two kinds joined, at one record
    assert len({e["data"]["incident_id"] for e in at_once}) == 1
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("flags", [(), ("--detector-events",)])
def test_the_output_does_not_depend_on_the_batch_size(
    tmp_path: Path,
    profile_path: Path,
    production: Production,
    capsys: pytest.CaptureFixture[str],
    flags: tuple[str, ...],
) -> None:
    """What a replay after a crash must repeat, wherever the batches were cut: the same bytes
    (ids, positions, onsets, summaries and evidence included)."""
    prod = write_jsonl(tmp_path / "prod.jsonl", production.records)
    outputs = []
    for batch in ("5000", "700", "137"):
        status, out, _ = run_replay(capsys, "--profile", str(profile_path), str(prod),
                                    "--batch", batch, *flags)  # fmt: skip
        assert status == 0
        outputs.append(out)
    assert len(events_of(outputs[0])) >= len(CATCHES)
    assert outputs[0] == outputs[1] == outputs[2]


def test_river_bananas_sorted_by_a_feature_drifts_and_shuffled_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real data river ships: profile the first half, replay the second half."""
    rows = [dict(x) for x, _ in river.datasets.Bananas()]
    half = len(rows) // 2
    train, live = rows[:half], rows[half:]
    profile = tmp_path / "bananas.json"
    assert profile_command.run(["build", str(write_csv(tmp_path / "train.csv", train)),
                                "-o", str(profile)]) == 0  # fmt: skip
    rng = np.random.default_rng(5)
    shuffled = [live[i] for i in rng.permutation(len(live))]
    ordered = sorted(live, key=lambda row: row["1"])
    quiet = run_replay(capsys, "--profile", str(profile),
                       str(write_jsonl(tmp_path / "shuffled.jsonl", shuffled)))  # fmt: skip
    drifting = run_replay(capsys, "--profile", str(profile),
                          str(write_jsonl(tmp_path / "sorted.jsonl", ordered)))  # fmt: skip
    assert quiet[0] == drifting[0] == 0
    assert events_of(quiet[1]) == []
    opened = [e for e in events_of(drifting[1]) if e["type"] == "driftwarden.incident.opened.v1"]
    assert opened and {f["kind"] for e in opened for f in e["data"]["findings"]} <= {
        "mean_shift",
        "distribution_shift",
    }
    # The stream sorted by "1" is a trend on "1": the detector-level events see it.
    _, detailed, _ = run_replay(capsys, "--profile", str(profile), "--detector-events",
                                str(tmp_path / "sorted.jsonl"))  # fmt: skip
    found = {(e["subject"], e["data"]["type"]) for e in events_of(detailed)}
    assert ("1", "drift.detected") in found
    _, detailed, _ = run_replay(capsys, "--profile", str(profile), "--detector-events",
                                str(tmp_path / "shuffled.jsonl"))  # fmt: skip
    assert events_of(detailed) == []
