"""The replay tests' scenario: a generated training set, a production file with every pitfall
of docs/architecture.md's table (but row copies) planted from a known line on, into one
feature each, two features left unchanged; and how to read what ``driftwarden replay`` writes.
"""

from __future__ import annotations

import csv
import json
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftwarden.detectors.settings import IncidentSettings
from driftwarden.stream.commands import profile as profile_command
from driftwarden.stream.commands import replay as replay_command

__all__ = [
    "CATCHES",
    "FIELDS",
    "INCIDENT",
    "MISSING_AT",
    "MISSING_GRACE",
    "NEW_FIELD_AT",
    "N_PROD",
    "PANE_RECORDS",
    "UNCHANGED",
    "Production",
    "build_profile",
    "events_of",
    "first_catch",
    "first_kept_from",
    "is_incident",
    "make_production",
    "record_number",
    "run_replay",
    "training_columns",
    "unplaced",
    "write_csv",
    "write_jsonl",
    "write_parquet",
]

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
INCIDENT = "driftwarden.incident."
PANE_RECORDS = IncidentSettings().pane_records  # the resolution of an incident's onset
# The finding kind that catches the pitfall planted in each feature.
CATCHES = {
    "amount": "mean_shift",
    "country": "novel_category",
    "age": "out_of_range",
    "score": "type_change",
    "promo_code": "novel_field",
    "session_len": "missing_field",
}
FIELDS = ("amount", "latency", "country", "device", "age", "score", "session_len", "promo_code")


@dataclass(frozen=True)
class Production:
    """Generated production records and the first line of each injection."""

    records: list[dict[str, Any]]
    first_line: dict[str, int]
    string_lines: list[int]


def first_kept_from(production: Production, line: int) -> int:
    """The first line from ``line`` on whose record is not rejected (a string score)."""
    rejected = set(production.string_lines)
    while line in rejected:
        line += 1
    return line


def record_number(production: Production, line: int) -> int:
    """The number the detector bank gives the record on ``line`` (from 1; rejected records,
    the string scores, are not counted): an incident's ``*_at`` fields count so."""
    return line - bisect_left(production.string_lines, line)


def training_columns(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "amount": rng.normal(100.0, 15.0, n),
        "latency": rng.lognormal(3.0, 0.5, n),
        "country": rng.choice(np.array(["FR", "DE", "ES", "IT"]), n, p=[0.4, 0.3, 0.2, 0.1]),
        "device": rng.choice(np.array(["ios", "android", "web"]), n),
        "age": rng.uniform(18.0, 80.0, n),
        "score": rng.beta(2.0, 5.0, n),
        "session_len": rng.exponential(30.0, n),
    }


def make_production(seed: int, as_text: Callable[[float], str], absent_as_null: bool) -> Production:
    """Training-like records with every pitfall planted from its line on (1-based)."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = training_columns(N_PROD, rng)
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


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def write_csv(path: Path, records: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return path


def write_parquet(path: Path, records: list[dict[str, Any]]) -> Path:
    """Every field of ``FIELDS`` as a column, null where a record lacks it (Parquet cannot
    leave a field out of one row), in row groups that batches straddle."""
    pa = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    table = pa.Table.from_pylist([{name: r.get(name) for name in FIELDS} for r in records])
    assert table.column_names == list(FIELDS)  # from_pylist alone types the first row only
    parquet.write_table(table, path, row_group_size=7_000)
    return path


def run_replay(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = replay_command.run(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def events_of(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def is_incident(event: dict[str, Any]) -> bool:
    return str(event["type"]).startswith(INCIDENT)


def first_catch(
    events: list[dict[str, Any]], feature: str, kind: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first incident event on ``feature`` with an active finding of ``kind``, and it."""
    for event in events:
        if not is_incident(event) or event["subject"] != feature:
            continue
        for finding in event["data"]["findings"]:
            if finding["kind"] == kind and finding["status"] == "active":
                return event, finding
    raise AssertionError(f"no incident event on {feature} with an active {kind} finding")


def _placed(value: Any, source: str, shift: int) -> Any:
    """``value`` with every source position in it renamed to ``source`` and its offset moved
    by ``shift`` (an incident holds positions in its record, findings and evidence)."""
    if isinstance(value, list):
        return [_placed(item, source, shift) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"source", "partition", "offset"}:
        return {**value, "source": source, "offset": value["offset"] + shift}
    return {key: _placed(item, source, shift) for key, item in value.items()}


def unplaced(data: dict[str, Any], header_lines: int) -> dict[str, Any]:
    """An event's data as another file of the same records would give it: positions moved
    past the header and nameless, and no incident id (a hash of the opening position)."""
    moved = _placed(data, "-", -header_lines)
    if "incident_id" in moved:
        moved["incident_id"] = "-"
    return moved


def build_profile(folder: Path) -> Path:
    """The profile of the seeded training set, built by ``driftwarden profile build`` in
    ``folder`` (its KLL bins differ a little from one build to the next)."""
    columns = training_columns(N_TRAIN, np.random.default_rng(2024))
    records = [{name: columns[name][i].item() for name in columns} for i in range(N_TRAIN)]
    output = folder / "profile.json"
    assert profile_command.run(["build", str(write_csv(folder / "train.csv", records)),
                                "-o", str(output)]) == 0  # fmt: skip
    return output
