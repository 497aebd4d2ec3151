"""``driftwarden replay``: each pitfall caught where planted, determinism, formats, bad input.

The training set and the production file are generated with known properties: every
pitfall of docs/architecture.md's table (but row copies) is injected into the production file from a
known line on, into one feature each, and two features are left unchanged.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import river.datasets

from driftwarden.stream.commands import profile as profile_command
from driftwarden.stream.commands import replay as replay_command
from driftwarden.stream.profiling.readers import RecordChunk
from driftwarden.stream.replay import ReplayReport, RowEncoder

N_TRAIN = 20_000
N_PROD = 24_000
MEAN_SHIFT_AT = 6_000  # amount: +2 std from this line on
NEW_CATEGORY_AT = 8_000  # country: 5 % "BR"
OUT_OF_RANGE_AT = 10_000  # age: 5 % beyond the training maximum
TYPE_CHANGE_AT = 12_000  # score: 1 % arrive as JSON strings
NEW_FIELD_AT = 14_000  # promo_code: a field training never had
MISSING_AT = 16_000  # session_len: stops arriving
MISSING_GRACE = 1_000  # the default detectors.schema.missing_grace
UNCHANGED = ("latency", "device")
FIELDS = ("amount", "latency", "country", "device", "age", "score", "session_len", "promo_code")


@dataclass(frozen=True)
class Production:
    """Generated production records and the first line of each injection."""

    records: list[dict[str, Any]]
    first_line: dict[str, int]
    string_lines: list[int]


def _first_kept_from(production: Production, line: int) -> int:
    """The first line from ``line`` on whose record is not rejected (a string score)."""
    rejected = set(production.string_lines)
    while line in rejected:
        line += 1
    return line


def _training(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "amount": rng.normal(100.0, 15.0, n),
        "latency": rng.lognormal(3.0, 0.5, n),
        "country": rng.choice(np.array(["FR", "DE", "ES", "IT"]), n, p=[0.4, 0.3, 0.2, 0.1]),
        "device": rng.choice(np.array(["ios", "android", "web"]), n),
        "age": rng.uniform(18.0, 80.0, n),
        "score": rng.beta(2.0, 5.0, n),
        "session_len": rng.exponential(30.0, n),
    }


def _production(seed: int, as_text: Callable[[float], str], absent_as_null: bool) -> Production:
    """Training-like records with every pitfall planted from its line on (1-based)."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = _training(N_PROD, rng)
    line = np.arange(1, N_PROD + 1)
    shifted = line > MEAN_SHIFT_AT
    columns["amount"] = np.where(shifted, rng.normal(130.0, 15.0, N_PROD), columns["amount"])
    novel = (line > NEW_CATEGORY_AT) & (rng.random(N_PROD) < 0.05)
    columns["country"] = np.where(novel, "BR", columns["country"])
    beyond = (line > OUT_OF_RANGE_AT) & (rng.random(N_PROD) < 0.05)
    columns["age"] = np.where(beyond, rng.uniform(100.0, 120.0, N_PROD), columns["age"])
    as_string = (line > TYPE_CHANGE_AT) & (rng.random(N_PROD) < 0.01)
    promo = rng.choice(np.array(["SPRING", "NONE"]), N_PROD)
    records: list[dict[str, Any]] = []
    for i in range(N_PROD):
        record: dict[str, Any] = {
            name: columns[name][i].item() for name in FIELDS if name in columns
        }
        if as_string[i]:
            record["score"] = as_text(record["score"])
        if line[i] > NEW_FIELD_AT:
            record["promo_code"] = promo[i].item()
        elif absent_as_null:
            record["promo_code"] = None
        if line[i] > MISSING_AT:
            if absent_as_null:
                record["session_len"] = None
            else:
                del record["session_len"]
        records.append(record)
    first = {
        "amount": MEAN_SHIFT_AT + 1,
        "country": int(line[novel][0]),
        "age": int(line[beyond][0]),
        "score": int(line[as_string][0]),
        "promo_code": NEW_FIELD_AT + 1,
        "session_len": MISSING_AT + 1,
    }
    return Production(records, first, line[as_string].tolist())


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def _write_csv(path: Path, records: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return path


@pytest.fixture(scope="module")
def profile_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("training")
    columns = _training(N_TRAIN, np.random.default_rng(2024))
    records = [{name: columns[name][i].item() for name in columns} for i in range(N_TRAIN)]
    output = folder / "profile.json"
    assert profile_command.run(["build", str(_write_csv(folder / "train.csv", records)),
                                "-o", str(output)]) == 0  # fmt: skip
    return output


@pytest.fixture(scope="module")
def production() -> Production:
    return _production(7, lambda value: f"{value:.3f}", absent_as_null=False)


def _replay(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = replay_command.run(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_each_pitfall_is_caught_by_its_event_on_its_feature_and_not_before_its_line(
    tmp_path: Path, profile_path: Path, production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = _write_jsonl(tmp_path / "prod.jsonl", production.records)
    status, out, _ = _replay(capsys, "--profile", str(profile_path), str(prod))
    assert status == 0
    events = _events(out)
    found = {(e["subject"], e["data"]["type"]) for e in events}
    expected = {
        ("amount", "drift.detected"),  # mean shift
        ("country", "category.novel"),  # new category
        ("age", "support.out_of_range"),  # values beyond the training range
        ("score", "feature.type_changed"),  # a numeric arriving as a string
        ("promo_code", "feature.novel"),  # a field training never had
        ("session_len", "feature.missing"),  # a field that stops arriving
    }
    assert expected <= found
    assert not [e for e in events if e["subject"] in UNCHANGED]
    for event in events:
        data = event["data"]
        record, feature = data["record"], data["feature"]
        assert (record["source"], record["partition"]) == ("prod.jsonl", -1)
        assert event["source"] == "/driftwarden/replay/prod.jsonl" and "time" not in event
        first = production.first_line[feature]
        if data["type"] == "feature.type_changed":
            # The record holding the string is rejected: the event points at the next one kept.
            assert record["offset"] == _first_kept_from(production, first)
        else:
            assert record["offset"] >= first, (feature, data["type"], record["offset"])
    novel = next(e["data"] for e in events if e["data"]["type"] == "category.novel")
    assert novel["live"]["value"] == "BR"
    assert next(e["data"]["record"]["offset"] for e in events if e["subject"] == "promo_code") == (
        NEW_FIELD_AT + 1
    )
    missing = next(e["data"] for e in events if e["data"]["type"] == "feature.missing")
    assert missing["record"]["offset"] > MISSING_AT + MISSING_GRACE
    changed = next(e["data"] for e in events if e["data"]["type"] == "feature.type_changed")
    assert changed["detail"]["observed_type"] == "string"


def test_rejected_records_are_reported_with_file_and_line(
    tmp_path: Path, profile_path: Path, production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = _write_jsonl(tmp_path / "prod.jsonl", production.records)
    status, _, err = _replay(capsys, "--profile", str(profile_path), str(prod))
    assert status == 0
    reported = [line.strip() for line in err.splitlines() if "wrong_type" in line]
    shown = [int(line.split(":")[1]) for line in reported if line.startswith(str(prod))]
    assert shown == production.string_lines[: len(shown)] and len(shown) == 20
    assert f"{len(production.string_lines):,} record(s) rejected" in err


def test_report_counts_values_nulls_absences_and_events_per_feature(
    tmp_path: Path, profile_path: Path, production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = _write_jsonl(tmp_path / "prod.jsonl", production.records)
    summary = tmp_path / "summary.json"
    status, out, err = _replay(
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
    psi = report.features["amount"].statistics["psi"]
    assert psi is not None and psi > 0.2  # the shifted windows
    events = _events(out)
    assert report.events == len(events)
    for name, feature in report.features.items():
        mine = [e["data"]["type"] for e in events if e["subject"] == name]
        assert feature.events == {kind: mine.count(kind) for kind in set(mine)}
    table = err[err.index("replayed") :]
    assert "promo_code (new)" in table and "latency" in table


def test_replaying_the_same_file_twice_gives_byte_identical_output(
    tmp_path: Path, profile_path: Path, production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = _write_jsonl(tmp_path / "prod.jsonl", production.records)
    first = _replay(capsys, "--profile", str(profile_path), str(prod))
    second = _replay(capsys, "--profile", str(profile_path), str(prod))
    assert first[0] == second[0] == 0
    assert first[1] == second[1] and first[1].count("\n") >= 6


def test_csv_and_jsonl_of_the_same_records_give_the_same_events(
    tmp_path: Path, profile_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # CSV cannot leave a field out of one row, so both files carry nulls there, and a
    # CSV cell that parses as a number is a number: the strings are not numbers here.
    data = _production(11, lambda value: f"{value:.3f} pts", absent_as_null=True)
    jsonl = _write_jsonl(tmp_path / "prod.jsonl", data.records)
    table = _write_csv(tmp_path / "prod.csv", data.records)
    from_json = _events(_replay(capsys, "--profile", str(profile_path), str(jsonl))[1])
    from_csv = _events(_replay(capsys, "--profile", str(profile_path), str(table))[1])
    assert len(from_json) >= 6
    for event in from_csv:  # the CSV header is line 1: records start a line later
        event["data"]["record"] = {**event["data"]["record"], "source": "prod.jsonl"}
        event["data"]["record"]["offset"] -= 1
    assert [e["data"] for e in from_csv] == [e["data"] for e in from_json]
    assert {e["data"]["type"] for e in from_csv} >= {"feature.type_changed", "category.novel"}


def test_config_supplies_detectors_features_path_and_batch_and_flags_override(
    tmp_path: Path, profile_path: Path, production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    nested = [{"request_id": i, "features": record} for i, record in enumerate(production.records)]
    prod = _write_jsonl(tmp_path / "nested.jsonl", nested)
    config = tmp_path / "replay.yaml"
    config.write_text(
        "kafka:\n  consume_batch: 1000\n"
        "input:\n  features_path: features\n"
        "detectors:\n  features:\n    amount:\n      adwin: {enabled: false}\n"
        "      page_hinkley: {enabled: false}\n"
    )
    status, out, _ = _replay(capsys, "--profile", str(profile_path), "--config", str(config),
                             str(prod))  # fmt: skip
    assert status == 0
    events = _events(out)
    assert not [e for e in events if e["subject"] == "request_id"]
    amount = {e["data"]["detector"] for e in events if e["subject"] == "amount"}
    assert amount and not amount & {"adwin", "page_hinkley"}
    changed = next(e for e in events if e["data"]["type"] == "feature.type_changed")
    first = production.first_line["score"]  # whatever the batch size
    assert changed["data"]["record"]["offset"] == _first_kept_from(production, first)
    flat = _write_jsonl(tmp_path / "flat.jsonl", production.records[:3000])
    status, out, _ = _replay(capsys, "--profile", str(profile_path), "--config", str(config),
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
    status, _, err = _replay(capsys, *args)
    assert status == 0
    assert "4 record(s) rejected" in err
    for at, reason in ((10, "malformed_json"), (100, "not_an_object"), (1500, "malformed_json")):
        assert f"{prod}:{at}: {reason}" in err
    assert _replay(capsys, *args, "--max-errors", "4")[0] == 0
    status, _, err = _replay(capsys, *args, "--max-errors", "2")
    assert status == 2
    assert err.splitlines()[-1].startswith("driftwarden: error: more than 2 malformed rows")
    assert f"stopped at {prod}:500:" in err


def test_csv_rows_with_the_wrong_number_of_fields_are_rejected_with_their_line(
    tmp_path: Path, profile_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "prod.csv"
    table.write_text("amount,country\n100.5,FR\n101.0\n99.0,DE,extra\n98.5,IT\n")
    summary = tmp_path / "summary.json"
    status, _, err = _replay(capsys, "--profile", str(profile_path), str(table),
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
    status, out, err = _replay(capsys, "--profile", str(profile_path), str(path))
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("driftwarden: error: ")
    assert message in err


def test_a_file_of_junk_lists_its_lines_then_fails_as_empty(
    tmp_path: Path, profile_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b"\x00\x01garbage\nmore garbage\n")
    status, out, err = _replay(capsys, "--profile", str(profile_path), str(junk))
    assert status == 2 and out == "" and "Traceback" not in err
    assert f"{junk}:1: malformed_json" in err and f"{junk}:2: malformed_json" in err
    assert err.splitlines()[-1] == (
        f"driftwarden: error: empty input: no record was accepted in {junk}"
    )


def test_a_bad_profile_or_config_gives_one_clear_error(
    tmp_path: Path, profile_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = _write_jsonl(tmp_path / "prod.jsonl", [{"amount": 1.0}])
    not_profile = tmp_path / "p.json"
    not_profile.write_text('{"rows": 3}')
    status, _, err = _replay(capsys, "--profile", str(not_profile), str(prod))
    assert status == 2 and "not a driftwarden profile" in err and len(err.splitlines()) == 1
    status, _, err = _replay(capsys, str(prod))
    assert status == 2 and "replay needs a profile" in err
    config = tmp_path / "bad.yaml"
    config.write_text("detectors:\n  cooldown_record: 5\n")
    status, _, err = _replay(capsys, "--profile", str(profile_path), "--config", str(config),
                             str(prod))  # fmt: skip
    assert status == 2 and "detectors.cooldown_record: unknown key" in err


def _write_parquet(path: Path, records: list[dict[str, Any]]) -> Path:
    """Every field of ``FIELDS`` as a column, null where a record lacks it (Parquet cannot
    leave a field out of one row), in row groups that batches straddle."""
    pa = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    table = pa.Table.from_pylist([{name: r.get(name) for name in FIELDS} for r in records])
    assert table.column_names == list(FIELDS)  # from_pylist alone types the first row only
    parquet.write_table(table, path, row_group_size=7_000)
    return path


def test_jsonl_csv_and_parquet_of_the_same_records_give_the_same_events(
    tmp_path: Path, profile_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same values in all three: a field is null, never absent (neither a CSV row nor a
    # Parquet row can leave one out), and a Parquet column has one type: no string scores.
    data = _production(11, lambda value: f"{value:.3f} pts", absent_as_null=True)
    records = [
        {name: None if isinstance(r[name], str) and name == "score" else r[name] for name in FIELDS}
        for r in data.records
    ]
    parquet = _write_parquet(tmp_path / "prod.parquet", records)
    jsonl = _write_jsonl(tmp_path / "prod.jsonl", records)
    table = _write_csv(tmp_path / "prod.csv", records)
    runs = {}
    for path, header_lines in ((jsonl, 0), (table, 1), (parquet, 0)):
        status, out, _ = _replay(capsys, "--profile", str(profile_path), str(path))
        assert status == 0
        runs[path.suffix] = events = [e["data"] for e in _events(out)]
        for event in events:  # the same line (row) numbers once the CSV header is out
            record = event["record"]
            assert record["source"] == path.name
            event["record"] = {**record, "source": "-", "offset": record["offset"] - header_lines}
    assert runs[".parquet"] == runs[".jsonl"] == runs[".csv"]
    found = {(e["feature"], e["type"]) for e in runs[".parquet"]}
    assert {("amount", "drift.detected"), ("country", "category.novel")} <= found
    # A column training never had is novel from the file's first row, even while null.
    novel = next(e for e in runs[".parquet"] if e["type"] == "feature.novel")
    assert (novel["feature"], novel["record"]["offset"]) == ("promo_code", 1)


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
    _write_csv(tmp_path / "prod.csv", [{"amount": a, "country": c} for a, c in rows])
    reports = []
    for name, first_line in (("prod.parquet", 1), ("prod.csv", 2)):
        summary = tmp_path / f"{name}.summary.json"
        status, out, err = _replay(capsys, "--profile", str(profile_path),
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
    _write_jsonl(tmp_path / "prod.jsonl", records)
    reports = []
    for name in ("prod.parquet", "prod.jsonl"):
        summary = tmp_path / f"{name}.summary.json"
        status, _, err = _replay(capsys, "--profile", str(profile_path), str(tmp_path / name),
                                 "--features-path", "payload.features",
                                 "--report", str(summary))  # fmt: skip
        assert status == 0
        assert f"{tmp_path / name}:2: features_not_an_object" in err
        assert f"{tmp_path / name}:5: features_not_an_object" in err
        reports.append(ReplayReport.model_validate_json(summary.read_text()))
    assert reports[0] == reports[1].model_copy(update={"inputs": reports[0].inputs})
    assert reports[0].rejected_by_reason == {"features_not_an_object": 2}
    assert reports[0].accepted == 4 and "id" not in reports[0].features


def test_river_bananas_sorted_by_a_feature_drifts_and_shuffled_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real data river ships: profile the first half, replay the second half."""
    rows = [dict(x) for x, _ in river.datasets.Bananas()]
    half = len(rows) // 2
    train, live = rows[:half], rows[half:]
    profile = tmp_path / "bananas.json"
    assert profile_command.run(["build", str(_write_csv(tmp_path / "train.csv", train)),
                                "-o", str(profile)]) == 0  # fmt: skip
    rng = np.random.default_rng(5)
    shuffled = [live[i] for i in rng.permutation(len(live))]
    ordered = sorted(live, key=lambda row: row["1"])
    quiet = _replay(capsys, "--profile", str(profile),
                    str(_write_jsonl(tmp_path / "shuffled.jsonl", shuffled)))  # fmt: skip
    drifting = _replay(capsys, "--profile", str(profile),
                       str(_write_jsonl(tmp_path / "sorted.jsonl", ordered)))  # fmt: skip
    assert quiet[0] == drifting[0] == 0
    assert _events(quiet[1]) == []
    found = {(e["subject"], e["data"]["type"]) for e in _events(drifting[1])}
    assert ("1", "drift.detected") in found


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
