"""The HTML report without a browser: what the replay collector counts, which records the
live distribution shows, how the page stays bounded, and ``replay --html``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from driftwarden.detectors.profile import (
    CategoricalSummary,
    FeatureProfile,
    NumericSummary,
    Profile,
)
from driftwarden.detectors.settings import DetectorSettings
from driftwarden.stream.commands import replay as replay_command
from driftwarden.stream.replay import PayloadBatch, Replayer
from driftwarden.stream.report.model import FeatureView, IncidentSpan, ReportData, Timeline
from driftwarden.stream.report.page import render_page
from driftwarden.stream.report.replay_source import collect

PROFILE = Profile(
    n_rows=10_000,
    features={
        "x": FeatureProfile(
            kind="numeric",
            count=10_000,
            null_count=0,
            numeric=NumericSummary(
                mean=0.0,
                std=1.0,
                min=-4.0,
                max=4.0,
                bin_edges=[-1.0, 0.0, 1.0],
                bin_counts=[0, 1600, 3400, 3400, 1600, 0],
            ),
        ),
        "os": FeatureProfile(
            kind="categorical",
            count=10_000,
            null_count=0,
            categorical=CategoricalSummary(top={"ios": 6000, "web": 4000}),
        ),
    },
)


def _replay(
    records: list[dict[str, object]], batch: int = 1000, replayer: Replayer | None = None
) -> Replayer:
    replayer = replayer or Replayer(PROFILE, DetectorSettings())
    payloads = [json.dumps(r).encode() for r in records]
    for first in range(0, len(payloads), batch):
        chunk = payloads[first : first + batch]
        lines = np.arange(first + 1, first + 1 + len(chunk))
        replayer.process(PayloadBatch("in.jsonl", chunk, lines), "in.jsonl")
    return replayer


def _stream(n: int, shift_from: int, seed: int = 3) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, 1.0, n)
    values[shift_from:] += 2.0
    labels = rng.choice(["ios", "web"], n, p=[0.6, 0.4]).astype(object)
    labels[shift_from:][rng.random(n - shift_from) < 0.2] = "fax"
    return [{"x": float(v), "os": str(c)} for v, c in zip(values, labels, strict=True)]


def test_collector_counts_live_values_in_the_profiles_bins_and_categories() -> None:
    records = [{"x": v, "os": c} for v, c in [(-5.0, "ios"), (-0.5, "web"), (0.5, None)]]
    records += [{"x": 9.0, "os": "fax"}, {"os": "ios"}]
    replayer = Replayer(PROFILE, DetectorSettings())
    collector = collect(replayer)
    payloads = [json.dumps(r).encode() for r in records]
    replayer.process(PayloadBatch("in.jsonl", payloads, np.arange(1, 6)), "in.jsonl")
    data = collector.report_data("t", "s")
    x, os_ = data.features["x"].live, data.features["os"].live
    assert x is not None and os_ is not None
    assert x.bin_counts == [1, 0, 1, 1, 0, 1]  # under, 3 quantile bins hit, over
    assert (x.records, x.absent, x.out_of_range_rate) == (4, 1, 0.5)
    assert os_.categories == {"ios": 2, "web": 1, "fax": 1} and os_.nulls == 1
    assert data.features["os"].novel_categories == ["fax"]


def test_live_distribution_is_that_of_the_latest_incident_from_its_onset() -> None:
    replayer = Replayer(PROFILE, DetectorSettings())
    collector = collect(replayer)
    _replay(_stream(30_000, shift_from=15_000), replayer=replayer)
    view = collector.report_data("t", "s").features["x"]
    assert view.incidents, "the planted shift of 2σ opened no incident"
    onset = view.incidents[-1].onset
    assert 14_000 <= onset <= 16_000
    assert view.live is not None and view.live.label.startswith("records ")
    counts = np.array(view.live.bin_counts)
    # After the shift most values lie above the training mean + 1σ (the last quantile bin).
    assert counts[4:].sum() / counts.sum() > 0.6
    assert view.timeline.xs[-1] <= 30_000 and len(view.timeline.xs) >= 10


def test_collector_memory_stays_bounded_by_its_capacity() -> None:
    replayer = Replayer(PROFILE, DetectorSettings())
    collector = collect(replayer)
    collector.capacity = 8
    _replay(_stream(5_000, shift_from=5_000), batch=100, replayer=replayer)
    view = collector.report_data("t", "s").features["x"]
    assert view.live is not None and view.live.records == 5_000  # merged, never dropped
    assert len(collector._tracks["x"].counts) <= 8


def _view(i: int, severity: str | None) -> FeatureView:
    timeline = Timeline()
    for x in range(50):
        timeline.add(float(x * 100), {"psi": 0.01 * (x % 7)})
    spans = [IncidentSpan(f"id{i}", severity, 2000.0, 1500.0)] if severity else []
    return FeatureView(
        f"feature_{i:04d}", "numeric", PROFILE.features["x"], timeline=timeline, incidents=spans
    )


def test_page_draws_panels_for_the_most_severe_features_only_and_says_so() -> None:
    features = {f"feature_{i:04d}": _view(i, "critical" if i == 77 else None) for i in range(300)}
    html = render_page(ReportData("t", "s", "record", 5000, features), max_panels=5)
    assert html.count('<article class="feature"') == 5
    assert html.count('<tr data-feature="') == 300
    assert "drawn for the 5 most severe features of 300" in html
    first = html.index('<article class="feature"')
    assert html[first : first + 200].count('data-feature="feature_0077"') == 1


def test_page_escapes_feature_names() -> None:
    evil = "<script>alert(1)</script>"
    view = FeatureView(evil, "categorical", None)
    html = render_page(ReportData("t", "s", "record", 0, {evil: view}))
    assert evil not in html and "&lt;script&gt;" in html


def test_replay_html_writes_the_report(tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(PROFILE.model_dump_json(), encoding="utf-8")
    records = tmp_path / "prod.jsonl"
    lines = (json.dumps(r) for r in _stream(20_000, shift_from=10_000))
    records.write_text("\n".join(lines) + "\n", encoding="utf-8")
    page = tmp_path / "report.html"
    status = replay_command.run(["--profile", str(profile), str(records), "--html", str(page)])
    assert status == 0
    html = page.read_text(encoding="utf-8")
    panels = [html.index(f'<article class="feature" id="f{i}"') for i in (0, 1)]
    assert all(f'id="f{i}-reference"' in html and f'id="f{i}-live"' in html for i in (0, 1))
    assert "fax (new)" in html  # the novel category, marked in the categorical chart
    assert html.count('<ul class="incidents">') == 2 and panels[0] < panels[1]


def test_replay_html_to_an_unwritable_path_fails_with_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(PROFILE.model_dump_json(), encoding="utf-8")
    records = tmp_path / "prod.jsonl"
    records.write_text('{"x": 1.0, "os": "ios"}\n', encoding="utf-8")
    target = tmp_path / "no" / "such" / "dir" / "r.html"
    assert replay_command.run(["--profile", str(profile), str(records), "--html", str(target)]) == 2
    assert f"{target}: cannot write the report" in capsys.readouterr().err
