"""``driftwarden report --config``: the report of a service, read off a real broker.

A service's outputs are made the way the service makes them (the decoder and bank over the
demo's records; incident CloudEvents and a ``PartitionState`` snapshot), published to real
topics, and the command reads them back into the page."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import yaml
from confluent_kafka import Producer

from driftwarden.detectors.feature_batch import SourcePositions
from driftwarden.stream.cloudevents import alerts_of
from driftwarden.stream.commands import report as report_command
from driftwarden.stream.demo.runner import demo_config
from driftwarden.stream.demo.scenario import MIN_RECORDS, build_training_profile, make_scenario
from driftwarden.stream.replay import Replayer
from driftwarden.stream.service.partition_state import PartitionState
from driftwarden.stream.service.state_store import state_key

pytestmark = pytest.mark.kafka

_BATCH = 2000


def _publish_a_services_outputs(bootstrap: str, topics: dict[str, str], profile: Path) -> None:
    """What a service that consumed the demo's records would have left on Kafka."""
    config = demo_config(bootstrap, "x", profile, False, 2000)
    replayer = Replayer(config.reference_profile(), config.detectors, config.input)
    payloads = make_scenario(MIN_RECORDS, seed=5).payloads
    producer = Producer({"bootstrap.servers": bootstrap})
    start_ms = int(time.time() * 1000) - len(payloads)  # one record per millisecond
    for first in range(0, len(payloads), _BATCH):
        chunk = payloads[first : first + _BATCH]
        lines = np.arange(first, first + len(chunk), dtype=np.int64)
        batch = replayer.decoder.decode(chunk, _positions(topics["input"], lines)).batch
        assert batch is not None
        for alert in alerts_of(replayer.bank.run(batch), "/driftwarden/test", False):
            stamp = start_ms + first + alert.record_index
            producer.produce(
                topics["alerts"], alert.encode(stamp), key=alert.feature, timestamp=stamp
            )
    state = PartitionState(
        topics["input"], 0, replayer.bank, replayer.decoder, next_offset=len(payloads)
    )
    producer.produce(
        topics["state"], state.snapshot_bytes(), key=state_key("g", topics["input"], 0)
    )
    assert producer.flush(30) == 0


def _positions(topic: str, offsets: npt.NDArray[np.int64]) -> SourcePositions:
    n = len(offsets)
    return SourcePositions(
        sources=(topic,),
        source_ids=np.zeros(n, dtype=np.int32),
        partitions=np.zeros(n, dtype=np.int32),
        offsets=offsets,
    )


@pytest.fixture
def service_config(kafka_bootstrap: str, kafka_topics: Callable[..., str], tmp_path: Path) -> Path:
    topics = {"input": kafka_topics(), "alerts": kafka_topics(), "state": kafka_topics()}
    profile = tmp_path / "training.json"
    build_training_profile(profile, n_rows=20_000, seed=1005)
    _publish_a_services_outputs(kafka_bootstrap, topics, profile)
    path = tmp_path / "service.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kafka": {
                    "bootstrap_servers": kafka_bootstrap,
                    "input_topics": [topics["input"]],
                    "group_id": "g",
                    "alerts_topic": topics["alerts"],
                    "state_topic": topics["state"],
                },
                "reference": {"profile": str(profile)},
                "input": {"features_path": "features"},
                "detectors": {"categorical": {"categorical": {"window": 2000}}},
            }
        ),
        encoding="utf-8",
    )
    return path


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
