"""``driftwarden config validate | show | schema``: check and inspect the service configuration.

Exit status: 0 done; 2 the configuration cannot be used, one line per problem on stderr
(``<source>: <key.path>: <what was wrong>``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import yaml

from driftwarden.stream.commands import add_schema_command
from driftwarden.stream.config import ConfigError, ServiceConfig, load_config

__all__ = ["add_overrides", "config_schema_text", "register", "run", "summary_line"]


def config_schema_text() -> str:
    """The JSON Schema of ``ServiceConfig``, as published in ``docs/config.schema.json``.

    >>> import json
    >>> json.loads(config_schema_text())["required"]
    ['kafka']
    """
    return json.dumps(ServiceConfig.model_json_schema(), indent=2, sort_keys=True) + "\n"


def summary_line(config: ServiceConfig, file: str) -> str:
    """One line saying what a valid config will do: topics, profile, overridden features.

    >>> config = ServiceConfig(kafka={"bootstrap_servers": "b:1", "input_topics": ["f"]})
    >>> summary_line(config, "c.yaml")  # doctest: +NORMALIZE_WHITESPACE
    'c.yaml: valid; reads f from b:1, alerts to driftwarden.alerts, bad records to
    driftwarden.dlq, state to driftwarden.state; no profile (references learned from live
    data); no per-feature overrides'
    """
    kafka = config.kafka
    profile = config.reference_profile()
    reference = (
        f"profile {config.reference.profile} ({len(profile.features)} features)"
        if profile is not None
        else "no profile (references learned from live data)"
    )
    names = sorted(config.detectors.features)
    overrides = (
        f"{len(names)} features overridden ({', '.join(names)})"
        if names
        else "no per-feature overrides"
    )
    return (
        f"{file}: valid; reads {', '.join(kafka.input_topics)} from {kafka.bootstrap_servers}, "
        f"alerts to {kafka.alerts_topic}, bad records to {kafka.dlq_topic}, state to "
        f"{kafka.state_topic}; {reference}; {overrides}"
    )


def _load(args: argparse.Namespace) -> ServiceConfig | None:
    try:
        return load_config(args.file, args.overrides)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return None


def _validate(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 2
    print(summary_line(config, args.file))
    return 0


def _show(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 2
    sys.stdout.write(yaml.safe_dump(config.redacted(), sort_keys=False, allow_unicode=True))
    return 0


def add_overrides(parser: argparse.ArgumentParser, example: str) -> None:
    """The ``--set KEY.PATH=VALUE`` option of every command that reads a config."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help=f"override one config key (value read as YAML), e.g. {example}; repeatable",
    )


def _add_file_and_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the YAML config file")
    add_overrides(parser, "kafka.input_topics=[a,b]")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``config`` and its subcommands to ``subparsers``."""
    parser = subparsers.add_parser(
        "config",
        help="validate and inspect the service configuration",
        description="Check a service config file, show it with overrides applied, or print "
        "its JSON Schema. DRIFTWARDEN_* environment variables apply as they do for `run`.",
    )

    def usage(_: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(command=usage)
    commands = parser.add_subparsers(title="commands", metavar="{validate,show,schema}")

    validate = commands.add_parser(
        "validate",
        help="check a config file; print a one-line summary or every problem",
        description="Load FILE with the environment and --set overrides and check every key, "
        "the per-feature detector overrides and the reference profile.",
    )
    _add_file_and_overrides(validate)
    validate.set_defaults(command=_validate)

    show = commands.add_parser(
        "show",
        help="print the effective config as YAML, secrets redacted",
        description="The effective config (defaults, environment and --set applied) as YAML; "
        "secret client settings are shown as ***.",
    )
    _add_file_and_overrides(show)
    show.set_defaults(command=_show)

    add_schema_command(commands, "the config file", config_schema_text)


def run(argv: Sequence[str]) -> int:
    """Run ``driftwarden config ...`` with ``argv`` (starting with the subcommand).

    >>> run(["schema", "--output", "/dev/null"])
    0
    """
    parser = argparse.ArgumentParser(prog="driftwarden")
    register(parser.add_subparsers())
    try:
        args = parser.parse_args(["config", *argv])
    except SystemExit as stop:
        return int(stop.code or 0)
    return int(args.command(args))
