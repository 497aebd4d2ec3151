"""Subcommands of the ``driftwarden`` command line.

Each module exposes ``register(subparsers)``, which adds its parser and sets
``command=<callable(args) -> int>``, and ``run(argv) -> int`` to run it alone.
``register_all`` registers every subcommand of this package.
"""

from __future__ import annotations

import argparse

__all__ = ["register_all"]


def register_all(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register every subcommand of this package on ``subparsers``.

    >>> parser = argparse.ArgumentParser(prog="driftwarden")
    >>> register_all(parser.add_subparsers())
    >>> parser.parse_args(["profile", "schema"]).command.__name__
    '_schema'
    """
    import stream.commands.check_leakage as check_leakage
    import stream.commands.profile as profile

    profile.register(subparsers)
    check_leakage.register(subparsers)
