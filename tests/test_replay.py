"""``driftwarden replay``: formats, the report, the config, bad input; on the scenario of
``replay_scenario`` (what the incidents say is in ``test_replay_incidents``).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from driftwarden.stream.profiling.readers import RecordChunk
from driftwarden.stream.replay import ReplayReport, RowEncoder
from tests.replay_scenario import (
    CATCHES,
    FIELDS,
    N_PROD,
    Production,
    build_profile,
    events_of,
    first_catch,
    first_kept_from,
    is_incident,
    make_production,
    run_replay,
    unplaced,
    write_csv,
    write_jsonl,
    write_parquet,
)


@pytest.fixture(scope="module")
def profile_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_profile(tmp_path_factory.mktemp("training"))


@pytest.fixture(scope="module")
def production() -> Production:
    return make_production(7, lambda value: f"{value:.3f}", absent_as_null=False)


def test_rejected_records_are_reported_with_file_and_line(
    tmp_path: Path, profile_path: Path, production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = write_jsonl(tmp_path / "prod.jsonl", production.records)
    status, _, err = run_replay(capsys, "--profile", str(profile_path), str(prod))
    assert status == 0
    reported = [line.strip() for line in err.splitlines() if "wrong_type" in line]
    shown = [int(line.split(":")[1]) for line in reported if line.startswith(str(prod))]
    assert shown == production.string_lines[: len(shown)] and len(shown) == 20
    assert f"{len(production.string_lines):,} record(s) rejected" in err


def test_report_counts_values_nulls_absences_and_events_per_feature(
    tmp_path: Path, profile_path: Path, production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = write_jsonl(tmp_path / "prod.jsonl", production.records)
    summary = tmp_path / "summary.json"
    status, out, err = run_replay(
        capsys, "--profile", str(profile_path), str(prod), "--report", str(summary)
    )
    assert status == 0
    report = ReplayReport.model_validate_json(summary.read_text())
    n_strings = len(production.string_lines)
    accepted = N_PROD - n_strings
    assert (report.records, report.accepted, report.rejected) == (N_PROD, accepted, n_strings)
    assert report.rejected_by_reason == {"wrong_type": n_strings}
    kept = [r for r in production.records if not isinstance(r["score"], str)]
    assert report.features["session_len"].absent == sum("session_len" not in r for r in kept)
    assert report.features["promo_code"].values == sum("promo_code" in r for r in kept)
    assert not report.features["promo_code"].in_profile
    assert report.features["latency"].values == accepted
    assert report.features["latency"].events == {}
    amount, latency = report.features["amount"].statistics, report.features["latency"].statistics
    assert amount["psi"] is not None and amount["psi"] > 0.2  # the shifted windows
    shift, still = amount["mean_shift_sigma"], latency["mean_shift_sigma"]
    assert shift is not None and 1.5 < shift < 2.5  # planted: +2 training σ
    assert still is not None and abs(still) < 0.25
    events = events_of(out)
    assert report.events == len(events)
    assert set(report.events_by_type) == {
        "incident.opened",
        "incident.updated",
        "incident.resolved",
    }
    for name, feature in report.features.items():
        mine = [e["data"]["type"] for e in events if e["subject"] == name]
        assert feature.events == {kind: mine.count(kind) for kind in set(mine)}
    table = err[err.index("replayed") :]
    assert "promo_code (new)" in table and "latency" in table
    header = table.splitlines()[1].split()
    assert header[header.index("psi") + 1] == "mean_shift_sigma"


def test_csv_and_jsonl_of_the_same_records_give_the_same_events(
    tmp_path: Path, profile_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # CSV cannot leave a field out of one row, so both files carry nulls there, and a
    # CSV cell that parses as a number is a number: the strings are not numbers here.
    data = make_production(11, lambda value: f"{value:.3f} pts", absent_as_null=True)
    jsonl = write_jsonl(tmp_path / "prod.jsonl", data.records)
    table = write_csv(tmp_path / "prod.csv", data.records)
    from_json = events_of(run_replay(capsys, "--profile", str(profile_path), str(jsonl))[1])
    from_csv = events_of(run_replay(capsys, "--profile", str(profile_path), str(table))[1])
    assert len(from_json) >= len(CATCHES)
    # The CSV header is line 1: records start a line later.
    assert [unplaced(e["data"], 1) for e in from_csv] == [unplaced(e["data"], 0) for e in from_json]
    kinds = {f["kind"] for e in from_csv for f in e["data"]["findings"]}
    assert kinds >= {"type_change", "novel_category"}


def test_config_supplies_detectors_features_path_and_batch_and_flags_override(
    tmp_path: Path, profile_path: Path, production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    nested = [{"request_id": i, "features": record} for i, record in enumerate(production.records)]
    prod = write_jsonl(tmp_path / "nested.jsonl", nested)
    config = tmp_path / "replay.yaml"
    config.write_text(
        "kafka:\n  consume_batch: 1000\n"
        "input:\n  features_path: features\n"
        "alerts:\n  detector_events: true\n"
        "detectors:\n  features:\n    amount:\n      adwin: {enabled: false}\n"
        "      page_hinkley: {enabled: false}\n"
    )
    status, out, _ = run_replay(capsys, "--profile", str(profile_path), "--config", str(config),
                                str(prod))  # fmt: skip
    assert status == 0
    events = events_of(out)
    assert not [e for e in events if e["subject"] == "request_id"]
    detector = [e["data"] for e in events if not is_incident(e)]  # alerts.detector_events
    assert {e["type"] for e in detector} >= {"feature.type_changed", "category.novel"}
    assert not [e for e in detector if e["feature"] == "amount" and e["detector"] in
                ("adwin", "page_hinkley")]  # fmt: skip
    # The mean shift is still caught, by the pane evidence, with no detector-level events.
    opened, _ = first_catch(events, "amount", "mean_shift")
    assert not [x for x in opened["data"]["evidence"] if x["detector"] in ("adwin", "page_hinkley")]
    changed = next(e for e in detector if e["type"] == "feature.type_changed")
    first = production.first_line["score"]  # whatever the batch size
    assert changed["record"]["offset"] == first_kept_from(production, first)
    caught = first_catch(events, "score", "type_change")[1]
    assert caught["detected_record"]["offset"] == first_kept_from(production, first)
    flat = write_jsonl(tmp_path / "flat.jsonl", production.records[:3000])
    status, out, _ = run_replay(capsys, "--profile", str(profile_path), "--config", str(config),
                                "--features-path", "payload", str(flat))  # fmt: skip
    assert status == 2  # every record lacks the 'payload' object the flag names


def test_malformed_lines_are_counted_and_max_errors_stops_past_the_limit(
    tmp_path: Path, profile_path: Path, production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [json.dumps(record) for record in production.records[:2000]]
    for at in (10, 500, 1500):  # 1-based lines of the broken records
        lines[at - 1] = lines[at - 1][:-7]
    lines[99] = "[1, 2]"
    prod = tmp_path / "broken.jsonl"
    prod.write_text("\n".join(lines) + "\n")
    args = ("--profile", str(profile_path), str(prod), "--batch", "700")
    status, _, err = run_replay(capsys, *args)
    assert status == 0
    assert "4 record(s) rejected" in err
    for at, reason in ((10, "malformed_json"), (100, "not_an_object"), (1500, "malformed_json")):
        assert f"{prod}:{at}: {reason}" in err
    assert run_replay(capsys, *args, "--max-errors", "4")[0] == 0
    status, _, err = run_replay(capsys, *args, "--max-errors", "2")
    assert status == 2
    assert err.splitlines()[-1].startswith("driftwarden: error: more than 2 malformed rows")
    assert f"stopped at {prod}:500:" in err


def test_csv_rows_with_the_wrong_number_of_fields_are_rejected_with_their_line(
    tmp_path: Path, profile_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "prod.csv"
    table.write_text("amount,country\n100.5,FR\n101.0\n99.0,DE,extra\n98.5,IT\n")
    summary = tmp_path / "summary.json"
    status, _, err = run_replay(capsys, "--profile", str(profile_path), str(table),
                                "--report", str(summary))  # fmt: skip
    assert status == 0
    assert f"{table}:3: expected 2 fields, got 1" in err
    assert f"{table}:4: expected 2 fields, got 3" in err
    report = ReplayReport.model_validate_json(summary.read_text())
    assert (report.accepted, report.rejected_by_reason) == (2, {"malformed_csv": 2})


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.jsonl", None, "absent.jsonl: no such file"),
        ("prod.txt", b'{"amount": 1}\n', "cannot tell the format"),
        ("empty.jsonl", b"", "empty input: no records"),
        ("blank.csv", b"amount,country\n", "empty input: no records"),
        ("array.jsonl", b'[{"amount": 1},\n{"amount": 2}]\n', "a JSON array, not JSON Lines"),
        ("cut.jsonl.gz", gzip.compress(b'{"amount": 1}\n' * 100)[:40], "unreadable compressed"),
        ("latin1.csv", "amount,country\n1,Curaçao\n".encode("latin-1"), "not UTF-8 text"),
    ],
)
def test_unusable_input_gives_one_line_and_status_2(
    tmp_path: Path,
    profile_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: bytes | None,
    message: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    status, out, err = run_replay(capsys, "--profile", str(profile_path), str(path))
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("driftwarden: error: ")
    assert message in err


def test_a_file_of_junk_lists_its_lines_then_fails_as_empty(
    tmp_path: Path, profile_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b"\x00\x01garbage\nmore garbage\n")
    status, out, err = run_replay(capsys, "--profile", str(profile_path), str(junk))
    assert status == 2 and out == "" and "Traceback" not in err
    assert f"{junk}:1: malformed_json" in err and f"{junk}:2: malformed_json" in err
    assert err.splitlines()[-1] == (
        f"driftwarden: error: empty input: no record was accepted in {junk}"
    )


def test_a_bad_profile_or_config_gives_one_clear_error(
    tmp_path: Path, profile_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = write_jsonl(tmp_path / "prod.jsonl", [{"amount": 1.0}])
    not_profile = tmp_path / "p.json"
    not_profile.write_text('{"rows": 3}')
    status, _, err = run_replay(capsys, "--profile", str(not_profile), str(prod))
    assert status == 2 and "not a driftwarden profile" in err and len(err.splitlines()) == 1
    status, _, err = run_replay(capsys, str(prod))
    assert status == 2 and "replay needs a profile" in err
    config = tmp_path / "bad.yaml"
    config.write_text("detectors:\n  cooldown_record: 5\n")
    status, _, err = run_replay(capsys, "--profile", str(profile_path), "--config", str(config),
                                str(prod))  # fmt: skip
    assert status == 2 and "detectors.cooldown_record: unknown key" in err


def test_jsonl_csv_and_parquet_of_the_same_records_give_the_same_events(
    tmp_path: Path, profile_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same values in all three: a field is null, never absent (neither a CSV row nor a
    # Parquet row can leave one out), and a Parquet column has one type: no string scores.
    data = make_production(11, lambda value: f"{value:.3f} pts", absent_as_null=True)
    records = [
        {name: None if isinstance(r[name], str) and name == "score" else r[name] for name in FIELDS}
        for r in data.records
    ]
    parquet = write_parquet(tmp_path / "prod.parquet", records)
    jsonl = write_jsonl(tmp_path / "prod.jsonl", records)
    table = write_csv(tmp_path / "prod.csv", records)
    runs = {}
    for path, header_lines in ((jsonl, 0), (table, 1), (parquet, 0)):
        status, out, _ = run_replay(capsys, "--profile", str(profile_path), str(path))
        assert status == 0
        events = events_of(out)
        assert {e["data"]["record"]["source"] for e in events} == {path.name}
        # The same line (row) numbers once the CSV header is out.
        runs[path.suffix] = [unplaced(e["data"], header_lines) for e in events]
    assert runs[".parquet"] == runs[".jsonl"] == runs[".csv"]
    found = {(e["feature"], f["kind"]) for e in runs[".parquet"] for f in e["findings"]}
    assert {("amount", "mean_shift"), ("country", "novel_category")} <= found
    # A column training never had is novel from the file's first row, even while null.
    novel = next(e for e in runs[".parquet"] if e["findings"][0]["kind"] == "novel_field")
    assert (novel["feature"], novel["type"]) == ("promo_code", "incident.opened")
    assert novel["findings"][0]["detected_record"]["offset"] == 1


def test_parquet_and_csv_nulls_and_non_finite_numbers_read_as_in_the_profile(
    tmp_path: Path, profile_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Null and NaN are null values; an infinity is a non-finite number, rejected."""
    pa = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    amounts = [100.0, float("inf"), None, float("nan"), float("-inf"), 98.5]
    countries = ["FR", "DE", None, "ES", "IT", "FR"]
    parquet.write_table(
        pa.table({"amount": pa.array(amounts, from_pandas=False), "country": countries}),
        tmp_path / "prod.parquet",
    )
    rows = zip(amounts, countries, strict=True)
    write_csv(tmp_path / "prod.csv", [{"amount": a, "country": c} for a, c in rows])
    reports = []
    for name, first_line in (("prod.parquet", 1), ("prod.csv", 2)):
        summary = tmp_path / f"{name}.summary.json"
        status, out, err = run_replay(capsys, "--profile", str(profile_path),
                                      str(tmp_path / name), "--report", str(summary))  # fmt: skip
        assert status == 0 and out == ""
        for line in (first_line + 1, first_line + 4):
            assert f"{tmp_path / name}:{line}: non_finite_number" in err
        reports.append(ReplayReport.model_validate_json(summary.read_text()))
    for report in reports:
        assert report.rejected_by_reason == {"non_finite_number": 2}
        amount, country = report.features["amount"], report.features["country"]
        assert (amount.values, amount.nulls, amount.absent) == (2, 2, 0)
        assert (country.values, country.nulls, country.absent) == (3, 1, 0)


def test_a_null_features_struct_in_parquet_is_rejected_like_a_json_record_without_one(
    tmp_path: Path, profile_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pa = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    features = [{"amount": 100.0 + i, "country": "FR"} for i in range(6)]
    nulled = [None if i in (1, 4) else f for i, f in enumerate(features)]
    records = [{"id": i, "payload": {"features": f}} for i, f in enumerate(nulled)]
    parquet.write_table(pa.Table.from_pylist(records), tmp_path / "prod.parquet")
    write_jsonl(tmp_path / "prod.jsonl", records)
    reports = []
    for name in ("prod.parquet", "prod.jsonl"):
        summary = tmp_path / f"{name}.summary.json"
        status, _, err = run_replay(capsys, "--profile", str(profile_path), str(tmp_path / name),
                                    "--features-path", "payload.features",
                                    "--report", str(summary))  # fmt: skip
        assert status == 0
        assert f"{tmp_path / name}:2: features_not_an_object" in err
        assert f"{tmp_path / name}:5: features_not_an_object" in err
        reports.append(ReplayReport.model_validate_json(summary.read_text()))
    assert reports[0] == reports[1].model_copy(update={"inputs": reports[0].inputs})
    assert reports[0].rejected_by_reason == {"features_not_an_object": 2}
    assert reports[0].accepted == 4 and "id" not in reports[0].features


def test_row_encoder_types_csv_cells_as_the_profile_reads_them() -> None:
    encoder = RowEncoder({"amount": "numeric", "country": "categorical"})
    chunk = RecordChunk(
        path="p.csv",
        lines=np.array([2, 3, 4, 5]),
        text=True,
        columns={
            "amount": np.array([" 3 ", "NA", "inf", "1e3"], dtype=object),
            "country": np.array(["NA", "", "007", "FR"], dtype=object),
            "unseen": np.array(["", "", "", ""], dtype=object),
            "mixed": np.array(["7", "", "x", "8"], dtype=object),
            "count": np.array(["7", "", "9", "8"], dtype=object),
        },
    )
    payloads = encoder.encode(chunk)
    rows = [json.loads(payload) for payload in payloads]
    assert [row["amount"] for row in rows] == [3.0, None, float("inf"), 1000.0]
    assert b'"amount":Infinity' in payloads[2]  # the literal the decoder rejects
    assert [row["country"] for row in rows] == ["NA", None, "007", "FR"]
    assert [row["unseen"] for row in rows] == [None] * 4
    assert [row["mixed"] for row in rows] == ["7", None, "x", "8"]
    assert [row["count"] for row in rows] == [7.0, None, 9.0, 8.0]
    assert encoder.kinds["mixed"] == "categorical" and "unseen" not in encoder.kinds


def test_row_encoder_keeps_decoded_values_reads_nan_as_null_and_infinity_as_literal() -> None:
    chunk = RecordChunk(
        path="p.parquet",
        lines=np.array([1, 2]),
        text=False,
        columns={
            "amount": np.array([1.5, np.nan, -np.inf]),
            "flags": [True, None, False],
            "tags": [["a"], [], None],
        },
    )
    payloads = RowEncoder({}, "payload.features").encode(chunk)
    assert payloads == [
        b'{"payload":{"features":{"amount":1.5,"flags":true,"tags":["a"]}}}',
        b'{"payload":{"features":{"amount":null,"flags":null,"tags":[]}}}',
        b'{"payload":{"features":{"amount":-Infinity,"flags":false,"tags":null}}}',
    ]
