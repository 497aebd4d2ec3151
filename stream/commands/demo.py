"""``driftwarden demo``: the zero-setup tour of the product, and its own regression check.

Builds a training profile of generated loan applications, streams production records with
a script of pitfalls through Kafka (librdkafka's in-process mock cluster unless
``--bootstrap-servers`` names a real one), runs the drift service on them, shows the alerts
as they fire, and ends with a summary table: each pitfall, the event that caught it and
after how many records, plus any false alarm and the DLQ count. Last, it writes the HTML
report of the demo's data (``--html``, default ``driftwarden-demo-report.html`` in the
current directory) and prints its path.

Exit status: 0 every pitfall caught and no false alarm; 1 otherwise, or when Kafka or the
service failed; 2 bad arguments (or a ``--topic-prefix`` whose input topic is not fresh);
130 interrupted. Heavy modules are imported when the command runs, not when the CLI is
built, so ``driftwarden --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from driftwarden.stream.demo.runner import DemoOptions, DemoReport
    from driftwarden.stream.demo.scenario import Catch

__all__ = ["print_summary", "register", "run", "summary_json"]

_DEFAULT_RECORDS = 80_000  # DemoOptions().records, without importing the demo for --help
_DEFAULT_SEED = 11
_DEFAULT_REPORT = "driftwarden-demo-report.html"  # demo.report.DEFAULT_REPORT


def _catch_row(catch: Catch) -> list[str]:
    pitfall = catch.pitfall
    mark = "[green]✔[/]" if catch.caught else "[red]✘[/]"
    others = f"{catch.related}" if catch.related else "-"
    if pitfall.malformed:
        caught_by = f"DLQ: {catch.dlq}/{pitfall.malformed} records"
        return [mark, pitfall.name, "-", f"{pitfall.start:,}", caught_by, "-", "-", others]
    features = ", ".join(pitfall.features)
    at = f"{pitfall.start:,}"
    if catch.offset is None:
        return [mark, pitfall.name, features, at, "[red]missed[/]", "-", "-", others]
    return [
        mark,
        pitfall.name,
        features,
        at,
        str(catch.event_type),
        str(catch.detector),
        f"{catch.delay:,}",
        others,
    ]


def print_summary(console: Console, report: DemoReport) -> None:
    """The summary table, the false alarms, the DLQ count and the verdict.

    >>> from rich.console import Console
    >>> from driftwarden.stream.demo.scenario import make_scenario, score
    >>> from driftwarden.stream.demo.runner import DemoReport
    >>> scenario = make_scenario(40_000)
    >>> report = DemoReport(score(scenario, [], 60), 40_000, 40_000, {"wrong_type": 60}, None,
    ...                     9.5, "in-process mock cluster", [])
    >>> print_summary(Console(width=120, no_color=True), report)  # doctest: +ELLIPSIS
    <BLANKLINE>
    ...
    │ ✘ │ mean shift          │ income        │ 4,000     │ missed             │ -        │ ...
    ...
    FAIL: see the rows marked ✘ and the false alarms above.
    """
    from rich.table import Table

    from driftwarden.stream.cloudevents import format_event
    from driftwarden.stream.demo.runner import MOCK_CLUSTER

    table = Table(title="What was injected, and what caught it")
    for column in ("", "pitfall", "feature", "at record", "caught by", "detector"):
        table.add_column(column, no_wrap=True)
    table.add_column("after (records)", justify="right")
    table.add_column("other events", justify="right")
    for catch in report.score.catches:
        table.add_row(*_catch_row(catch))
    console.print()
    console.print(table)
    console.print(
        "after: records from the injection to the record that triggered the event; other "
        "events: further events the same pitfall caused.",
        style="dim",
    )
    alarms = report.score.false_alarms
    if alarms:
        console.print(f"[red]False alarms: {len(alarms)}[/] (events nothing injected explains):")
        for envelope in alarms:
            console.print("  " + format_event(envelope), markup=False, soft_wrap=True)
    else:
        console.print(
            "False alarms: none (no event on a feature or record where nothing was injected)"
        )
    injected = sum(c.pitfall.malformed for c in report.score.catches)
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.dlq_reasons.items())) or "none"
    console.print(
        f"DLQ: {sum(report.dlq_reasons.values())} records ({reasons}) for {injected} malformed "
        f"injected. {report.consumed:,} of {report.records:,} records consumed; "
        f"{report.seconds:.1f} s."
    )
    if report.topics and report.bootstrap != MOCK_CLUSTER:
        console.print(f"Topics left on {report.bootstrap}: {', '.join(report.topics)}")
    if report.failure is not None:
        console.print(f"[red]The run failed: {report.failure}[/]")
    if report.ok:
        console.print("[bold green]PASS[/]: every pitfall caught, no false alarm.")
    else:
        console.print("[bold red]FAIL[/]: see the rows marked ✘ and the false alarms above.")


def summary_json(report: DemoReport) -> str:
    """The summary as one JSON document (``--json``).

    >>> from driftwarden.stream.demo.scenario import make_scenario, score
    >>> from driftwarden.stream.demo.runner import DemoReport
    >>> scenario = make_scenario(40_000)
    >>> report = DemoReport(score(scenario, [], 60), 40_000, 40_000, {"wrong_type": 60}, None,
    ...                     9.5, "in-process mock cluster", [])
    >>> document = json.loads(summary_json(report))
    >>> document["ok"], document["pitfalls"][-1]["caught"], document["dlq"]["records"]
    (False, True, 60)
    """
    pitfalls: list[dict[str, Any]] = [
        {
            "pitfall": c.pitfall.name,
            "injected": c.pitfall.description,
            "start": c.pitfall.start,
            "features": list(c.pitfall.features),
            "caught": c.caught,
            "event_type": c.event_type,
            "feature": c.feature,
            "detector": c.detector,
            "record": c.offset,
            "after_records": c.delay,
            "other_events": c.related,
            "dlq": c.dlq,
            "malformed": c.pitfall.malformed,
        }
        for c in report.score.catches
    ]
    return json.dumps(
        {
            "ok": report.ok,
            "records": report.records,
            "consumed": report.consumed,
            "seconds": round(report.seconds, 2),
            "pitfalls": pitfalls,
            "false_alarms": report.score.false_alarms,
            "dlq": {"records": sum(report.dlq_reasons.values()), "reasons": report.dlq_reasons},
            "failure": report.failure,
            "kafka": {"bootstrap": report.bootstrap, "topics": report.topics},
        }
    )


def _records(text: str) -> int:
    from driftwarden.stream.demo.scenario import MIN_RECORDS

    value = int(text.replace("_", ""))
    if value < MIN_RECORDS:
        raise argparse.ArgumentTypeError(f"the demo needs at least {MIN_RECORDS:,} records")
    return value


def _command(args: argparse.Namespace) -> int:
    from confluent_kafka import KafkaException

    from driftwarden.stream.demo.runner import DemoOptions, DemoOutput, run_demo
    from driftwarden.stream.service.topics import TopicsMissing

    options = DemoOptions(
        bootstrap_servers=args.bootstrap_servers,
        records=args.records,
        seed=args.seed,
        topic_prefix=args.topic_prefix,
        json=args.json,
    )
    out = DemoOutput(options.json)
    try:
        report = run_demo(options, out)
    except KeyboardInterrupt:
        out.console.print("interrupted")
        return 130
    except ValueError as exc:  # e.g. a --topic-prefix whose input topic is not fresh
        print(f"driftwarden demo: {exc}", file=sys.stderr)
        return 2
    except (KafkaException, TopicsMissing, TimeoutError) as exc:
        print(f"driftwarden demo: Kafka error: {exc}", file=sys.stderr)
        return 1
    if options.json:
        print(summary_json(report), file=out.stdout, flush=True)
    else:
        print_summary(out.console, report)
    if args.html:
        written = _write_report(options, args.html)
        if written is None:
            return 1
        # With --json the last line of stdout stays the JSON summary.
        print(f"Report: {written}", file=sys.stderr if options.json else sys.stdout)
    return 0 if report.ok else 1


def _write_report(options: DemoOptions, path: str) -> str | None:
    """Write the demo's HTML report; its absolute path, or None (said on stderr)."""
    from driftwarden.stream.demo.report import write_demo_report

    try:
        return str(write_demo_report(options, path).resolve())
    except OSError as exc:
        print(f"driftwarden demo: cannot write the report {path}: {exc.strerror}", file=sys.stderr)
        return None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo`` to ``subparsers``.

    >>> parser = argparse.ArgumentParser(prog="driftwarden")
    >>> register(parser.add_subparsers())
    >>> args = parser.parse_args(["demo", "--records", "50000"])
    >>> args.records, args.bootstrap_servers, args.command.__name__
    (50000, None, '_command')
    """
    parser = subparsers.add_parser(
        "demo",
        help="stream generated data with known pitfalls through Kafka and show what fires",
        description="Build a training profile of generated loan applications, stream "
        "production records with a script of data pitfalls (mean shift, variance change, "
        "gradual drift, novel category, novel and vanished fields, out-of-range values, "
        "malformed records) through Kafka, run the drift service on them, show the alerts "
        "as they fire and end with a summary. No broker needed: without --bootstrap-servers "
        "it runs librdkafka's in-process mock cluster. Exit 0 when every pitfall is caught "
        "and nothing else fires.",
    )
    parser.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT",
        help="a real Kafka cluster (topics are created); default: in-process mock cluster",
    )
    parser.add_argument(
        "--records",
        type=_records,
        default=_DEFAULT_RECORDS,
        metavar="N",
        help=f"production records to stream (default {_DEFAULT_RECORDS:,}; the scenario needs "
        "at least 40,000)",
    )
    parser.add_argument("--seed", type=int, default=_DEFAULT_SEED, metavar="S", help="random seed")
    parser.add_argument(
        "--topic-prefix",
        metavar="P",
        help="names the topics P.loan-applications, P.alerts, P.dlq, P.state and the group P "
        "(default: driftwarden-demo-<random>)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print each alert's raw CloudEvent JSON and a JSON summary (progress on stderr)",
    )
    parser.add_argument(
        "--html",
        metavar="FILE",
        default=_DEFAULT_REPORT,
        help=f"write the HTML report of the demo's data here (default {_DEFAULT_REPORT}; "
        "an empty value writes none)",
    )
    parser.set_defaults(command=_command)


def run(argv: Sequence[str]) -> int:
    """Run ``driftwarden demo`` with ``argv`` (the arguments after ``demo``).

    >>> run(["--records", "10"])  # the error goes to stderr
    2
    """
    parser = argparse.ArgumentParser(prog="driftwarden")
    register(parser.add_subparsers())
    try:
        args = parser.parse_args(["demo", *argv])
    except SystemExit as stop:
        return int(stop.code or 0)
    return int(args.command(args))
