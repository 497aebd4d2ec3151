"""The ``driftwarden`` command line."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from driftwarden.stream.ops.shutdown import catch_stop_signals, release_stop_signals

__all__ = ["build_parser", "main"]


def _version() -> str:
    try:
        return version("driftwarden")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; a subcommand is registered here only once it works."""
    parser = argparse.ArgumentParser(
        prog="driftwarden",
        description=(
            "Streaming data-drift detection beside a Kafka inference pipeline: compares live "
            "feature records with a profile of the training data and publishes drift events."
        ),
    )
    parser.add_argument("--version", action="version", version=f"driftwarden {_version()}")
    parser.set_defaults(command=None)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    from driftwarden.stream.commands import (
        alerts_tail,
        config_cmd,
        demo,
        register_all,
        replay,
        report,
        run,
    )

    demo.register(subparsers)
    run.register(subparsers)
    alerts_tail.register(subparsers)
    config_cmd.register(subparsers)
    register_all(subparsers)
    replay.register(subparsers)
    report.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``driftwarden`` console script; returns the exit status."""
    catch_stop_signals()
    # The commands' imports (numba, scipy, pydantic) make few cycles: collecting during them
    # costs ~0.1 CPU-s per start for nothing.
    gc.disable()
    try:
        parser = build_parser()
    finally:
        gc.enable()
    try:
        args = parser.parse_args(argv)
    except SystemExit:  # --help, --version, a usage error
        release_stop_signals()
        raise
    if not getattr(args, "takes_stop_signals", False):
        release_stop_signals()
    if args.command is None:
        parser.print_help()
        return 0
    return int(args.command(args))


if __name__ == "__main__":
    sys.exit(main())
