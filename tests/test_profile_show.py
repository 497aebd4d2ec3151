"""``driftwarden profile show``: the per-feature table and the not-enough-data warnings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import river.datasets

from driftwarden.stream.commands import profile as profile_command


@pytest.fixture
def thin_profile(tmp_path: Path) -> Path:
    """A profile with one planted case of every warning."""
    rng = np.random.default_rng(6)
    n = 2_000
    columns = {
        "amount": [f"{v:.6f}" for v in rng.normal(100, 5, n)],  # continuous: unique, but fine
        "row_id": [str(i) for i in rng.permutation(n)],  # integer identifier
        "email": [f"user{i}@example.com" for i in range(n)],  # string identifier
        "version": ["3"] * n,  # constant
        "country": rng.choice(["FR", "DE"], n).tolist(),
        "rare": (["a"] * (n - 3) + ["b", "c", "d"]),  # three rare categories
        "late": [""] * (n - 40) + [f"{v:.3f}" for v in rng.normal(size=40)],  # few, sparse
        "empty": [""] * n,  # always null
    }
    path = tmp_path / "thin.csv"
    path.write_text(
        ",".join(columns)
        + "\n"
        + "".join(",".join(r) + "\n" for r in zip(*columns.values(), strict=True))
    )
    output = tmp_path / "thin.json"
    assert profile_command.run(["build", str(path), "-o", str(output), "--bins", "10"]) == 0
    return output


def _show_json(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    capsys.readouterr()
    assert profile_command.run(["show", str(path), "--json", *extra]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def test_every_kind_of_thin_data_is_warned_about(
    thin_profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _show_json(thin_profile, capsys)
    codes = {(w["feature"], w["code"]) for w in report["warnings"]}
    assert codes == {
        ("row_id", "identifier_like"),
        ("email", "identifier_like"),
        ("version", "constant"),
        ("rare", "rare_categories"),
        ("late", "few_samples"),
        ("late", "sparse_bins"),
        ("empty", "all_null"),
    }
    rare = next(w for w in report["warnings"] if w["code"] == "rare_categories")
    assert rare["message"].startswith("3 categories seen fewer than 10 times")


def test_thresholds_are_flags(thin_profile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = _show_json(
        thin_profile,
        capsys,
        "--min-samples",
        "10",
        "--min-bin-count",
        "0",
        "--min-category-count",
        "1",
        "--identifier-ratio",
        "0.999999",
    )
    codes = {(w["feature"], w["code"]) for w in report["warnings"]}
    assert ("late", "few_samples") not in codes and ("rare", "rare_categories") not in codes
    assert not any(code == "sparse_bins" for _, code in codes)
    assert ("email", "identifier_like") in codes  # exactly one value per row


def test_json_report_lists_each_feature_summary(
    thin_profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    features = {f["feature"]: f for f in _show_json(thin_profile, capsys)["features"]}
    assert features["amount"]["kind"] == "numeric"
    assert features["amount"]["mean"] == pytest.approx(100, abs=0.5)
    assert features["country"]["top"].keys() == {"FR", "DE"}
    assert features["empty"]["null_rate"] == 1.0


def test_table_names_every_feature_and_its_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = river.datasets.TrumpApproval()
    output = tmp_path / "trump.json"
    assert profile_command.run(["build", str(dataset.path), "-o", str(output)]) == 0
    capsys.readouterr()
    assert profile_command.run(["show", str(output)]) == 0
    out = capsys.readouterr().out
    assert "1,001 rows, 7 features" in out
    for name in ("gallup", "ipsos", "rasmussen", "numeric"):
        assert name in out
    # One row per day: the date column is an identifier, by design of the dataset.
    assert "ordinal_date: identifier_like" in out


def test_show_of_a_file_that_is_not_a_profile_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"n_rows": -1, "features": {}}')
    assert profile_command.run(["show", str(bogus)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("driftwarden: error: ") and "not a driftwarden profile (n_rows" in err
    assert len(err.splitlines()) == 1
    assert profile_command.run(["show", str(tmp_path / "none.json")]) == 2
    assert "no such file" in capsys.readouterr().err
