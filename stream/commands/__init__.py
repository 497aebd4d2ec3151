"""Subcommands of the ``driftwarden`` command line.

Each module exposes ``register(subparsers)``, which adds its parser and sets
``command=<callable(args) -> int>``, and ``run(argv) -> int`` to run it alone.
``register_all`` registers every subcommand of this package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["add_schema_command", "register_all"]


def register_all(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register every subcommand of this package on ``subparsers``.

    >>> parser = argparse.ArgumentParser(prog="driftwarden")
    >>> register_all(parser.add_subparsers())
    >>> parser.parse_args(["profile", "schema"]).command.__name__
    '_write_schema'
    """
    import driftwarden.stream.commands.check_leakage as check_leakage
    import driftwarden.stream.commands.profile as profile

    profile.register(subparsers)
    check_leakage.register(subparsers)


def add_schema_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    what: str,
    schema_text: Callable[[], str],
) -> None:
    """Add ``schema [-o FILE]``: the JSON Schema of ``what``, generated from its pydantic
    model by ``schema_text``, on stdout or written to a file.

    >>> parser = argparse.ArgumentParser(prog="driftwarden")
    >>> add_schema_command(parser.add_subparsers(), "the config file", lambda: "{}\\n")
    >>> args = parser.parse_args(["schema"])
    >>> args.command(args)
    {}
    0
    """
    schema = commands.add_parser(
        "schema",
        help=f"print the JSON Schema of {what}",
        description=f"The JSON Schema of {what}, generated from its pydantic model.",
    )
    schema.add_argument("-o", "--output", help="write to this file instead of stdout")

    def _write_schema(args: argparse.Namespace) -> int:
        from driftwarden.stream.commands.input_pass import report_failure
        from driftwarden.stream.profiling.readers import InputError

        text = schema_text()
        if args.output is None:
            sys.stdout.write(text)
            return 0
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as error:
            return report_failure(InputError(f"{args.output}: cannot write ({error.strerror})"))
        return 0

    schema.set_defaults(command=_write_schema)
