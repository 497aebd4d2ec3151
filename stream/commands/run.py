"""``driftwarden run``: the drift service."""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import Any, Literal

import structlog

from driftwarden.stream.commands.config_cmd import add_overrides
from driftwarden.stream.config import ConfigError, ServiceConfig, load_config
from driftwarden.stream.ops.logs import configure_logging
from driftwarden.stream.ops.shutdown import STOP_REQUESTED

__all__ = ["register", "run_service"]

log = structlog.get_logger(__name__)


def register(subparsers: Any) -> None:
    """Add ``run`` to the CLI."""
    parser = subparsers.add_parser(
        "run",
        help="consume feature records, detect drift, publish alerts",
        description="Run the drift service: consume the configured input topics, run every "
        "detector, publish CloudEvents to the alerts topic and bad records to the DLQ. "
        "Both stages run in this process unless --stage picks one: split (input records → "
        "per-feature column chunks, group <group_id>.split) or detect (chunks → each "
        "feature's detectors → alerts, group <group_id>.detect). "
        "SIGTERM/SIGINT checkpoint and exit 0; SIGHUP reloads thresholds.",
    )
    parser.add_argument("--config", required=True, type=Path, help="service config (YAML)")
    parser.add_argument(
        "--stage",
        choices=("both", "split", "detect"),
        default="both",
        help="which stage this process runs (default: both); run several processes of a "
        "stage to scale it (docs/operations.md#sizing)",
    )
    add_overrides(parser, "kafka.group_id=test")
    # A stop asked for while the service starts is honoured (driftwarden.stream.ops.shutdown).
    parser.set_defaults(command=run_service, takes_stop_signals=True)


def run_service(args: argparse.Namespace) -> int:
    """Entry point of ``driftwarden run``; returns the exit status."""
    path: Path = args.config
    overrides: list[str] = args.overrides

    def reload() -> ServiceConfig:
        return load_config(path, overrides)

    try:
        config = reload()
    except ConfigError as exc:
        print(f"driftwarden run: {exc}", file=sys.stderr)
        return 2
    # Imported here so that `driftwarden --help` does not load numba and librdkafka.
    from confluent_kafka import KafkaException

    from driftwarden.stream.ops.health_server import PortInUse
    from driftwarden.stream.service.checkpointer import CommitFailed
    from driftwarden.stream.service.drift_service import DriftService
    from driftwarden.stream.service.topics import TopicsMissing

    configure_logging(config.service.log_format, config.service.log_level)
    log.info("config_loaded", file=str(path), config=config.redacted())
    stages: tuple[Literal["split", "detect"], ...] = (
        ("split", "detect") if args.stage == "both" else (args.stage,)
    )
    service = DriftService(
        config,
        config.reference_profile(),
        config_loader=reload,
        stop_requested=STOP_REQUESTED,
        stages=stages,
    )
    service.install_signal_handlers()
    # Everything imported so far (numba, scipy, pydantic) lives for the whole run: keep the
    # collector from walking it again and again (measured: +16 % records per CPU-second).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    try:
        service.run()
    except TopicsMissing as exc:
        log.error("topics_missing", error=str(exc))
        return 2
    except PortInUse as exc:
        message = (
            f"service.metrics.port {exc.port} on {exc.host} is already in use "
            "(set service.metrics.port, or 0 for a free port)"
        )
        log.error("metrics_port_in_use", host=exc.host, port=exc.port, error=message)
        print(f"driftwarden run: {message}", file=sys.stderr)
        return 2
    except (KafkaException, CommitFailed) as exc:
        log.error("kafka_fatal", error=str(exc))
        return 1
    return 0
