"""Running the demo: a Kafka cluster, the scenario's records, the service, the alerts, a verdict.

``run_demo`` builds the training profile, starts librdkafka's in-process mock cluster (or
uses the real cluster named by ``DemoOptions.bootstrap_servers``), produces the scenario's
records, runs ``DriftService`` in a background thread, prints each alert as it reaches the
alerts topic, stops the service once every record is consumed, reads the DLQ, and returns a
``DemoReport``: the scenario's score, the DLQ's reasons, and whatever failed on the way
(``driftwarden.stream.commands.demo`` prints it as the summary table).

On the mock cluster (see ``mock_cluster``) the service starts with
``verify_topics=False``: the mock does not answer CreateTopics. On a real cluster the demo
creates its topics (``kafka.create_topics``) and refuses an input topic that already holds
records, since the score relies on offset ``i`` being record ``i`` of the scenario.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import structlog
from confluent_kafka import Message
from rich.console import Console
from rich.text import Text

from driftwarden.stream.cloudevents import MalformedEvent, format_event, parse_event
from driftwarden.stream.config import ServiceConfig
from driftwarden.stream.demo.mock_cluster import (
    QUIET_CLIENT,
    MockCluster,
    TopicReader,
    produce_records,
)
from driftwarden.stream.demo.scenario import DemoScore, build_training_profile, make_scenario, score
from driftwarden.stream.ops.logs import configure_logging

__all__ = ["MOCK_CLUSTER", "DemoOptions", "DemoOutput", "DemoReport", "demo_config", "run_demo"]

#: ``DemoReport.bootstrap`` of a run on the in-process mock cluster.
MOCK_CLUSTER = "in-process mock cluster"

_CONSUME_BATCH = 5000


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``driftwarden demo`` runs: the cluster (None: in-process mock), the stream size
    and seed, the topic-name prefix (None: a fresh random one), the detector window, JSON
    output, and how long the service may take before the demo gives up.

    >>> DemoOptions(records=50_000).bootstrap_servers is None
    True
    """

    bootstrap_servers: str | None = None
    records: int = 80_000
    seed: int = 11
    topic_prefix: str | None = None
    window: int = 2000
    json: bool = False
    timeout_s: float = 120.0


def demo_config(
    bootstrap: str, prefix: str, profile: Path, real_cluster: bool, window: int
) -> ServiceConfig:
    """The service config of the demo: its four topics, the profile, quiet logs, no metrics
    endpoint, and a categorical window of ``window`` records (the default is 5000).

    >>> config = demo_config("127.0.0.1:9092", "demo-1", Path("p.json"), False, window=2000)
    >>> config.kafka.alerts_topic, config.detectors.categorical.categorical.window
    ('demo-1.alerts', 2000)
    """
    windowed = {"window": window}
    return ServiceConfig.model_validate(
        {
            "kafka": {
                "bootstrap_servers": bootstrap,
                "input_topics": [f"{prefix}.loan-applications"],
                "group_id": prefix,
                "alerts_topic": f"{prefix}.alerts",
                "dlq_topic": f"{prefix}.dlq",
                "state_topic": f"{prefix}.state",
                "columns_topic": f"{prefix}.columns",
                "create_topics": real_cluster,
                "consume_batch": _CONSUME_BATCH,
                "consume_timeout_s": 0.2,
                "client": dict(QUIET_CLIENT),
            },
            "reference": {"profile": str(profile)},
            "input": {"features_path": "features"},
            "service": {
                "log_format": "console",
                "log_level": "warning",
                "metrics": {"enabled": False},
            },
            "detectors": {"categorical": {"categorical": windowed}},
        }
    )


class DemoOutput:
    """Where the demo writes: phases, notes and alert lines (``format_event``) on a rich
    console on stdout; with ``as_json``, raw CloudEvents on stdout and the rest on stderr.

    >>> DemoOutput().phase("Building the training profile")
    ▶ Building the training profile
    """

    def __init__(self, as_json: bool = False) -> None:
        self.as_json = as_json
        stream = sys.stderr if as_json else sys.stdout
        # Off a terminal rich assumes 80 columns; the summary table needs more.
        self.console = Console(file=stream, highlight=False, width=None if stream.isatty() else 120)
        self.stdout: TextIO = sys.stdout

    def phase(self, text: str) -> None:
        """A step of the demo."""
        self.console.print(f"[bold cyan]▶[/] {text}")

    def note(self, text: str) -> None:
        """A detail of the current step."""
        self.console.print(f"  {text}", markup=False, soft_wrap=True)

    def alert(self, msg: Message, envelope: dict[str, Any]) -> None:
        """One event from the alerts topic."""
        if self.as_json:
            print((msg.value() or b"").decode(), file=self.stdout, flush=True)
        else:
            line = Text.assemble(("  ⚑ ", "yellow"), format_event(envelope))
            self.console.print(line, soft_wrap=True)


@dataclass(frozen=True, slots=True)
class DemoReport:
    """The outcome: the scenario's ``score``, records produced and consumed, DLQ reasons
    with counts, ``failure`` (why the run itself failed, None if it did not), the wall
    time, and the topics used.

    >>> from driftwarden.stream.demo.scenario import make_scenario, score
    >>> scenario = make_scenario(40_000)
    >>> DemoReport(score(scenario, [], 60), 40_000, 40_000, {"malformed_json": 60}, None, 9.5,
    ...            "in-process mock cluster", []).ok  # no pitfall but the DLQ one was caught
    False
    """

    score: DemoScore
    records: int
    consumed: int
    dlq_reasons: dict[str, int]
    failure: str | None
    seconds: float
    bootstrap: str
    topics: list[str]

    @property
    def ok(self) -> bool:
        """The run worked, every pitfall was caught and nothing else raised an alert."""
        return self.failure is None and self.score.ok


class _ServiceThread(threading.Thread):
    def __init__(self, config: ServiceConfig, real_cluster: bool) -> None:
        super().__init__(name="driftwarden-demo-service", daemon=True)
        from driftwarden.stream.service.drift_service import DriftService

        self.service = DriftService(config, config.reference_profile(), verify_topics=real_cluster)
        self.error: BaseException | None = None
        self.finished = threading.Event()

    def run(self) -> None:
        try:
            self.service.run()
        except BaseException as exc:  # reported by the demo, which then exits 1
            self.error = exc
        finally:
            self.finished.set()


def run_demo(options: DemoOptions, out: DemoOutput | None = None) -> DemoReport:
    """Run the whole demo (see the module docstring); Ctrl-C stops the service first."""
    out = out or DemoOutput(options.json)
    previous_logging = structlog.get_config()
    configure_logging("console", "warning")
    try:
        with tempfile.TemporaryDirectory(prefix="driftwarden-demo-") as tmp:
            if options.bootstrap_servers is None:
                with MockCluster() as cluster:
                    out.phase(
                        f"In-process Kafka mock cluster at {cluster.bootstrap} (no broker needed)"
                    )
                    return _run(options, out, cluster.bootstrap, Path(tmp), real_cluster=False)
            out.phase(f"Kafka cluster at {options.bootstrap_servers}")
            return _run(options, out, options.bootstrap_servers, Path(tmp), real_cluster=True)
    finally:
        structlog.configure(**previous_logging)


def _run(
    options: DemoOptions, out: DemoOutput, bootstrap: str, tmp: Path, real_cluster: bool
) -> DemoReport:
    started = time.monotonic()
    prefix = options.topic_prefix or f"driftwarden-demo-{uuid.uuid4().hex[:8]}"
    out.phase("Building the training profile of 50,000 generated loan applications")
    profile_path = tmp / "training-profile.json"
    profile = build_training_profile(profile_path, seed=options.seed + 1000)
    out.note(
        f"{len(profile.features)} features: "
        + ", ".join(f"{name} ({feature.kind})" for name, feature in profile.features.items())
    )
    config = demo_config(bootstrap, prefix, profile_path, real_cluster, options.window)
    out.note(
        f"categorical detector window: {options.window:,} records (default 5,000), so that "
        "a novel category shows up quickly in this short demo"
    )
    topic = config.kafka.input_topics[0]
    if real_cluster:
        _create_fresh_topics(out, config, bootstrap)
    scenario = make_scenario(options.records, options.seed, batch_records=_CONSUME_BATCH)
    out.phase(f"Producing {options.records:,} records to {topic}, with pitfalls:")
    for pitfall in scenario.pitfalls:
        out.note(f"record {pitfall.start:>7,}  {pitfall.name:<20} {pitfall.description}")
    # The service reads the state topic before it ever writes it, and its detect stage
    # subscribes to the columns topic before split writes it: the mock must have both.
    create = [] if real_cluster else [config.kafka.state_topic, config.kafka.columns_topic]
    produce_records(bootstrap, topic, scenario.payloads, create=create)
    out.phase("Running driftwarden on them; alerts as they fire:")
    alerts = TopicReader(bootstrap, config.kafka.alerts_topic)
    dlq = TopicReader(bootstrap, config.kafka.dlq_topic)
    worker = _ServiceThread(config, real_cluster)
    events: list[dict[str, Any]] = []
    try:
        worker.start()
        failure = _follow(options, out, worker, alerts, events)
        for msg in sorted(alerts.drain(30), key=_record_offset):
            _show(out, msg, events)
        dlq_messages = dlq.drain(30)
    except BaseException:
        worker.service.stop()
        worker.join(30)
        raise
    finally:
        alerts.close()
        dlq.close()
    reasons = Counter(_reason(m) for m in dlq_messages)
    return DemoReport(
        score=score(scenario, events, len(dlq_messages)),
        records=options.records,
        consumed=worker.service.stats.records,
        dlq_reasons=dict(reasons),
        failure=failure,
        seconds=time.monotonic() - started,
        bootstrap=bootstrap if real_cluster else MOCK_CLUSTER,
        topics=[
            *config.kafka.input_topics,
            config.kafka.alerts_topic,
            config.kafka.dlq_topic,
            config.kafka.state_topic,
            config.kafka.columns_topic,
        ],
    )


def _create_fresh_topics(out: DemoOutput, config: ServiceConfig, bootstrap: str) -> None:
    from driftwarden.stream.service.topics import ensure_topics

    created = ensure_topics(config)
    out.note(f"created topics: {', '.join(created) or 'none (they exist)'}")
    topic = config.kafka.input_topics[0]
    if topic in created:
        return  # fresh; and its partition may not have a leader to ask for offsets yet
    reader = TopicReader(bootstrap, topic)
    try:
        held = sum(reader.end_offsets().values())
    finally:
        reader.close()
    if held:
        raise ValueError(
            f"topic {topic} on {bootstrap} already holds {held:,} records; the demo needs a "
            "fresh one: choose another --topic-prefix"
        )


def _reason(msg: Message) -> str:
    value = dict(msg.headers() or []).get("driftwarden.reason")
    return value.decode() if isinstance(value, bytes) else str(value)


def _record_offset(msg: Message) -> int:
    try:
        return int(parse_event(msg.value())["data"]["record"]["offset"])
    except (MalformedEvent, KeyError, TypeError, ValueError):
        return -1


def _show(out: DemoOutput, msg: Message, events: list[dict[str, Any]]) -> None:
    try:
        envelope = parse_event(msg.value())
    except MalformedEvent as exc:
        out.note(f"skipped a message on the alerts topic: {exc}")
        return
    events.append(envelope)
    out.alert(msg, envelope)


def _follow(
    options: DemoOptions,
    out: DemoOutput,
    worker: _ServiceThread,
    alerts: TopicReader,
    events: list[dict[str, Any]],
) -> str | None:
    """Show alerts until the service has consumed and run every record, then stop it; returns why
    the run failed (None: it did not)."""
    service = worker.service
    deadline = time.monotonic() + options.timeout_s
    next_progress = time.monotonic() + 2.0
    failure = None
    while not worker.finished.is_set():
        # Alerts of one feature share a partition: order each poll by triggering record.
        for msg in sorted(alerts.poll(0.2, worker.finished), key=_record_offset):
            _show(out, msg, events)
        # Stage two runs every chunk stage one made before the alerts are complete.
        if service.stats.records >= options.records and service.caught_up:
            break
        if time.monotonic() > deadline:
            consumed = service.stats.records
            failure = f"the service consumed only {consumed:,} records in {options.timeout_s:.0f}s"
            break
        if time.monotonic() >= next_progress:
            if service.assigned:
                out.note(
                    f"… {service.stats.records:,}/{options.records:,} records consumed, "
                    f"{len(events)} alerts, {service.stats.dlq} in the DLQ"
                )
            else:
                out.note("… joining the consumer group (the mock cluster waits 3 s for others)")
            next_progress += 2.0
    service.stop()
    worker.join(60)
    if worker.is_alive():
        return "the service did not stop within 60 s"
    if worker.error is not None:
        return f"the service failed: {worker.error!r}"
    return failure
