"""``driftwarden alerts tail``: print the events of the alerts topic as they arrive.

One readable line per event, or the raw CloudEvents JSON with ``--json``. The consumer has
a group id of its own (``driftwarden-alerts-tail-<random>``) and never commits, so tailing
never moves the service's offsets nor another tail's. Messages that are not driftwarden
events are reported on stderr and skipped.

Exit status: 0 stopped (``--max`` reached, ``--timeout`` elapsed, or Ctrl-C); 1 Kafka error
(e.g. the alerts topic does not exist); 2 unusable config or arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message

from detectors.events import EventType
from stream.commands.config_cmd import add_overrides
from stream.config import ConfigError, ServiceConfig, load_config

__all__ = [
    "MalformedEvent",
    "format_event",
    "parse_event",
    "register",
    "run",
    "short_type",
    "type_matches",
]

_CONSUME_BATCH = 100
_CONSUME_WAIT_S = 0.5  # upper bound on how late --timeout and Ctrl-C are noticed


class MalformedEvent(ValueError):
    """A message on the alerts topic that is not a CloudEvent driftwarden can show."""


def short_type(cloudevent_type: str) -> str:
    """The short form of an event type: no ``driftwarden.`` prefix, no ``.v<N>`` suffix.

    >>> short_type("driftwarden.drift.detected.v1"), short_type("category.novel")
    ('drift.detected', 'category.novel')
    """
    name = cloudevent_type.removeprefix("driftwarden.")
    head, dot, version = name.rpartition(".")
    if dot and version[:1] == "v" and version[1:].isdigit():
        return head
    return name


def type_matches(cloudevent_type: str, wanted: Sequence[str]) -> bool:
    """Whether an event type passes the ``--type`` filters (any of them; none passes all).

    A filter is a full type (exact match, version included), a short type, or a family
    (``drift`` matches ``drift.detected`` and ``drift.resolved``).

    >>> t = "driftwarden.drift.resolved.v1"
    >>> [type_matches(t, w) for w in ([], ["drift"], ["drift.detected"], [t], ["feature"])]
    [True, True, False, True, False]
    """
    if not wanted:
        return True
    short = short_type(cloudevent_type)
    return any(
        w == cloudevent_type or w == short or short.startswith(w + ".")
        for w in wanted
        if w  # an empty filter matches nothing rather than everything
    )


def parse_event(value: bytes | None) -> dict[str, Any]:
    """The CloudEvents envelope in a message value; ``MalformedEvent`` says why it is not one.

    An event is a UTF-8 JSON object with a string ``type``; its ``data``, when present, is
    an object.

    >>> parse_event(b'{"type": "driftwarden.feature.novel.v1", "data": {}}')["type"]
    'driftwarden.feature.novel.v1'
    >>> parse_event(b"[1, 2]")
    Traceback (most recent call last):
    ...
    stream.commands.alerts_tail.MalformedEvent: JSON but not an object (a list)
    """
    if not value:
        raise MalformedEvent("empty message")
    try:
        envelope = json.loads(value.decode("utf-8"))
    except UnicodeDecodeError:
        raise MalformedEvent("not JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise MalformedEvent(f"not JSON ({exc})") from None
    if not isinstance(envelope, dict):
        raise MalformedEvent(f"JSON but not an object (a {type(envelope).__name__})")
    if not isinstance(envelope.get("type"), str):
        raise MalformedEvent("no string 'type': not a CloudEvent")
    if not isinstance(envelope.get("data", {}), dict):
        raise MalformedEvent("'data' is not an object")
    return envelope


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def format_event(envelope: dict[str, Any]) -> str:
    """One readable line: time, short type, severity, feature, detector,
    ``statistic=value vs threshold``, source position (``topic[partition]@offset``), and
    the scalar ``detail`` fields (e.g. ``observed_type=str``).

    >>> print(format_event({
    ...     "type": "driftwarden.drift.detected.v1", "time": "2023-11-14T22:13:20.000Z",
    ...     "subject": "age", "data": {"feature": "age", "detector": "histogram",
    ...     "statistic": "psi", "value": 0.31234, "threshold": 0.2, "severity": "critical",
    ...     "record": {"source": "features", "partition": 0, "offset": 7}}}))
    ... # doctest: +NORMALIZE_WHITESPACE
    2023-11-14T22:13:20.000Z  drift.detected  critical  age  histogram  psi=0.3123 vs 0.2
    features[0]@7
    """
    data: dict[str, Any] = envelope.get("data") or {}
    statistic = str(data.get("statistic", "?"))
    value, threshold = data.get("value"), data.get("threshold")
    if value is not None:
        statistic += f"={_number(value)}"
    if threshold is not None:
        statistic += f" vs {_number(threshold)}"
    record = data.get("record")
    position = (
        f"{record.get('source')}[{record.get('partition')}]@{record.get('offset')}"
        if isinstance(record, dict)
        else "-"
    )
    parts = [
        str(envelope.get("time") or "-"),
        f"{short_type(envelope['type']):<20}",
        f"{data.get('severity', '-')!s:<8}",
        str(data.get("feature", envelope.get("subject", "?"))),
        str(data.get("detector", "?")),
        statistic,
        position,
    ]
    detail = data.get("detail")
    if isinstance(detail, dict):
        parts += [
            f"{key}={_number(item)}"
            for key, item in detail.items()
            if isinstance(item, str | int | float | bool)
        ]
    return "  ".join(parts)


def _where(msg: Message) -> str:
    return f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"


def _consumer(config: ServiceConfig, from_beginning: bool) -> Consumer:
    return Consumer(
        config.librdkafka(
            **{
                "group.id": f"driftwarden-alerts-tail-{uuid.uuid4().hex[:12]}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest" if from_beginning else "latest",
                "isolation.level": "read_committed",
            }
        )
    )


def _tail(args: argparse.Namespace, config: ServiceConfig) -> int:
    topic = config.kafka.alerts_topic
    wanted: list[str] = args.types
    consumer = _consumer(config, args.from_beginning)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    shown = 0
    try:
        consumer.subscribe([topic])
        while args.max is None or shown < args.max:
            wait = _CONSUME_WAIT_S
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            for msg in consumer.consume(_CONSUME_BATCH, wait):
                err = msg.error()
                if err is not None:
                    if err.code() in (
                        KafkaError.UNKNOWN_TOPIC_OR_PART,
                        KafkaError._UNKNOWN_TOPIC,
                        KafkaError.TOPIC_AUTHORIZATION_FAILED,
                    ):
                        print(
                            f"driftwarden alerts tail: cannot read topic '{topic}' on "
                            f"{config.kafka.bootstrap_servers}: {err.str()} (is "
                            "kafka.alerts_topic right, and has the service created it?)",
                            file=sys.stderr,
                        )
                        return 1
                    if err.fatal():
                        raise KafkaException(err)
                    print(f"driftwarden alerts tail: {err.str()}", file=sys.stderr)
                    continue
                try:
                    envelope = parse_event(msg.value())
                except MalformedEvent as exc:
                    print(f"driftwarden alerts tail: skipped {_where(msg)}: {exc}", file=sys.stderr)
                    continue
                if not type_matches(envelope["type"], wanted):
                    continue
                if args.json:
                    print((msg.value() or b"").decode().rstrip("\n"), flush=True)
                else:
                    print(format_event(envelope), flush=True)
                shown += 1
                if args.max is not None and shown >= args.max:
                    break
    except KeyboardInterrupt:
        pass  # Ctrl-C is the normal way to stop tailing
    finally:
        consumer.close()
    return 0


def _command(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"driftwarden alerts tail: {exc}", file=sys.stderr)
        return 2
    known = {t.value for t in EventType} | {t.cloudevent_type for t in EventType}
    families = {t.value.split(".")[0] for t in EventType}
    for wanted in args.types:
        if wanted not in known and wanted not in families:
            print(
                f"driftwarden alerts tail: warning: --type {wanted!r} is not a known event "
                f"type (known: {', '.join(sorted(t.value for t in EventType))})",
                file=sys.stderr,
            )
    try:
        return _tail(args, config)
    except KafkaException as exc:
        print(f"driftwarden alerts tail: Kafka error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep the interpreter's final
        # flush of stdout from raising again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _add_tail(commands: Any) -> None:
    tail = commands.add_parser(
        "tail",
        help="print the events of the alerts topic as they arrive",
        description="Subscribe to the config's alerts topic (kafka.alerts_topic) and print one "
        "line per event: time, type, severity, feature, detector, statistic=value vs "
        "threshold, source position. Starts at the end of the topic unless "
        "--from-beginning; never commits offsets. Ctrl-C stops.",
    )
    tail.add_argument("--config", required=True, type=Path, help="service config (YAML)")
    add_overrides(tail, "kafka.alerts_topic=other")
    tail.add_argument(
        "--from-beginning", action="store_true", help="start at the oldest event, not the end"
    )
    tail.add_argument(
        "--type",
        dest="types",
        action="append",
        default=[],
        metavar="T",
        help="only events of this type: short (drift.detected), full "
        "(driftwarden.drift.detected.v1) or a family (drift); repeatable",
    )
    tail.add_argument("--json", action="store_true", help="print each event's raw JSON")
    tail.add_argument("--max", type=_positive_int, metavar="N", help="stop after printing N events")
    tail.add_argument("--timeout", type=_positive_float, metavar="S", help="stop after S seconds")
    tail.set_defaults(command=_command)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``alerts`` (with its ``tail`` subcommand) to ``subparsers``.

    >>> parser = argparse.ArgumentParser(prog="driftwarden")
    >>> register(parser.add_subparsers())
    >>> args = parser.parse_args(["alerts", "tail", "--config", "c.yaml", "--type", "drift"])
    >>> args.types, args.from_beginning, args.command.__name__
    (['drift'], False, '_command')
    """
    parser = subparsers.add_parser(
        "alerts",
        help="read the events driftwarden publishes",
        description="Read the CloudEvents on the alerts topic.",
    )

    def usage(_: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(command=usage)
    _add_tail(parser.add_subparsers(title="commands", metavar="{tail}"))


def run(argv: Sequence[str]) -> int:
    """Run ``driftwarden alerts tail`` with ``argv`` (the arguments after ``tail``).

    >>> run(["--config", "/nonexistent/service.yaml"])  # the error goes to stderr
    2
    """
    parser = argparse.ArgumentParser(prog="driftwarden")
    register(parser.add_subparsers())
    try:
        args = parser.parse_args(["alerts", "tail", *argv])
    except SystemExit as stop:
        return int(stop.code or 0)
    return int(args.command(args))
