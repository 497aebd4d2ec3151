"""The service configuration: one YAML file, checked by pydantic, with env and ``--set``
overrides. ``model`` holds the sections (``ServiceConfig`` is the whole file), ``loading``
reads, overrides and validates a file into one (``load_config``; every problem one line with
its key path), ``client_settings`` checks ``kafka.client`` against librdkafka and keeps
secrets out of sight. docs/config.md is the manual of every key.
"""

from __future__ import annotations

from driftwarden.stream.config.loading import ConfigError, ConfigProblem, load_config
from driftwarden.stream.config.model import (
    ENV_PREFIX,
    REDACTED,
    CheckpointSection,
    InputSection,
    KafkaSection,
    MetricsSection,
    ReferenceSection,
    ServiceConfig,
    ServiceSection,
)

__all__ = [
    "ENV_PREFIX",
    "REDACTED",
    "CheckpointSection",
    "ConfigError",
    "ConfigProblem",
    "InputSection",
    "KafkaSection",
    "MetricsSection",
    "ReferenceSection",
    "ServiceConfig",
    "ServiceSection",
    "load_config",
]
