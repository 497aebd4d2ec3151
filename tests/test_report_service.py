"""``driftwarden report --config``: the report of a service, read off a real broker.

A real ``driftwarden run`` consumes the demo's records on the real broker and stops; the
command reads its snapshots and incidents back into the page."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from driftwarden.stream.commands import report as report_command
from driftwarden.stream.demo.scenario import MIN_RECORDS, build_training_profile, make_scenario
from tests.service_harness import (
    ServiceProcess,
    input_covered,
    latest_snapshots,
    make_topics,
    produce_json,
    records_counted,
    split_snapshots,
    write_config,
)

pytestmark = pytest.mark.kafka

_BATCH = 2000


@pytest.fixture
def service_config(kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path) -> Path:
    """A real service (both stages) that consumed the demo's records on the real broker and
    stopped: its snapshots on the state topic, its incidents on the alerts topic."""
    topics = make_topics(kafka_topics, partitions=2, columns_partitions=3)
    profile = tmp_path / "training.json"
    build_training_profile(profile, n_rows=20_000, seed=1005)
    payloads = make_scenario(MIN_RECORDS, seed=5).payloads
    produce_json(kafka_bootstrap, topics.input, payloads, partition_of=lambda i: i % 2)
    config = write_config(
        tmp_path / "service.yaml",
        kafka_bootstrap,
        topics,
        group_id="g-" + topics.state,
        profile=profile,
        extra={
            "input": {"features_path": "features"},
            "detectors": {"categorical": {"categorical": {"window": 2000}}},
        },
    )
    service = ServiceProcess(config, tmp_path / "service.log")
    try:
        deadline = time.monotonic() + 120
        while True:
            snapshots = latest_snapshots(kafka_bootstrap, topics.state)
            dlq = sum(s["dlq_records"] for s in split_snapshots(snapshots).values())
            done = input_covered(snapshots) == len(payloads)
            if done and records_counted(snapshots) + dlq == len(payloads):
                break
            assert time.monotonic() < deadline, service.tail()
            time.sleep(0.5)
    finally:
        assert service.stop() == 0, service.tail()
    return config


def test_report_of_a_service_shows_its_incidents_and_latest_live_window(
    service_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "report.html"
    status = report_command.run(["--config", str(service_config), "-o", str(page), "--since", "1h"])
    assert status == 0, capsys.readouterr().err
    assert f"report: {page.resolve()}" in capsys.readouterr().out
    html = page.read_text(encoding="utf-8")
    first = html.index('<article class="feature"')
    assert html.index('data-feature="income"', first) < html.index('data-feature="state"', first)
    income = html[html.index('<article class="feature" id="f', html.index("income", first) - 200) :]
    income = income[: income.index("</article>")]
    assert "mean_shift" in income and "UTC" in income  # when, on a time axis
    assert "-reference" in income and "-live" in income  # the snapshot's window, in bins
    assert "crypto" in html  # the novel category, from the incident's finding


def test_report_of_a_time_range_without_events_still_shows_the_live_state(
    service_config: Path, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    args = ["--config", str(service_config), "-o", str(page), "--since", "2001-01-01"]
    assert report_command.run([*args, "--until", "2001-01-02"]) == 0
    html = page.read_text(encoding="utf-8")
    assert "0 with incidents" in html and 'data-feature="income"' in html


def test_report_with_a_bad_time_says_so(service_config: Path, tmp_path: Path) -> None:
    args = ["--config", str(service_config), "-o", str(tmp_path / "r.html"), "--since", "soon"]
    assert report_command.run(args) == 2
