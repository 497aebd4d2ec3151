"""``driftwarden replay``: the service's detectors over files of production records, offline.

Every incident event (and, with ``--detector-events``, every detector-level event) goes to
stdout as one CloudEvents JSON line, as the service publishes it; the
rejected records (with file and line) and a per-feature summary table go to stderr;
``--report`` writes the summary as JSON, ``--html`` the HTML report (training vs the replayed
records, feature by feature: docs/report.md). See docs/replay.md.

Exit status: 0 done (events are not an error); 1 stdout closed early (``| head``); 2 an
input or usage problem (missing file, unreadable format, empty input, a bad config or
profile, more rejected records than ``--max-errors``), reported in one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.table import Table

from driftwarden.detectors.profile import Profile
from driftwarden.detectors.settings import DetectorSettings
from driftwarden.stream.commands.input_pass import (
    ErrorBudget,
    TooManyBadRows,
    check_inputs,
    report_failure,
    with_byte_progress,
)
from driftwarden.stream.commands.profile import add_name_list
from driftwarden.stream.config import ConfigError, InputSection, KafkaSection, load_config
from driftwarden.stream.profiling.readers import FORMATS, InputError
from driftwarden.stream.replay import (
    PayloadBatch,
    Replayer,
    ReplayReport,
    RowEncoder,
    payload_batches,
    source_names,
)
from driftwarden.stream.report.model import DEFAULT_MAX_PANELS
from driftwarden.stream.report.replay_source import ReplayCollector, collect

__all__ = ["register", "render_summary", "run"]

DEFAULT_BATCH: int = KafkaSection.model_fields["consume_batch"].default
# Kafka keys a replay never uses, filled in so that a config without a kafka section loads.
_UNUSED_KAFKA = ("kafka.bootstrap_servers=replay.invalid:9092", "kafka.input_topics=[replay]")
_SHOWN_STATISTICS = ("psi", "mean_shift_sigma")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _load_profile(path: str) -> Profile:
    try:
        return Profile.model_validate_json(Path(path).read_bytes())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({error.strerror})") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        raise InputError(
            f"{path}: not a driftwarden profile ({where}: {first['msg']}); "
            "build one with 'driftwarden profile build'"
        ) from None


def _setup(
    args: argparse.Namespace,
) -> tuple[Profile, DetectorSettings, InputSection, int, bool]:
    """Profile, detector settings, input settings, batch size and whether detector-level
    events are written, from the config and flags."""
    settings, input_section, batch, profile = (
        DetectorSettings(),
        InputSection(),
        DEFAULT_BATCH,
        None,
    )
    detector_events = bool(args.detector_events)
    if args.config is not None:
        overrides = [*_UNUSED_KAFKA, *(["reference.profile=null"] if args.profile else [])]
        config = load_config(args.config, overrides)
        settings, input_section = config.detectors, config.input
        batch = config.kafka.consume_batch
        profile = config.reference_profile()
        detector_events = detector_events or config.alerts.detector_events
    if args.profile is not None:
        profile = _load_profile(args.profile)
    if profile is None:
        raise InputError("replay needs a profile: pass --profile, or reference.profile in --config")
    if args.features_path is not None:
        input_section = input_section.model_copy(update={"features_path": args.features_path})
    if args.ignore:
        ignore = [*input_section.ignore, *args.ignore]
        input_section = input_section.model_copy(update={"ignore": ignore})
    return profile, settings, input_section, args.batch or batch, detector_events


def _batches(
    args: argparse.Namespace, encoder: RowEncoder, batch: int, features_path: str | None
) -> Iterator[PayloadBatch]:
    """Every file's payload batches, with a progress bar for large inputs on a TTY."""
    total = check_inputs(args.inputs, args.format)
    batches = (
        item
        for path in args.inputs
        for item in payload_batches(path, args.format, batch, encoder, features_path)
    )
    yield from with_byte_progress(batches, total, "replaying")


def _replay(args: argparse.Namespace) -> int:
    budget = ErrorBudget(args.max_errors)
    try:
        profile, settings, input_section, batch, detector_events = _setup(args)
        replayer = Replayer(profile, settings, input_section, detector_events=detector_events)
        collector = collect(replayer) if args.html is not None else None
        encoder = RowEncoder(replayer.kinds, input_section.features_path)
        names = source_names(args.inputs)
        out = sys.stdout
        for payloads in _batches(args, encoder, batch, input_section.features_path):
            step = replayer.process(payloads, names[payloads.path])
            budget.record(step.rejected)
            out.write("".join(event.decode() + "\n" for event in step.events))
        out.flush()
        _print_rejected(budget)
        if replayer.accepted == 0:
            what = "no record was accepted" if budget.count else "no records"
            raise InputError(f"empty input: {what} in {', '.join(args.inputs)}")
        report = replayer.report(list(args.inputs))
        if args.report is not None:
            _write_report(args.report, report)
        if collector is not None:
            _write_html(args, collector)
    except BrokenPipeError:
        # Whoever read stdout went away (``| head``): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except TooManyBadRows as error:
        _print_rejected(budget)
        return report_failure(error)
    except (InputError, ConfigError, ValueError, OSError) as error:
        return report_failure(error)
    render_summary(report)
    return 0


def _print_rejected(budget: ErrorBudget) -> None:
    """List the rejected records met (the first ones) on stderr."""
    if not budget.count:
        return
    print(f"warning: {budget.count:,} record(s) rejected (the service's DLQ):", file=sys.stderr)
    for row in budget.examples:
        print(f"  {row}", file=sys.stderr)
    if budget.count > len(budget.examples):
        print(f"  ... and {budget.count - len(budget.examples):,} more", file=sys.stderr)


def _write_report(path: str, report: ReplayReport) -> None:
    try:
        Path(path).write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot write the report ({error.strerror})") from None


def _write_html(args: argparse.Namespace, collector: ReplayCollector) -> None:
    from driftwarden.stream.report.page import write_page  # matplotlib: only when asked

    inputs = ", ".join(args.inputs)
    profile = args.profile or "the config's reference.profile"
    data = collector.report_data(
        "driftwarden replay: training vs production, feature by feature",
        f"{collector.records:,} records of {inputs} replayed against {profile}.",
    )
    try:
        written = write_page(data, args.html, args.max_panels)
    except OSError as error:
        raise InputError(f"{args.html}: cannot write the report ({error.strerror})") from None
    print(f"report: {written}", file=sys.stderr)


def render_summary(report: ReplayReport, console: Console | None = None) -> None:
    """The per-feature summary table (on stderr by default): a boxed table on a terminal,
    plain aligned columns otherwise.

    >>> from driftwarden.stream.replay import FeatureSummary
    >>> report = ReplayReport(inputs=["prod.jsonl"], records=3, accepted=2, rejected=1,
    ...     rejected_by_reason={"malformed_json": 1}, events=1,
    ...     events_by_type={"incident.opened": 1}, features={"country": FeatureSummary(
    ...         kind="categorical", in_profile=True, values=2, nulls=0, absent=0,
    ...         statistics={"psi": 0.25}, events={"incident.opened": 1})})
    >>> render_summary(report, Console(width=100))  # doctest: +NORMALIZE_WHITESPACE
    replayed 3 records from 1 file: 2 accepted, 1 rejected (malformed_json 1), 1 event
    feature  kind  values  nulls  absent  psi  mean_shift_sigma  events
    country  categorical  2  0  0  0.2500  –  incident.opened 1
    """
    if console is None:
        console = Console(stderr=True)
        if not console.is_terminal:
            console = Console(stderr=True, width=200)
    reasons = ", ".join(f"{reason} {n}" for reason, n in report.rejected_by_reason.items())
    files = len(report.inputs)
    console.print(
        f"replayed {report.records:,} records from {files} file{'s' if files != 1 else ''}: "
        f"{report.accepted:,} accepted, {report.rejected:,} rejected"
        + (f" ({reasons})" if reasons else "")
        + f", {report.events:,} event{'s' if report.events != 1 else ''}",
        highlight=False,
    )
    table = Table(box=box.SIMPLE_HEAD if console.is_terminal else None, pad_edge=False)
    for name in ("feature", "kind", "values", "nulls", "absent", *_SHOWN_STATISTICS, "events"):
        table.add_column(name, justify="right" if name in ("values", "nulls", "absent") else "left")
    for name, feature in report.features.items():
        shown = [feature.statistics.get(key) for key in _SHOWN_STATISTICS]
        table.add_row(
            name if feature.in_profile else f"{name} (new)",
            feature.kind or "–",
            f"{feature.values:,}",
            f"{feature.nulls:,}",
            f"{feature.absent:,}",
            *("–" if value is None else f"{value:.4f}" for value in shown),
            ", ".join(f"{kind} {n}" for kind, n in feature.events.items()) or "–",
        )
    console.print(table, highlight=False)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay`` to ``subparsers``.

    >>> parser = argparse.ArgumentParser(prog="driftwarden")
    >>> register(parser.add_subparsers())
    >>> args = parser.parse_args(["replay", "--profile", "p.json", "a.jsonl", "--batch", "100"])
    >>> args.command.__name__, args.inputs, args.batch, args.max_errors
    ('_replay', ['a.jsonl'], 100, None)
    """
    parser = subparsers.add_parser(
        "replay",
        help="run the drift detectors over files of production records, offline",
        description=(
            "Run the service's decoder and detectors over files of production records "
            "(JSON Lines, CSV, Parquet) against a training profile. Incidents go to stdout as "
            "CloudEvents JSON lines; rejected records and a per-feature summary to stderr."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files; .gz is read through")
    parser.add_argument("--profile", help="training profile (default: reference.profile)")
    parser.add_argument(
        "--config", help="service config: its detectors and input sections are used"
    )
    parser.add_argument("--format", choices=FORMATS, help="default: from each file's extension")
    parser.add_argument(
        "--features-path", metavar="PATH", help="dotted path of the features object in JSON"
    )
    add_name_list(parser, "--ignore", "fields that are not features (added to the config's)")
    parser.add_argument(
        "--batch",
        type=_positive,
        help=f"records per decoded batch (default: kafka.consume_batch, {DEFAULT_BATCH})",
    )
    parser.add_argument("--report", metavar="FILE", help="write the summary as JSON")
    parser.add_argument(
        "--html", metavar="FILE", help="write the HTML report (training vs replayed records)"
    )
    parser.add_argument(
        "--max-panels",
        type=_positive,
        default=DEFAULT_MAX_PANELS,
        metavar="N",
        help=f"--html: detailed panels for the N most severe features (default "
        f"{DEFAULT_MAX_PANELS}); every feature stays in the overview",
    )
    parser.add_argument(
        "--detector-events",
        action="store_true",
        help="write the detector-level events too, not only incidents (alerts.detector_events)",
    )
    parser.add_argument(
        "--max-errors",
        type=_non_negative,
        help="stop (status 2) past N rejected records (default: no limit)",
    )
    parser.set_defaults(command=_replay)


def run(argv: Sequence[str]) -> int:
    """Run ``driftwarden replay`` with ``argv`` (the arguments after ``replay``).

    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     status = run(["--profile", "no/such/profile.json", "prod.jsonl"])
    >>> status, err.getvalue()
    (2, 'driftwarden: error: no/such/profile.json: no such file\\n')
    """
    parser = argparse.ArgumentParser(prog="driftwarden")
    register(parser.add_subparsers())
    try:
        args = parser.parse_args(["replay", *argv])
    except SystemExit as stop:
        return int(stop.code or 0)
    return int(args.command(args))
