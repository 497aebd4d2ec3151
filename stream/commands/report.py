"""``driftwarden report``: the HTML report of a running or stopped service.

Reads the latest detector snapshots on the state topic (each feature's live window) and the
events on the alerts topic in a time range (incidents and, when published, detector-level
events), compares them with the training profile, and writes one self-contained HTML page.
See docs/report.md. ``driftwarden replay --html`` writes the same page for files.

Exit status: 0 written; 1 Kafka did not answer in time or refused; 2 a bad config, profile,
time or output path, said in one line.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from driftwarden.stream.commands.input_pass import report_failure
from driftwarden.stream.config import ConfigError, load_config
from driftwarden.stream.profiling.readers import InputError
from driftwarden.stream.report.model import DEFAULT_MAX_PANELS

__all__ = ["parse_moment", "register", "run"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_moment(text: str, now: float) -> float:
    """A moment in Unix seconds from a duration before ``now`` (``90m``, ``24h``, ``7d``,
    ``2w``) or an ISO 8601 time (UTC unless it says otherwise).

    >>> parse_moment("24h", now=1_700_086_400.0)
    1700000000.0
    >>> parse_moment("2023-11-14T22:13:20Z", now=0.0)
    1700000000.0
    >>> parse_moment("yesterday", now=0.0)
    Traceback (most recent call last):
    ...
    ValueError: 'yesterday' is neither a duration (24h, 7d) nor an ISO time (2024-05-01T12:00)
    """
    match = _DURATION.match(text.strip())
    if match:
        return now - float(match.group(1)) * _UNIT_S[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (24h, 7d) nor an ISO time (2024-05-01T12:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _command(args: argparse.Namespace) -> int:
    from confluent_kafka import KafkaException

    from driftwarden.stream.report.page import write_page
    from driftwarden.stream.report.service_source import read_alert_events, read_live_state
    from driftwarden.stream.report.service_view import service_report_data

    now = time.time()
    try:
        since = parse_moment(args.since, now) if args.since else None
        until = parse_moment(args.until, now) if args.until else None
        config = load_config(args.config, args.set or [])
        profile = config.reference_profile()
        live = read_live_state(config, profile, args.timeout)
        events = read_alert_events(
            config,
            None if since is None else int(since * 1000),
            None if until is None else int(until * 1000),
            args.timeout,
        )
        span = " to ".join(
            datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
            for moment in (since or 0.0, until or now)
        )
        data = service_report_data(
            profile,
            live,
            events,
            until or now,
            f"driftwarden report: {config.kafka.group_id}",
            f"Service {config.kafka.group_id} on {config.kafka.bootstrap_servers}: latest "
            f"snapshots on {config.kafka.state_topic} ({len(live):,} features) and "
            f"{len(events):,} events on {config.kafka.alerts_topic} "
            f"({'from ' + span if since else 'all, up to ' + span.split(' to ')[1]}).",
        )
        written = write_page(data, args.output, args.max_panels)
    except (ConfigError, InputError, ValueError) as error:
        return report_failure(error)
    except OSError as error:
        return report_failure(InputError(f"{args.output}: cannot write ({error.strerror})"))
    except (KafkaException, TimeoutError) as error:
        print(f"driftwarden report: Kafka error: {error}", file=sys.stderr, flush=True)
        return 1
    print(f"report: {written.resolve()}")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``report`` to ``subparsers``.

    >>> parser = argparse.ArgumentParser(prog="driftwarden")
    >>> register(parser.add_subparsers())
    >>> args = parser.parse_args(["report", "--config", "s.yaml", "--since", "7d"])
    >>> args.output, args.since, args.command.__name__
    ('driftwarden-report.html', '7d', '_command')
    """
    parser = subparsers.add_parser(
        "report",
        help="write the HTML report of a service: training vs production per feature",
        description="Write one self-contained HTML page comparing the training profile with "
        "what the service saw: the latest snapshots on the state topic and the events on the "
        "alerts topic in a time range. Nothing is fetched when the page is viewed.",
    )
    parser.add_argument("--config", required=True, help="the service's config file")
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a config key (repeatable)"
    )
    parser.add_argument("-o", "--output", default="driftwarden-report.html", metavar="FILE")
    parser.add_argument("--since", metavar="WHEN", help="events from: 24h, 7d or an ISO time")
    parser.add_argument("--until", metavar="WHEN", help="events until (default: now)")
    parser.add_argument(
        "--max-panels",
        type=_positive,
        default=DEFAULT_MAX_PANELS,
        metavar="N",
        help=f"detailed panels for the N most severe features (default {DEFAULT_MAX_PANELS})",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="Kafka read timeout (s)"
    )
    parser.set_defaults(command=_command)


def run(argv: Sequence[str]) -> int:
    """Run ``driftwarden report`` with ``argv`` (the arguments after ``report``)."""
    parser = argparse.ArgumentParser(prog="driftwarden")
    register(parser.add_subparsers())
    try:
        args = parser.parse_args(["report", *argv])
    except SystemExit as stop:
        return int(stop.code or 0)
    return int(args.command(args))
