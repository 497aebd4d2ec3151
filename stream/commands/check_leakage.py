"""``driftwarden check-leakage --train A --test B``: gate a training pipeline on leakage.

Exit status: 0 every check passed; 1 at least one check crossed its threshold; 2 an input
or usage problem (missing file, unreadable format, empty side, a malformed row beyond
``--max-errors``, which defaults to 0 here), reported in one line.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence

from rich.console import Console
from rich.markup import escape

from driftwarden.stream.commands.input_pass import (
    ErrorBudget,
    TooManyBadRows,
    read_inputs,
    report_failure,
)
from driftwarden.stream.commands.profile import add_name_list
from driftwarden.stream.leakage.checker import (
    LeakageChecker,
    LeakageOptions,
    LeakageReport,
    LeakageThresholds,
)
from driftwarden.stream.profiling.readers import (
    DEFAULT_CHUNK_ROWS,
    FORMATS,
    InputError,
    RecordChunk,
)

__all__ = ["register", "render_report", "run"]


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _first_rows(chunks: Iterator[RecordChunk], side: str, paths: Sequence[str]) -> RecordChunk:
    for chunk in chunks:
        if chunk.n_rows:
            return chunk
    raise InputError(f"empty input: no well-formed {side} rows in {', '.join(paths)}")


def _check(args: argparse.Namespace) -> int:
    options = LeakageOptions(
        label=args.label,
        keys=tuple(args.key),
        ignore=tuple(args.ignore),
        categorical=tuple(args.categorical),
        store=args.store,
        bloom_fpr=args.bloom_fpr,
        auc_sample=args.auc_sample,
    )
    thresholds = LeakageThresholds(
        max_duplicate_share=args.max_duplicate_share,
        identifier_ratio=args.identifier_ratio,
        min_identifier_rows=args.min_identifier_rows,
        max_auc=args.max_auc,
        max_key_overlap=args.max_key_overlap,
    )
    budget = ErrorBudget(args.max_errors)
    reading = {"fmt": args.format, "features_path": args.features_path}
    reading["chunk_rows"] = args.chunk_rows
    try:
        checker = LeakageChecker(options, thresholds)
        checker.plan(
            _first_rows(read_inputs(args.train, **reading), "training", args.train),
            _first_rows(read_inputs(args.test, **reading), "test", args.test),
        )
        for chunk in read_inputs(args.train, label="training rows", **reading):
            budget.record(checker.add_train(chunk).bad_rows)
        for chunk in read_inputs(args.test, label="test rows", **reading):
            budget.record(checker.add_test(chunk).bad_rows)
    except TooManyBadRows as error:
        budget.print_summary()
        return report_failure(error)
    except (InputError, ValueError, OSError) as error:
        return report_failure(error)
    budget.print_summary()
    report = checker.report()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        render_report(report, args.label)
    return 1 if report.failed else 0


def _verdict(failed: bool) -> str:
    return "[red]FAIL[/red]" if failed else "[green]ok  [/green]"


def _examples(items: list[str]) -> str:
    return f"; e.g. {', '.join(items)}" if items else ""


def render_report(report: LeakageReport, label: str | None, console: Console | None = None) -> None:
    """Print the report for people, one line per check (never wrapped, so it greps well).

    >>> report = LeakageReport(
    ...     train_rows=10, test_rows=4, compared=["x"], excluded={"y": "label"},
    ...     duplicates={"rows": 1, "share": 0.25, "threshold": 0.01, "examples": ["t.csv:3"]},
    ...     identifiers=[], leaky_features=[], keys=None, failed=["duplicates"],
    ... )
    >>> render_report(report, "y", Console(width=60, color_system=None))  # doctest: +ELLIPSIS
    train: 10 rows; test: 4 rows
    compared features (1): x
    not compared: y (label)
    FAIL duplicated rows: 1 of 4 test rows (25.00%) equal a ... (threshold 1.00%); e.g. t.csv:3
    ok   identifier-like training features: none
    ok   features that alone predict 'y': none
    leakage: 1 check(s) failed: duplicates
    """
    out = console or Console(soft_wrap=True)
    out.soft_wrap = True
    out.print(f"train: {report.train_rows:,} rows; test: {report.test_rows:,} rows")
    out.print(escape(f"compared features ({len(report.compared)}): {', '.join(report.compared)}"))
    if report.excluded:
        excluded = ", ".join(f"{name} ({why})" for name, why in report.excluded.items())
        out.print(escape(f"not compared: {excluded}"))
    dup = report.duplicates
    out.print(
        f"{_verdict('duplicates' in report.failed)} duplicated rows: {dup['rows']:,} of "
        f"{report.test_rows:,} test rows ({dup['share']:.2%}) equal a training row "
        f"(threshold {dup['threshold']:.2%})" + escape(_examples(dup["examples"]))
    )
    ids = ", ".join(
        f"{i['feature']} ({i['distinct_ratio']:.1%} distinct)" for i in report.identifiers
    )
    out.print(
        f"{_verdict('identifiers' in report.failed)} identifier-like training features: "
        + escape(ids or "none")
    )
    if label is not None:
        leaky = ", ".join(f"{f['feature']} (AUC {f['auc']:.4f})" for f in report.leaky_features)
        out.print(
            f"{_verdict('leaky_features' in report.failed)} features that alone predict "
            + escape(f"{label!r}: {leaky or 'none'}")
        )
    if report.keys is not None:
        keys = report.keys
        out.print(
            f"{_verdict('keys' in report.failed)} shared keys "
            + escape(f"({', '.join(keys['features'])})")
            + f": {keys['rows']:,} test rows ({keys['share']:.2%}) have a training key "
            f"(threshold {keys['threshold']:.2%})" + escape(_examples(keys["examples"]))
        )
    for note in report.notes:
        out.print(escape(f"note: {note}"))
    if report.failed:
        out.print(
            f"[red]leakage: {len(report.failed)} check(s) failed[/red]: " + ", ".join(report.failed)
        )
    else:
        out.print("[green]no leakage found[/green]")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``check-leakage`` to ``subparsers``.

    >>> parser = argparse.ArgumentParser(prog="driftwarden")
    >>> register(parser.add_subparsers())
    >>> args = parser.parse_args(["check-leakage", "--train", "a.csv", "--test", "b.csv"])
    >>> args.train, args.max_errors, args.max_duplicate_share, args.store
    (['a.csv'], 0, 0.01, 'exact')
    """
    parser = subparsers.add_parser(
        "check-leakage",
        help="check a test set against the training set for leakage",
        description=(
            "Share of test rows that repeat training rows, identifier-like features, "
            "features that alone predict the label, and keys in both sets. Exits 1 when a "
            "check crosses its threshold, 2 on bad input."
        ),
    )
    parser.add_argument("--train", nargs="+", required=True, metavar="PATH")
    parser.add_argument("--test", nargs="+", required=True, metavar="PATH")
    parser.add_argument("--format", choices=FORMATS, help="default: from each file's extension")
    parser.add_argument("--features-path", metavar="PATH", help="dotted path in JSON records")
    parser.add_argument("--label", help="label feature: enables the single-feature AUC check")
    add_name_list(parser, "--key", "key features: enables the shared-key check")
    add_name_list(parser, "--ignore", "leave these features out of every check")
    add_name_list(parser, "--categorical", "treat these features as categorical")
    parser.add_argument(
        "--max-errors", type=_count, default=0, help="stop past N malformed rows (default: 0)"
    )
    parser.add_argument(
        "--max-duplicate-share", type=_share, default=0.01, help="fail above (default: 0.01)"
    )
    parser.add_argument(
        "--identifier-ratio", type=_share, default=0.95, help="fail at or above (default: 0.95)"
    )
    parser.add_argument(
        "--min-identifier-rows", type=_count, default=100, help="judge from N values (default: 100)"
    )
    parser.add_argument(
        "--max-auc", type=_share, default=0.99, help="fail at or above (default: 0.99)"
    )
    parser.add_argument(
        "--max-key-overlap", type=_share, default=0.0, help="fail above (default: 0)"
    )
    parser.add_argument(
        "--store",
        choices=("exact", "bloom"),
        default="exact",
        help="training rows as exact 64-bit hashes (8 B/row) or a Bloom filter (~2 B/row)",
    )
    parser.add_argument("--bloom-fpr", type=_share, default=0.001, help="default: 0.001")
    parser.add_argument(
        "--auc-sample", type=_count, default=100_000, help="rows sampled for numeric AUC"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS, help=argparse.SUPPRESS
    )
    parser.set_defaults(command=_check)


def run(argv: Sequence[str]) -> int:
    """Run ``driftwarden check-leakage`` with ``argv`` (the options); returns the status.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     train, test = pathlib.Path(tmp, "train.csv"), pathlib.Path(tmp, "test.csv")
    ...     _ = train.write_text("x\\n1\\n2\\n3\\n")
    ...     _ = test.write_text("x\\n3\\n4\\n")
    ...     status = run(["--train", str(train), "--test", str(test), "--json"])
    ... # doctest: +ELLIPSIS
    {
      "train_rows": 3,
      "test_rows": 2,
    ...
    >>> status
    1
    """
    parser = argparse.ArgumentParser(prog="driftwarden")
    register(parser.add_subparsers())
    try:
        args = parser.parse_args(["check-leakage", *argv])
    except SystemExit as stop:
        return int(stop.code or 0)
    return int(args.command(args))
