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
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message

from driftwarden.detectors.events import EventType
from driftwarden.detectors.incident_events import IncidentEventType
from driftwarden.stream.cloudevents import MalformedEvent, format_event, parse_event, type_matches
from driftwarden.stream.commands.config_cmd import add_overrides
from driftwarden.stream.config import ConfigError, ServiceConfig, load_config

__all__ = ["register", "run"]

_CONSUME_BATCH = 100
_CONSUME_WAIT_S = 0.5  # upper bound on how late --timeout and Ctrl-C are noticed


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
    types: list[EventType | IncidentEventType] = [*IncidentEventType, *EventType]
    known = {t.value for t in types} | {t.cloudevent_type for t in types}
    families = {t.value.split(".")[0] for t in types}
    for wanted in args.types:
        if wanted not in known and wanted not in families:
            print(
                f"driftwarden alerts tail: warning: --type {wanted!r} is not a known event "
                f"type (known: {', '.join(sorted(t.value for t in types))})",
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
        "line per event. An incident: time, type, severity, feature, #incident id, each "
        "finding with its effect (mean_shift(+0.92σ), distribution_shift(psi 0.31), ...), "
        "onset, source position; a detector-level event: time, type, severity, feature, "
        "detector, statistic=value vs threshold, source position. Starts at the end of the "
        "topic unless --from-beginning; never commits offsets. Ctrl-C stops.",
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
        help="only events of this type: short (incident.opened), full "
        "(driftwarden.incident.opened.v1) or a family (incident, drift); repeatable",
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
