"""``driftwarden profile build``: real data, known properties, bad input, bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import river.datasets

from driftwarden.detectors.profile import Profile
from driftwarden.stream.commands import profile as profile_command
from driftwarden.stream.commands.profile import profile_schema_text
from driftwarden.stream.profiling.chunk_typing import ChunkTyper
from driftwarden.stream.profiling.feature_accumulators import KLL_RANK_ERROR
from driftwarden.stream.profiling.readers import iter_chunks
from driftwarden.stream.profiling.row_hashes import row_hashes
from driftwarden.stream.sketches.bloom_filter import RowHashFilter

REPO = Path(__file__).resolve().parent.parent


def _build(tmp_path: Path, *args: str) -> Profile:
    output = tmp_path / "profile.json"
    assert profile_command.run(["build", *args, "-o", str(output)]) == 0
    return Profile.model_validate_json(output.read_text())


def _mean(profile: Profile, name: str) -> float:
    summary = profile.features[name].numeric
    assert summary is not None
    return summary.mean


def _bins_of(values: np.ndarray, edges: list[float], lo: float, hi: float) -> list[int]:
    """Counts over underflow, [min, e1), ..., [e_last, max], overflow, like HistogramDrift."""
    search = np.concatenate(([lo], edges, [np.nextafter(hi, np.inf)]))
    bins = np.searchsorted(search, values, side="right")
    return np.bincount(bins, minlength=len(edges) + 3).tolist()


def test_profile_of_river_phishing_matches_the_values_river_reads(tmp_path: Path) -> None:
    dataset = river.datasets.Phishing()
    records = [x for x, _ in dataset]
    got = _build(tmp_path, str(dataset.path))
    assert got.n_rows == len(records) == 1250
    assert set(got.features) == {*records[0], "is_phishing"}
    for name in records[0]:
        values = np.array([record[name] for record in records], dtype=np.float64)
        summary = got.features[name].numeric
        assert got.features[name].kind == "numeric" and summary is not None
        assert summary.mean == pytest.approx(values.mean(), rel=1e-12)
        assert summary.std == pytest.approx(values.std(), rel=1e-9)
        assert (summary.min, summary.max) == (values.min(), values.max())
        exact = _bins_of(values, summary.bin_edges, values.min(), values.max())
        error = np.abs(np.cumsum(summary.bin_counts) - np.cumsum(exact)).max()
        assert error <= KLL_RANK_ERROR * values.size


def test_profile_of_river_trump_approval_counts_every_row(tmp_path: Path) -> None:
    dataset = river.datasets.TrumpApproval()
    got = _build(tmp_path, str(dataset.path), "--bins", "10")
    gallup = np.array([x["gallup"] for x, _ in dataset])
    feature = got.features["gallup"]
    assert got.n_rows == 1001 and feature.count == 1001 and feature.null_count == 0
    assert feature.numeric is not None
    assert feature.numeric.mean == pytest.approx(gallup.mean(), rel=1e-12)
    # gallup moves in steps of one point: tied quantiles collapse into fewer edges.
    assert 1 <= len(feature.numeric.bin_edges) <= 9 and sum(feature.numeric.bin_counts) == 1001


def test_river_bananas_as_json_lines_gives_the_same_profile_as_csv(tmp_path: Path) -> None:
    rows = [{**x, "label": y} for x, y in river.datasets.Bananas()]
    jsonl, csv = tmp_path / "b.jsonl", tmp_path / "b.csv"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows))
    csv.write_text("1,2,label\n" + "".join(f"{r['1']!r},{r['2']!r},{r['label']}\n" for r in rows))
    from_json = _build(tmp_path, str(jsonl))
    from_csv = _build(tmp_path, str(csv), "--categorical", "label")
    for name in ("1", "2"):
        a, b = from_json.features[name], from_csv.features[name]
        assert (a.count, a.null_count) == (b.count, b.null_count) == (5300, 0)
        assert a.numeric is not None and b.numeric is not None
        assert (a.numeric.min, a.numeric.max) == (b.numeric.min, b.numeric.max)
        assert a.numeric.mean == pytest.approx(b.numeric.mean, rel=1e-12)
    labels = from_json.features["label"]
    assert labels.kind == "categorical"  # a JSON boolean is a category
    assert labels.categorical is not None and from_csv.features["label"].categorical is not None
    assert labels.categorical.top == {
        k.lower(): v for k, v in from_csv.features["label"].categorical.top.items()
    }


def test_quantile_edges_are_within_the_kll_rank_error_on_large_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    values = rng.lognormal(size=300_000)
    path = tmp_path / "big.csv"
    path.write_text("x\n" + "\n".join(f"{v:.17g}" for v in values) + "\n")
    summary = _build(tmp_path, str(path), "--bins", "20").features["x"].numeric
    assert summary is not None and len(summary.bin_edges) == 19
    ranks = np.searchsorted(np.sort(values), summary.bin_edges, side="left") / values.size
    targets = np.arange(1, 20) / 20
    assert np.abs(ranks - targets).max() <= KLL_RANK_ERROR
    exact = _bins_of(values, summary.bin_edges, values.min(), values.max())
    cumulative_error = np.abs(np.cumsum(summary.bin_counts) - np.cumsum(exact))
    assert cumulative_error.max() <= KLL_RANK_ERROR * values.size
    assert sum(summary.bin_counts) == values.size


def test_kinds_are_inferred_and_flags_override_them(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("zip,amount,country\n" + "".join(f"0{i % 9},{i}.5,FR\n" for i in range(30)))
    inferred = _build(tmp_path, str(path))
    assert {n: f.kind for n, f in inferred.features.items()} == {
        "zip": "numeric",
        "amount": "numeric",
        "country": "categorical",
    }
    forced = _build(tmp_path, str(path), "--categorical", "zip", "--ignore", "country")
    assert forced.features["zip"].kind == "categorical" and "country" not in forced.features
    zip_codes = forced.features["zip"].categorical
    assert zip_codes is not None and zip_codes.top["01"] == 4  # labels kept as written


def test_nulls_and_absent_fields_are_counted_apart(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"x": 1.0, "c": "a"}\n{"x": null}\n{"c": null}\n{"x": 3, "c": "b"}\n')
    got = _build(tmp_path, str(path))
    assert (got.features["x"].count, got.features["x"].null_count) == (3, 1)
    assert (got.features["c"].count, got.features["c"].null_count) == (3, 1)
    assert _mean(got, "x") == 2.0


def test_malformed_rows_are_reported_with_lines_and_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,c\n1,a\n2\noops,b\n3,c\n")
    got = _build(tmp_path, str(path), "--chunk-rows", "2")  # x is numeric in the first chunk
    err = capsys.readouterr().err
    assert got.n_rows == 2 and _mean(got, "x") == 2.0
    assert "2 malformed row(s) skipped" in err
    assert f"{path}:3: expected 2 fields, got 1" in err
    assert f"{path}:4: feature 'x' is numeric but has 'oops'" in err


def test_max_errors_stops_the_build_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x\n1\n" + "a,b\n" * 5)
    output = tmp_path / "p.json"
    assert profile_command.run(["build", str(path), "-o", str(output), "--max-errors", "2"]) == 2
    err = capsys.readouterr().err
    assert "more than 2 malformed rows (--max-errors 2)" in err and not output.exists()


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (None, "missing.csv", "no such file"),
        (b"", "empty.csv", "empty input: no records"),
        (b"x,y\n", "header_only.csv", "empty input: no records"),
        (b"\x00\x01\x02\xff\xfe", "binary.jsonl", "empty input: no well-formed rows"),
        (b"x\n1\n", "data.xlsx", "cannot tell the format"),
    ],
)
def test_bad_inputs_get_one_error_line_and_status_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    name: str,
    message: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert profile_command.run(["build", str(path), "-o", str(tmp_path / "p.json")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("driftwarden: error: ") and message in last
    assert not (tmp_path / "p.json").exists()


def test_published_json_schema_is_the_one_generated_from_the_model() -> None:
    published = (REPO / "docs" / "profile.schema.json").read_text()
    assert published == profile_schema_text(), (
        "regenerate: driftwarden profile schema -o docs/profile.schema.json"
    )
    assert json.loads(published)["title"] == "Profile"


def test_row_hashes_hold_every_training_row_and_few_others(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / "t.csv"
    path.write_text(
        "x,c\n"
        + "".join(
            f"{v:.6f},k{k}\n"
            for v, k in zip(rng.normal(size=50_000), rng.integers(0, 9, 50_000), strict=True)
        )
    )
    output = tmp_path / "p.json"
    assert (
        profile_command.run(
            ["build", str(path), "-o", str(output), "--row-hashes", "--row-hash-fpr", "0.01"]
        )
        == 0
    )
    rows = RowHashFilter.read(tmp_path / "p.json.rowhashes")
    assert rows.columns == ["x", "c"] and rows.n_added == 50_000
    typer = ChunkTyper()
    for chunk in iter_chunks([path]):
        assert rows.contains(row_hashes(typer.type_chunk(chunk), rows.columns)).all()
    unseen = tmp_path / "u.csv"
    unseen.write_text("x,c\n" + "".join(f"{v:.6f},k1\n" for v in rng.normal(10, 1, 100_000)))
    misses = np.concatenate(
        [
            rows.contains(row_hashes(typer.type_chunk(c), rows.columns))
            for c in iter_chunks([unseen])
        ]
    )
    assert misses.mean() <= rows.false_positive_bound() * 1.2 + 0.001
    assert rows.false_positive_bound() <= 0.01


def _write_large_csv(path: Path, n_rows: int) -> None:
    rng = np.random.default_rng(3)
    block_rows = 100_000
    x = np.char.mod("%.5f", rng.normal(size=block_rows))
    n = rng.integers(0, 1000, block_rows).astype(str)
    c = np.array(["red", "green", "blue", "cyan"])[rng.integers(0, 4, block_rows)]
    block = "\n".join(map(",".join, zip(x.tolist(), n.tolist(), c.tolist(), strict=True))) + "\n"
    with path.open("w") as out:
        out.write("x,n,c\n")
        for _ in range(n_rows // block_rows):
            out.write(block)


def _peak_rss_bytes(*args: str) -> int:
    code = (
        "import sys; from driftwarden.stream.commands import profile; "
        "sys.exit(profile.run(sys.argv[1:]))"
    )
    child = subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0
    return usage.ru_maxrss * 1024


@pytest.mark.slow
def test_profile_build_memory_stays_flat_from_200k_to_5m_rows(tmp_path: Path) -> None:
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    _write_large_csv(small, 200_000)
    _write_large_csv(large, 5_000_000)
    peak_small = _peak_rss_bytes("build", str(small), "-o", str(tmp_path / "s.json"))
    peak_large = _peak_rss_bytes("build", str(large), "-o", str(tmp_path / "l.json"))
    assert Profile.model_validate_json((tmp_path / "l.json").read_text()).n_rows == 5_000_000
    assert peak_large - peak_small < 40 * 2**20, (peak_small, peak_large)


def test_features_selects_and_a_missing_one_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,2,x\n3,4,y\n")
    assert set(_build(tmp_path, str(path), "--features", "a,c").features) == {"a", "c"}
    output = tmp_path / "p2.json"
    assert profile_command.run(["build", str(path), "-o", str(output), "--features", "a,z"]) == 2
    assert "--features names 'z', which is not in the input" in capsys.readouterr().err
    assert not output.exists()
