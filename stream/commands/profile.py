"""``driftwarden profile build | merge | show | schema``: training-data profiles.

Exit status: 0 done; 2 an input or usage problem (missing file, unreadable format, empty
input, too many malformed rows, profiles that cannot be merged), reported in one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rich.console import Console

from driftwarden.detectors.profile import Profile
from driftwarden.stream.commands import add_schema_command
from driftwarden.stream.commands.input_pass import (
    ErrorBudget,
    TooManyBadRows,
    read_inputs,
    report_failure,
)
from driftwarden.stream.profiling.chunk_typing import ChunkTyper
from driftwarden.stream.profiling.feature_accumulators import KLL_K, KLL_RANK_ERROR
from driftwarden.stream.profiling.profile_builder import (
    ProfileBuilder,
    ProfileOptions,
    load_profile_files,
    merge_profiles,
    save_profile,
    sidecar_paths,
)
from driftwarden.stream.profiling.profile_report import (
    WarningThresholds,
    profile_report_json,
    profile_warnings,
    render_profile,
)
from driftwarden.stream.profiling.readers import DEFAULT_CHUNK_ROWS, FORMATS, InputError
from driftwarden.stream.profiling.row_hashes import row_hashes
from driftwarden.stream.sketches.bloom_filter import RowHashFilter

__all__ = ["add_name_list", "names", "profile_schema_text", "register", "run"]


def names(text: str) -> list[str]:
    """A comma-separated list of feature names.

    >>> names("a, b,,c")
    ['a', 'b', 'c']
    """
    return [name.strip() for name in text.split(",") if name.strip()]


def add_name_list(parser: argparse.ArgumentParser, flag: str, help_text: str) -> None:
    """Add an option taking comma-separated names; repeating it adds more.

    >>> parser = argparse.ArgumentParser()
    >>> add_name_list(parser, "--ignore", "leave these out")
    >>> parser.parse_args(["--ignore", "a,b", "--ignore", "c"]).ignore
    ['a', 'b', 'c']
    """
    parser.add_argument(
        flag, type=names, action="extend", default=[], metavar="A,B", help=help_text
    )


def profile_schema_text() -> str:
    """The JSON Schema of the profile document, as published in ``docs/profile.schema.json``.

    >>> json.loads(profile_schema_text())["required"]
    ['n_rows', 'features']
    """
    return json.dumps(Profile.model_json_schema(), indent=2, sort_keys=True) + "\n"


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _build(args: argparse.Namespace) -> int:
    budget = ErrorBudget(args.max_errors)
    try:
        typer = ChunkTyper(
            features=args.features or None,
            ignore=args.ignore,
            categorical=args.categorical,
            numeric=args.numeric,
        )
        builder = ProfileBuilder(ProfileOptions(bins=args.bins, max_categories=args.max_categories))
        rows = RowHashFilter(target_fpr=args.row_hash_fpr) if args.row_hashes else None
        chunks = read_inputs(args.inputs, args.format, args.features_path, args.chunk_rows)
        for chunk in chunks:
            typed = typer.type_chunk(chunk)
            budget.record(typed.bad_rows)
            builder.absorb(typed)
            if rows is not None:
                rows.add(row_hashes(typed, [*typed.numeric, *typed.categorical]))
        budget.print_summary()
        if builder.n_rows == 0:
            what = "no well-formed rows" if budget.count else "no records"
            raise InputError(f"empty input: {what} in {', '.join(args.inputs)}")
        missing = [name for name in args.features if name not in builder.features]
        if missing:
            raise InputError(f"--features names {missing[0]!r}, which is not in the input")
        profile = save_profile(args.output, builder, rows)
    except TooManyBadRows as error:
        budget.print_summary()
        return report_failure(error)
    except (InputError, ValueError, OSError) as error:
        return report_failure(error)
    sketches, rows_path = sidecar_paths(args.output)
    written = [str(sketches)] + ([str(rows_path)] if rows is not None else [])
    print(
        f"wrote {args.output}: {profile.n_rows:,} rows, {len(profile.features)} features "
        f"(sidecars: {', '.join(written)}; quantile rank error ±{KLL_RANK_ERROR:.2%} "
        f"at k={KLL_K})"
    )
    if rows is not None:
        print(f"row hashes: false-positive rate ≤ {rows.false_positive_bound():.3%}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    try:
        options = None
        if args.bins is not None or args.max_categories is not None:
            first = load_profile_files(args.profiles[0]).builder
            base = first.options if first is not None else ProfileOptions()
            options = ProfileOptions(
                bins=args.bins or base.bins,
                max_categories=args.max_categories or base.max_categories,
                kll_k=base.kll_k,
            )
        builder, rows, notes = merge_profiles(args.profiles, options)
        profile = save_profile(args.output, builder, rows)
    except (ValueError, OSError) as error:
        return report_failure(error)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {args.output}: {profile.n_rows:,} rows from {len(args.profiles)} profiles")
    return 0


def _show(args: argparse.Namespace) -> int:
    try:
        files = load_profile_files(args.profile)
    except (ValueError, OSError) as error:
        return report_failure(error)
    thresholds = WarningThresholds(
        min_samples=args.min_samples,
        min_bin_count=args.min_bin_count,
        min_category_count=args.min_category_count,
        identifier_ratio=args.identifier_ratio,
    )
    distinct = files.builder.distinct_estimates() if files.builder is not None else None
    warnings = profile_warnings(files.profile, thresholds, distinct)
    if args.json:
        print(json.dumps(profile_report_json(files.profile, warnings), indent=2))
    else:
        console = Console()
        if not console.is_terminal:  # a file or a pipe: no reason to squeeze into 80 columns
            console = Console(width=160)
        render_profile(files.profile, warnings, console)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``profile`` and its subcommands to ``subparsers``.

    >>> parser = argparse.ArgumentParser(prog="driftwarden")
    >>> register(parser.add_subparsers())
    >>> args = parser.parse_args(["profile", "show", "p.json", "--json"])
    >>> args.command.__name__, args.profile, args.min_samples
    ('_show', 'p.json', 100)
    """
    parser = subparsers.add_parser(
        "profile",
        help="build, merge and inspect profiles of training data",
        description="Profiles of training data: the reference that live traffic is compared with.",
    )

    def usage(_: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(command=usage)
    commands = parser.add_subparsers(title="commands", metavar="{build,merge,show,schema}")
    _register_build(commands)

    merge = commands.add_parser(
        "merge",
        help="merge profiles of disjoint parts of a data set",
        description="Merge profiles built on disjoint data (needs their .sketches sidecars).",
    )
    merge.add_argument("profiles", nargs="+", metavar="PROFILE")
    merge.add_argument("-o", "--output", required=True, help="merged profile to write")
    merge.add_argument("--bins", type=_positive, help="quantile bins (default: the first's)")
    merge.add_argument("--max-categories", type=_positive, help="default: the first's")
    merge.set_defaults(command=_merge)

    show = commands.add_parser(
        "show",
        help="print a profile as a table, with not-enough-data warnings",
        description="Per-feature table of a profile and its 'not enough data' warnings.",
    )
    show.add_argument("profile", metavar="PROFILE")
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show.add_argument("--min-samples", type=_non_negative, default=100, help="default: 100")
    show.add_argument("--min-bin-count", type=_non_negative, default=10, help="default: 10")
    show.add_argument("--min-category-count", type=_non_negative, default=10, help="default: 10")
    show.add_argument("--identifier-ratio", type=_rate, default=0.95, help="default: 0.95")
    show.set_defaults(command=_show)

    add_schema_command(commands, "the profile document", profile_schema_text)


def _register_build(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    build = commands.add_parser(
        "build",
        help="profile training data (CSV, JSON Lines, Parquet) in one streaming pass",
        description=(
            "Profile training data in one streaming pass with bounded memory. Writes the "
            "profile and, beside it, OUTPUT.sketches (mergeable sketches) and, with "
            "--row-hashes, OUTPUT.rowhashes."
        ),
    )
    build.add_argument("inputs", nargs="+", metavar="INPUT", help="files; .gz is read through")
    build.add_argument("-o", "--output", required=True, help="profile JSON to write")
    build.add_argument("--format", choices=FORMATS, help="default: from each file's extension")
    add_name_list(build, "--features", "profile only these features")
    add_name_list(build, "--categorical", "treat these features as categorical")
    add_name_list(build, "--numeric", "treat these features as numeric")
    add_name_list(build, "--ignore", "leave these features out")
    build.add_argument("--bins", type=_positive, default=20, help="quantile bins (default: 20)")
    build.add_argument(
        "--max-categories", type=_positive, default=200, help="categories listed (default: 200)"
    )
    build.add_argument(
        "--features-path", metavar="PATH", help="dotted path of the features object in JSON"
    )
    build.add_argument(
        "--row-hashes", action="store_true", help="write OUTPUT.rowhashes for overlap checks"
    )
    build.add_argument(
        "--row-hash-fpr", type=_rate, default=0.01, help="false-positive rate (default: 0.01)"
    )
    build.add_argument(
        "--max-errors", type=_non_negative, help="stop past N malformed rows (default: no limit)"
    )
    build.add_argument(
        "--chunk-rows", type=_positive, default=DEFAULT_CHUNK_ROWS, help=argparse.SUPPRESS
    )
    build.set_defaults(command=_build)


def run(argv: Sequence[str]) -> int:
    """Run ``driftwarden profile ...`` with ``argv`` (starting with the subcommand).

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     data, out = pathlib.Path(tmp, "t.csv"), pathlib.Path(tmp, "p.json")
    ...     _ = data.write_text("x,c\\n1,a\\n2,b\\n3,a\\n")
    ...     status = run(["build", str(data), "-o", str(out)])  # doctest: +ELLIPSIS
    ...     run(["show", str(out), "--json"])  # doctest: +ELLIPSIS
    wrote ...p.json: 3 rows, 2 features (sidecars: ...p.json.sketches; quantile rank error ...)
    {
      "format_version": 1,
      "n_rows": 3,
    ...
    0
    """
    parser = argparse.ArgumentParser(prog="driftwarden")
    register(parser.add_subparsers())
    try:
        args = parser.parse_args(["profile", *argv])
    except SystemExit as stop:
        return int(stop.code or 0)
    return int(args.command(args))
