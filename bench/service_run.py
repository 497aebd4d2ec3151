"""``driftwarden run`` on a preloaded topic, measured from outside until it has read it all.

The service runs as a user runs it (``driftwarden run --config FILE``) with every default
detector, the reference profile, its own consumer group and its own alerts, DLQ and state
topics (created here, with a leader, before it starts: when the service creates them itself,
its first state read can meet a partition without a leader yet and exit; deleted afterwards
with the group). Its JSON progress lines (every ``progress_every_s``) say how many records it
has processed; once that reaches the topic's size it gets SIGTERM, checkpoints and exits, and
``os.wait4`` gives its CPU time and peak resident size. ``/proc`` is sampled every
``sample_every_s`` in between (``bench/soak.py`` reads the resident size at given record
counts from these samples).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench.measured_process import MeasuredProcess, Sample, Usage
from driftwarden.stream.service.topics import COLUMNS_TOPIC_CONFIG, STATE_TOPIC_CONFIG

__all__ = ["ROLES", "ServiceRun", "cleanup", "create_topics", "run_service", "service_config"]

REPO_DIR = Path(__file__).resolve().parent.parent
DRIFTWARDEN = Path(sys.executable).parent / "driftwarden"


@dataclass(slots=True)
class ServiceRun:
    """What one service run did and used.

    ``progress`` holds ``(monotonic time seen, records, cpu_s then)`` per progress line;
    ``samples`` the ``/proc`` readings; ``first``/``done`` the progress entries of the first
    records and of the last; ``snapshots`` ``(next offset, bytes)`` of each checkpoint
    snapshot on the state topic (the detector state of all features, as JSON); ``alerts``
    the events of the alerts topic counted by ``type feature detector statistic``.
    """

    records: int
    usage: Usage
    progress: list[tuple[float, int, float]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    final_log: dict[str, Any] = field(default_factory=dict)
    events: int = 0
    dlq: int = 0
    log_path: Path | None = None
    snapshots: list[tuple[int, int]] = field(default_factory=list)
    alerts: dict[str, int] = field(default_factory=dict)

    @property
    def first(self) -> tuple[float, int, float]:
        """The first progress entry with records processed."""
        return next(p for p in self.progress if p[1] > 0)

    @property
    def done(self) -> tuple[float, int, float]:
        """The first progress entry with every record processed."""
        return next(p for p in self.progress if p[1] >= self.records)

    def rss_at(self, records: int, window: int = 250_000) -> float:
        """Largest resident MB sampled while the reported record count went from
        ``records - window`` to ``records`` (one sample is one moment of a batch cycle, and
        resident size moves by a few percent within it)."""
        start = next(t for t, r, _cpu in self.progress if r >= records - window)
        end = next(t for t, r, _cpu in self.progress if r >= records)
        inside = [s.rss_mb for s in self.samples if start <= s.t <= end]
        if inside:
            return max(inside)
        before = [s for s in self.samples if s.t <= end]
        return (before[-1] if before else self.samples[0]).rss_mb


def service_config(
    folder: Path,
    bootstrap: str,
    topic: str,
    profile: Path,
    run_id: str,
    progress_every_s: float,
    client: dict[str, str | int] | None = None,
    single_stage: bool = False,
) -> Path:
    """Write the service config of one run (``client``: librdkafka settings); its path.
    ``single_stage``: for a service from before the two stages (no columns topic)."""
    config: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "input_topics": [topic],
            "group_id": f"dwbench-{run_id}",
            "alerts_topic": f"dwbench-{run_id}-alerts",
            "dlq_topic": f"dwbench-{run_id}-dlq",
            "state_topic": f"dwbench-{run_id}-state",
            "create_topics": False,
            "client": dict(client or {}),
        },
        "reference": {"profile": str(profile)},
        "input": {
            "features_path": "features",
            "ignore": ["request_id", "ts", "model_version"],
        },
        "service": {
            "log_format": "json",
            "progress_every_s": progress_every_s,
            "metrics": {"enabled": True, "port": 0},
        },
    }
    if not single_stage:
        config["kafka"]["columns_topic"] = f"dwbench-{run_id}-columns"
    path = folder / f"service-{run_id}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every value of partition 0 of ``topic``, from its start to its end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"dwbench-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    values: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    break
                raise KafkaException(err)
            values.append(msg.value() or b"")
    finally:
        consumer.close()
    return values


def _snapshot_sizes(bootstrap: str, state_topic: str) -> list[tuple[int, int]]:
    """``(next offset, bytes)`` of every snapshot on the state topic, in order."""
    return [
        (int(msgspec.json.decode(value).get("next_offset") or 0), len(value))
        for value in _read_topic(bootstrap, state_topic)
        if value
    ]


def _alert_counts(bootstrap: str, alerts_topic: str) -> dict[str, int]:
    """Events on the alerts topic, counted by ``type feature detector statistic``."""
    counts: Counter[str] = Counter()
    for value in _read_topic(bootstrap, alerts_topic):
        data = msgspec.json.decode(value).get("data", {})
        what = (data.get(key) for key in ("type", "feature", "detector", "statistic"))
        counts[" ".join(map(str, what))] += 1
    return dict(counts)


ROLES = ("alerts", "dlq", "state", "columns")


def create_topics(bootstrap: str, run_id: str, columns_partitions: int = 4) -> None:
    """Create the run's alerts, DLQ, state and columns topics and wait until each has a
    leader."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = []
    for role in ROLES:
        partitions = columns_partitions if role == "columns" else 1
        topic = NewTopic(
            f"dwbench-{run_id}-{role}", num_partitions=partitions, replication_factor=1
        )
        if role == "state":
            topic.config = dict(STATE_TOPIC_CONFIG)
        if role == "columns":
            topic.config = dict(COLUMNS_TOPIC_CONFIG)
        new.append(topic)
    for future in admin.create_topics(new, operation_timeout=30).values():
        future.result(30)
    deadline = time.monotonic() + 30
    names = {topic.topic for topic in new}
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=10).topics
        led = [
            name
            for name in names
            if name in topics
            and topics[name].partitions
            and all(p.leader >= 0 for p in topics[name].partitions.values())
        ]
        if len(led) == len(names):
            return
        time.sleep(0.2)
    raise TimeoutError(f"topics of run {run_id} have no leader after 30 s")


def cleanup(bootstrap: str, run_id: str) -> None:
    """Delete the run's topics and consumer groups (best effort)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [f"dwbench-{run_id}-{role}" for role in ROLES]
    for future in admin.delete_topics(topics, operation_timeout=30).values():
        try:
            future.result(30)
        except Exception as error:  # best effort: report, never fail the run
            print(f"cleanup: {error}", file=sys.stderr)
    groups = [f"dwbench-{run_id}{suffix}" for suffix in ("", ".split", ".detect")]
    for future in admin.delete_consumer_groups(groups).values():
        try:
            future.result(30)
        except Exception as error:
            print(f"cleanup: {error}", file=sys.stderr)


def run_service(
    bootstrap: str,
    topic: str,
    records: int,
    profile: Path,
    folder: Path,
    *,
    progress_every_s: float = 0.5,
    sample_every_s: float = 0.25,
    timeout_s: float = 3600.0,
    extra_args: tuple[str, ...] = (),
    label: str = "service",
    py_spy: Path | None = None,
    command: tuple[str, ...] | None = None,
    client: dict[str, str | int] | None = None,
    single_stage: bool = False,
) -> ServiceRun:
    """Run the service until it has processed ``records`` records, then stop it.

    ``py_spy``: also sample its Python stacks with ``py-spy record --nonblocking`` into that
    file (collapsed stacks, one ``stack count`` line each); py-spy must be installed.
    ``command`` runs instead of ``driftwarden`` (it gets ``run --config FILE``), for
    experiments with a patched service. ``client``: librdkafka settings of the service.
    ``single_stage``: ``command`` is a service from before the two stages.

    A two-stage service has processed the records once its split stage reports them all and
    its detect stage has run every chunk split produced.
    """
    run_id = uuid.uuid4().hex[:10]
    config = service_config(
        folder, bootstrap, topic, profile, run_id, progress_every_s, client, single_stage
    )
    create_topics(bootstrap, run_id)
    log_path = folder / f"{label}-{run_id}.log"
    process = MeasuredProcess(
        [*(command or (str(DRIFTWARDEN),)), "run", "--config", str(config), *extra_args],
        log_path,
        REPO_DIR,
    )
    spy = None
    if py_spy is not None:
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(process.pid),
                "--rate",
                "250",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(py_spy),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        progress, samples = _follow(process, log_path, records, sample_every_s, timeout_s, label)
    finally:
        process.proc.send_signal(signal.SIGTERM)
        usage = process.wait(120)
        if spy is not None:
            spy.wait(60)
        snapshots = _snapshot_sizes(bootstrap, f"dwbench-{run_id}-state")
        alerts = _alert_counts(bootstrap, f"dwbench-{run_id}-alerts")
        cleanup(bootstrap, run_id)
    final: dict[str, Any] = {}
    for line in log_path.read_bytes().splitlines():
        entry = _json_line(line)
        if entry.get("event") == "service_stopped":
            final = entry
    if usage.returncode != 0:
        raise RuntimeError(f"{label} exited with {usage.returncode}; see {log_path}")
    return ServiceRun(
        records=records,
        usage=usage,
        progress=progress,
        samples=samples,
        final_log=final,
        events=sum(alerts.values()),
        dlq=int(final.get("dlq", 0)),
        log_path=log_path,
        snapshots=snapshots,
        alerts=alerts,
    )


def _follow(
    process: MeasuredProcess,
    log_path: Path,
    records: int,
    sample_every_s: float,
    timeout_s: float,
    label: str,
) -> tuple[list[tuple[float, int, float]], list[Sample]]:
    """Read the service's progress lines and ``/proc`` until it reports ``records``."""
    progress: list[tuple[float, int, float]] = []
    samples: list[Sample] = []
    deadline = time.monotonic() + timeout_s
    next_sample = 0.0
    position = 0
    seen = 0
    chunks_out = chunks_in = 0
    with log_path.open("rb") as log:
        while seen < records or chunks_in < chunks_out:
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"{label}: {seen:,}/{records:,} records in {timeout_s} s")
            sample = process.sample()
            if sample is None or not process.running():
                raise RuntimeError(f"{label} exited early; see {log_path}")
            if now >= next_sample:
                samples.append(sample)
                next_sample = now + sample_every_s
            log.seek(position)
            chunk = log.read()
            complete = chunk.rfind(b"\n") + 1
            position += complete
            for line in chunk[:complete].splitlines():
                entry = _json_line(line)
                if entry.get("event") != "progress":
                    continue
                if entry.get("stage") == "detect":
                    chunks_in = int(entry["chunks"])
                else:
                    seen = int(entry["records"])
                    chunks_out = int(entry.get("chunks", 0))
                done = seen >= records and chunks_in >= chunks_out
                progress.append((sample.t, seen if done else min(seen, records - 1), sample.cpu_s))
            time.sleep(0.05)
    last = process.sample()
    if last is not None:
        samples.append(last)
    return progress, samples


def _json_line(line: bytes) -> dict[str, Any]:
    try:
        entry = json.loads(line)
    except ValueError:
        return {}
    return entry if isinstance(entry, dict) else {}
