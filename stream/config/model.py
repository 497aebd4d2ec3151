"""The configuration as pydantic models: one section per concern, ``ServiceConfig`` the whole
file. The models are the schema (``driftwarden config schema``); docs/config.md is the manual
of every key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
)

from driftwarden.detectors.profile import Profile
from driftwarden.detectors.settings import DetectorSettings
from driftwarden.stream.config.client_settings import (
    RESERVED_CLIENT_SETTINGS,
    ClientSetting,
    is_secret_setting,
    librdkafka_setting_problem,
)

__all__ = [
    "ENV_PREFIX",
    "REDACTED",
    "CheckpointSection",
    "InputSection",
    "KafkaSection",
    "MetricsSection",
    "ReferenceSection",
    "ServiceConfig",
    "ServiceSection",
]

ENV_PREFIX = "DRIFTWARDEN_"
REDACTED = "***"
Topic = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,249}$")]
DotPath = Annotated[str, StringConstraints(pattern=r"^[^.]+(\.[^.]+)*$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class KafkaSection(_Section):
    """Where records come from and where events, bad records and checkpoints go."""

    bootstrap_servers: str = Field(min_length=1, description="host:port[,host:port...]")
    input_topics: list[Topic] = Field(min_length=1, description="topics of feature records")
    group_id: str = Field(default="driftwarden", min_length=1, description="consumer group")
    alerts_topic: Topic = Field(default="driftwarden.alerts", description="CloudEvents out")
    dlq_topic: Topic = Field(default="driftwarden.dlq", description="records that failed")
    state_topic: Topic = Field(default="driftwarden.state", description="compacted snapshots")
    columns_topic: Topic = Field(
        default="driftwarden.columns",
        description="internal: per-feature column chunks from stage one (split) to stage two "
        "(detect), keyed by feature",
    )
    columns_partitions: int = Field(
        default=12,
        ge=1,
        description="partitions of the columns topic when the service creates it: how many "
        "detect processes can share the work",
    )
    create_topics: bool = Field(default=False, description="create missing topics at start")
    topic_partitions: int = Field(default=1, ge=1, description="partitions of created topics")
    topic_replication: int = Field(default=1, ge=1, description="replication of created topics")
    exactly_once: bool = Field(
        default=False, description="alerts, snapshot and offsets in one transaction"
    )
    instance_id: str | None = Field(
        default=None,
        min_length=1,
        pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description="this instance's static group member id and transactional id suffix; "
        "default <hostname>-<slot>",
    )
    consume_batch: int = Field(default=10_000, ge=1, le=1_000_000, description="records/consume")
    consume_timeout_s: float = Field(default=0.5, gt=0.0, description="consume() timeout")
    client: dict[ClientSetting, str | int | float | bool] = Field(
        default_factory=dict,
        description="librdkafka settings passed through (security.protocol, sasl.*, ssl.*)",
    )

    @field_validator("client", mode="before")
    @classmethod
    def _check_client(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        wrong = [
            f"'{key}' cannot be set here: {RESERVED_CLIENT_SETTINGS[key]}"
            for key in value
            if key in RESERVED_CLIENT_SETTINGS
        ] + [
            f"'{key}' must be a string, number or boolean (a librdkafka setting), "
            f"got {'nothing' if item is None else 'a ' + type(item).__name__}"
            for key, item in value.items()
            if not isinstance(item, str | int | float | bool)
        ]
        if wrong:
            raise ValueError("; ".join(wrong))
        return value


class ReferenceSection(_Section):
    """What training looked like; without a profile, detectors learn it from live data."""

    profile: Path | None = Field(
        default=None, description="profile JSON, relative to the config file's folder"
    )


class InputSection(_Section):
    """How a JSON record is turned into features."""

    features_path: DotPath | None = Field(
        default=None, description="dot path to the object holding the features"
    )
    ignore: list[str] = Field(default_factory=list, description="fields that are not features")
    event_time_field: DotPath | None = Field(default=None, description="dot path of event time")
    max_message_bytes: int = Field(default=1_048_576, ge=1, description="larger go to the DLQ")
    on_wrong_type: Literal["dlq", "null"] = Field(
        default="dlq", description="unusable value type: send the record to the DLQ, or null"
    )
    decoder: Literal["auto", "msgspec"] = Field(
        default="auto",
        description="auto: the compiled scanner, msgspec for records it refuses; "
        "msgspec: never the scanner (same results)",
    )

    @field_validator("on_wrong_type", mode="before")
    @classmethod
    def _yaml_null_is_null(cls, value: Any) -> Any:
        return "null" if value is None else value  # an unquoted YAML `null` means the mode


class CheckpointSection(_Section):
    """How often detector state and offsets are saved (whichever comes first)."""

    every_records: int = Field(default=100_000, ge=1, description="records between checkpoints")
    every_seconds: float = Field(default=10.0, gt=0.0, description="seconds between checkpoints")
    timeout_s: float = Field(
        default=10.0, gt=0.0, description="longest wait for the broker's confirmations"
    )
    stall_after_s: float = Field(
        default=30.0, gt=0.0, description="held back this long, a partition is stalled"
    )


class MetricsSection(_Section):
    """The Prometheus endpoint (also serves /healthz and /readyz)."""

    enabled: bool = True
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=9464, ge=0, le=65535, description="0 picks a free port")


class ServiceSection(_Section):
    """Logging, progress lines, readiness and metrics."""

    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: console on a TTY, JSON lines otherwise"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    progress_every_s: float = Field(default=5.0, gt=0.0, description="seconds between progress")
    ready_max_lag: int = Field(default=10_000, ge=0, description="lag under which /readyz is ok")
    liveness_timeout_s: float = Field(
        default=120.0,
        gt=0.0,
        description="/healthz fails when the loop has not turned for this long",
    )
    metrics: MetricsSection = Field(default_factory=MetricsSection)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class AlertsSection(_Section):
    """What goes on the alerts topic."""

    detector_events: bool = Field(
        default=False,
        description="publish the detector-level events (drift.detected, category.novel, ...) "
        "beside the incidents; they are always in each incident's evidence",
    )


class ServiceConfig(_Section):
    """The whole service configuration (see docs/config.md).

    >>> config = ServiceConfig.model_validate({"kafka": {
    ...     "bootstrap_servers": "broker:9092", "input_topics": ["features"],
    ...     "client": {"security.protocol": "SASL_SSL", "sasl.password": "hunter2"}}})
    >>> config.redacted()["kafka"]["client"]
    {'security.protocol': 'SASL_SSL', 'sasl.password': '***'}
    >>> config.librdkafka(**{"group.id": "g"})["bootstrap.servers"]
    'broker:9092'
    """

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        json_schema_extra={"description": "The driftwarden service configuration file."},
    )

    kafka: KafkaSection
    reference: ReferenceSection = Field(default_factory=ReferenceSection)
    input: InputSection = Field(default_factory=InputSection)
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection)
    service: ServiceSection = Field(default_factory=ServiceSection)
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    detectors: DetectorSettings = Field(default_factory=DetectorSettings)
    _profile: Profile | None = PrivateAttr(default=None)

    def redacted(self) -> dict[str, Any]:
        """The config as plain JSON-able data; each secret or unknown client setting is ``***``."""
        data = self.model_dump(mode="json", by_alias=True)
        client = data["kafka"]["client"]
        for key in client:
            # An unknown key may be a misspelt secret (``sasl.passwd``): never shown either.
            if is_secret_setting(key) or librdkafka_setting_problem(key) is not None:
                client[key] = REDACTED
        return data

    def diff(self, other: ServiceConfig) -> list[tuple[str, Any, Any]]:
        """``(key.path, old, new)`` for each value that differs in ``other``; secrets redacted.

        A key absent on one side counts as ``None`` there.

        >>> old = ServiceConfig(kafka={"bootstrap_servers": "b:1", "input_topics": ["f"]})
        >>> new = old.model_copy(deep=True)
        >>> new.detectors.numeric.adwin.delta = 1e-6
        >>> old.diff(new)
        [('detectors.numeric.adwin.delta', 1e-05, 1e-06)]
        """
        old_values = _leaves(self.model_dump(mode="json", by_alias=True))
        new_values = _leaves(other.model_dump(mode="json", by_alias=True))
        old_shown, new_shown = _leaves(self.redacted()), _leaves(other.redacted())
        return [
            (key, old_shown.get(key), new_shown.get(key))
            for key in sorted(old_values.keys() | new_values.keys())
            if old_values.get(key) != new_values.get(key)
        ]

    def librdkafka(self, **extra: Any) -> dict[str, Any]:
        """librdkafka settings: bootstrap servers, then ``kafka.client``, then ``extra`` (wins)."""
        return {"bootstrap.servers": self.kafka.bootstrap_servers, **self.kafka.client, **extra}

    def reference_profile(self) -> Profile | None:
        """The profile named by ``reference.profile`` (read once by ``load_config``)."""
        if self._profile is None and self.reference.profile is not None:
            self._profile = Profile.model_validate_json(self.reference.profile.read_bytes())
        return self._profile


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        leaves.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return leaves
