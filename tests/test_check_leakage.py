"""``driftwarden check-leakage``: duplicated rows, identifiers, leaky features, shared keys."""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import river.datasets

from driftwarden.stream.commands import check_leakage
from driftwarden.stream.leakage.single_feature_auc import categorical_auc, numeric_auc

N_TRAIN, N_TEST, N_COPIED, N_SHARED_KEYS = 5_000, 1_000, 70, 30


def _rows(rng: np.random.Generator, n: int, first_id: int) -> list[dict[str, object]]:
    label = rng.integers(0, 2, n)
    return [
        {
            "id": first_id + i,
            "x1": float(rng.normal()),
            "x2": float(rng.normal(5, 2)),
            "cat": f"c{rng.integers(0, 10)}",
            "leak_num": float(label[i] + rng.normal(0, 0.01)),
            "leak_cat": f"L{label[i]}_{rng.integers(0, 10)}",
            "label": int(label[i]),
        }
        for i in range(n)
    ]


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, Path]:
    """Training CSV and test JSON Lines with a known number of copied rows and shared keys."""
    rng = np.random.default_rng(7)
    train = _rows(rng, N_TRAIN, first_id=0)
    test = _rows(rng, N_TEST, first_id=1_000_000)
    for i, source in enumerate(rng.choice(N_TRAIN, N_COPIED, replace=False).tolist()):
        test[10 * i] = {**train[source], "id": 2_000_000 + i}  # same row, a new id
    for i in range(N_SHARED_KEYS):
        test[10 * i + 1]["id"] = train[i]["id"]  # reused key, different row
    train_path, test_path = tmp_path / "train.csv", tmp_path / "test.jsonl"
    names = list(train[0])
    train_path.write_text(
        ",".join(names)
        + "\n"
        + "".join(",".join(repr(r[k]).strip("'") for k in names) + "\n" for r in train)
    )
    test_path.write_text("".join(json.dumps(r) + "\n" for r in test))
    return train_path, test_path


def _run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    status = check_leakage.run([*args, "--json"])
    return status, json.loads(capsys.readouterr().out)


def test_planted_copies_identifiers_leaks_and_keys_are_all_found(
    planted: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    train, test = planted
    status, report = _run_json(
        capsys, "--train", str(train), "--test", str(test), "--label", "label"
    )
    assert status == 1
    assert (report["train_rows"], report["test_rows"]) == (N_TRAIN, N_TEST)
    assert report["excluded"] == {"id": "identifier-like", "label": "label"}
    assert report["duplicates"]["rows"] == N_COPIED
    assert report["duplicates"]["share"] == pytest.approx(N_COPIED / N_TEST)
    assert report["duplicates"]["examples"][0] == f"{test}:1"
    (identifier,) = report["identifiers"]
    assert identifier["feature"] == "id"
    assert identifier["distinct_ratio"] == pytest.approx(1.0, abs=0.05)  # a KMV estimate
    assert {f["feature"] for f in report["leaky_features"]} == {"leak_num", "leak_cat"}
    assert report["failed"] == ["duplicates", "identifiers", "leaky_features"]


def test_keys_present_in_both_sets_are_counted(
    planted: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    train, test = planted
    status, report = _run_json(
        capsys,
        "--train",
        str(train),
        "--test",
        str(test),
        "--key",
        "id",
        "--max-key-overlap",
        "0.1",
    )
    assert report["keys"]["rows"] == N_SHARED_KEYS
    assert report["keys"]["examples"][0] == f"{test}:2"
    assert "keys" not in report["failed"] and "identifiers" not in report["failed"]
    assert report["excluded"]["id"] == "key" and status == 1  # the copies still fail


def test_bloom_store_finds_the_same_copies(
    planted: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    train, test = planted
    _, report = _run_json(capsys, "--train", str(train), "--test", str(test), "--store", "bloom")
    assert N_COPIED <= report["duplicates"]["rows"] <= N_COPIED + 3
    assert report["duplicates"]["false_positive_bound"] <= 0.001


def test_clean_split_passes_with_status_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(8)
    for name, n in (("train.csv", 3_000), ("test.csv", 500)):
        label = rng.integers(0, 2, n)
        x = rng.normal(size=n) + 0.5 * label
        (tmp_path / name).write_text(
            "x,label\n"
            + "".join(f"{a!r},{b}\n" for a, b in zip(x.tolist(), label.tolist(), strict=True))
        )
    status = check_leakage.run(
        [
            "--train",
            str(tmp_path / "train.csv"),
            "--test",
            str(tmp_path / "test.csv"),
            "--label",
            "label",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0 and "no leakage found" in out
    assert "ok   duplicated rows: 0 of 500 test rows" in out


def test_copies_of_river_phishing_rows_match_a_brute_force_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [{**x, "is_phishing": y} for x, y in river.datasets.Phishing()]
    names = list(records[0])
    for name, part in (("train.csv", records[:1000]), ("test.csv", records[1000:])):
        (tmp_path / name).write_text(
            ",".join(names)
            + "\n"
            + "".join(",".join(str(r[k]) for k in names) + "\n" for r in part)
        )
    features = names[:-1]
    seen = {tuple(float(r[k]) for k in features) for r in records[:1000]}
    expected = sum(tuple(float(r[k]) for k in features) in seen for r in records[1000:])
    _, report = _run_json(
        capsys,
        "--train",
        str(tmp_path / "train.csv"),
        "--test",
        str(tmp_path / "test.csv"),
        "--label",
        "is_phishing",
    )
    assert report["compared"] == features
    assert report["duplicates"]["rows"] == expected > 0


def test_a_malformed_row_stops_the_check_by_default(
    planted: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    train, test = planted
    with test.open("a") as out:
        out.write("{not json\n")
    status = check_leakage.run(["--train", str(train), "--test", str(test)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err[-1].startswith("driftwarden: error: more than 0 malformed rows")
    assert f"{test}:{N_TEST + 1}: invalid JSON" in err[-1]
    assert check_leakage.run(["--train", str(train), "--test", str(test), "--max-errors", "1"]) == 1


@pytest.mark.parametrize(
    ("train_content", "message"),
    [(None, "no such file"), ("x\n", "empty input: no well-formed training rows")],
)
def test_unusable_inputs_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], train_content: str | None, message: str
) -> None:
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    if train_content is not None:
        train.write_text(train_content)
    test.write_text("x\n1\n")
    assert check_leakage.run(["--train", str(train), "--test", str(test)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("driftwarden: error:") and message in err


def _pairwise_auc(x: np.ndarray, positive: np.ndarray) -> float:
    wins = [(a > b) + 0.5 * (a == b) for a, b in product(x[positive], x[~positive])]
    return float(np.mean(wins))


def test_numeric_auc_equals_the_pairwise_definition() -> None:
    rng = np.random.default_rng(9)
    x = np.round(rng.normal(size=300), 1)  # ties on purpose
    y = (x + rng.normal(size=300) > 0).astype(np.int64)
    direct = _pairwise_auc(x, y == 1)
    assert numeric_auc(x, y) == pytest.approx(max(direct, 1 - direct), abs=1e-12)
    assert numeric_auc(-x, y) == pytest.approx(max(direct, 1 - direct), abs=1e-12)


def test_categorical_auc_leaves_each_row_out() -> None:
    unique_per_row = {(f"u{i}", i % 2): 1 for i in range(200)}
    assert categorical_auc(unique_per_row, n_classes=2) == 0.5  # no evidence: a coin flip
    determined = {(f"k{i}", i % 2): 5 for i in range(20)}
    assert categorical_auc(determined, n_classes=2) == 1.0
