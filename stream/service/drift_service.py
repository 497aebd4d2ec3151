"""The drift service: input topics → split → columns topic → detect → CloudEvents alerts.

One record travels one way: stage one (``split``, one task per input partition) decodes it
into per-feature column chunks on the columns topic, keyed by feature, and sends a bad record
to the DLQ; stage two (``detect``, one task per columns partition) runs each feature's chunks,
from every input partition, through that feature's one ``DetectorBank`` and publishes
incidents on the alerts topic. Each stage is a ``StageService`` on its own consumer group with
its own checkpoints. ``DriftService`` runs both in one process (the default) or one of them
(``--stage``), each in its own thread; this thread handles signals and reloads.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

import structlog

from driftwarden.detectors.profile import Profile
from driftwarden.detectors.warm_up import compile_kernels
from driftwarden.stream.config import ServiceConfig
from driftwarden.stream.ops.health_server import HealthServer, ProbeSet
from driftwarden.stream.ops.metrics import ServiceMetrics
from driftwarden.stream.service.broker_watch import BrokerWatch
from driftwarden.stream.service.dead_letters import KAFKA_DEFAULT_LIMIT
from driftwarden.stream.service.detect_stage import DetectStage
from driftwarden.stream.service.instance import InstanceIdentity, claim_identity
from driftwarden.stream.service.service_stats import ServiceStats
from driftwarden.stream.service.split_stage import SplitStage
from driftwarden.stream.service.stage import StageName
from driftwarden.stream.service.stage_service import StageService
from driftwarden.stream.service.topics import dlq_record_limit, ensure_topics

__all__ = ["STAGES", "DriftService", "ServiceStats"]

log = structlog.get_logger(__name__)

STAGES: tuple[StageName, ...] = ("split", "detect")
_CONTROL_TICK_S = 0.2


class DriftService:
    """Runs ``stages`` until ``stop()`` (or SIGTERM/SIGINT); SIGHUP reloads thresholds.

    ``config_loader`` re-reads the config for a reload; detectors keep their state and the
    new thresholds apply from the next batch. ``stop_requested`` lets a caller that installed
    signal handlers before the (slow) start-up hand over a stop asked for meanwhile.
    """

    def __init__(
        self,
        config: ServiceConfig,
        profile: Profile | None = None,
        config_loader: Callable[[], ServiceConfig] | None = None,
        verify_topics: bool = True,
        stop_requested: threading.Event | None = None,
        stages: Sequence[StageName] = STAGES,
    ) -> None:
        unknown = set(stages) - set(STAGES)
        if not stages or unknown:
            raise ValueError(f"stages must be some of {STAGES}, got {list(stages)}")
        self.config = config
        self.profile = profile
        self.config_loader = config_loader
        self.verify_topics = verify_topics
        self.stage_names = [name for name in STAGES if name in stages]
        # The monitored stream is the context of every event (CloudEvents ``source``).
        self.source = "/driftwarden/" + ",".join(sorted(config.kafka.input_topics))
        self.stats = ServiceStats()
        self.metrics = ServiceMetrics(topics=config.kafka.input_topics)
        self.stages: dict[StageName, StageService] = {}
        self.watch = BrokerWatch()
        self._stop = stop_requested or threading.Event()
        self._stop_signal: int | None = None
        self._reload = threading.Event()

    @property
    def assigned(self) -> bool:
        """Every stage this process runs has partitions."""
        return bool(self.stages) and all(s.assigned for s in self.stages.values())

    @property
    def caught_up(self) -> bool:
        """In one process running both stages: detect has run every chunk split produced."""
        return self.stats.chunks_in >= self.stats.chunks_out

    # -- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask every stage to finish its batch, checkpoint and exit."""
        self._stop.set()

    def request_reload(self) -> None:
        """Ask for the config to be read again and applied before the stages' next batch."""
        self._reload.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop cleanly; SIGHUP reloads thresholds.

        The handlers only set flags: a handler runs between two bytecodes, which may be
        inside the logger holding its lock, so a handler that logged could deadlock (it did:
        a SIGTERM during a log line hung the service). The control loop logs the signal.
        """

        def on_stop(signum: int, _frame: FrameType | None) -> None:
            self._stop_signal = signum
            self.stop()

        def on_hup(_signum: int, _frame: FrameType | None) -> None:
            self.request_reload()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)

    # -- running ---------------------------------------------------------------------------

    def run(self) -> None:
        """Run every stage until stopped; each finishes with a checkpoint when it can. An
        error that ends one stage stops the other and is raised here."""
        if self._stop.is_set():
            log.info("service_stopped", records=0, dlq=0, before_start=True)
            return
        kafka = self.config.kafka
        limit = KAFKA_DEFAULT_LIMIT
        if self.verify_topics:
            ensure_topics(self.config)
            limit = dlq_record_limit(self.config)
        self.stages = {name: self._stage(name, limit) for name in self.stage_names}
        identity = claim_identity(kafka.group_id, kafka.instance_id)
        if "detect" in self.stages:
            # Compiled before joining the group: a fresh install's first batch would otherwise
            # stall for seconds while the group and the broker expect it to keep up.
            log.info("kernels_ready", seconds=round(compile_kernels(), 2))
        health = self._start_health_server()  # first: a port in use leaves no client open
        errors: list[BaseException] = []
        threads = [
            threading.Thread(
                target=self._serve,
                args=(service, identity, errors),
                name=f"driftwarden-{name}",
                daemon=True,
            )
            for name, service in self.stages.items()
        ]
        try:
            log.info(
                "service_started",
                stages=self.stage_names,
                topics=list(kafka.input_topics),
                group=kafka.group_id,
                instance=identity.name,
            )
            for thread in threads:
                thread.start()
            self._control(threads)
            for thread in threads:
                thread.join()
        finally:
            self._stop.set()
            if health is not None:
                health.stop()
            log.info("service_stopped", records=self.stats.records, dlq=self.stats.dlq)
        if errors:
            raise errors[0]

    def _stage(self, name: StageName, limit: int) -> StageService:
        if name == "split":
            stage: SplitStage | DetectStage = SplitStage(
                self.config, self.profile, limit, self.stats, self.metrics
            )
        else:
            stage = DetectStage(
                self.config, self.profile, self.source, limit, self.stats, self.metrics
            )
        return StageService(
            self.config, stage, self.stats, self.metrics, threading.Event(), self.watch
        )

    def _serve(
        self, service: StageService, identity: InstanceIdentity, errors: list[BaseException]
    ) -> None:
        try:
            service.serve(identity)
        except BaseException as exc:  # handed to run(), which raises it
            log.error("stage_failed", stage=service.stage.name, error=str(exc))
            errors.append(exc)
            self._stop.set()

    def _control(self, threads: list[threading.Thread]) -> None:
        """Wait for a stop, meanwhile applying reloads (this thread is the one signals reach);
        then stop the stages in order."""
        while not self._stop.wait(_CONTROL_TICK_S):
            if self._reload.is_set():
                self._reload.clear()
                self._apply_reload()
            if not all(thread.is_alive() for thread in threads):
                self._stop.set()
        if self._stop_signal is not None:
            log.info("signal_received", signal=signal.Signals(self._stop_signal).name)
        split, detect = self.stages.get("split"), self.stages.get("detect")
        if split is not None and detect is not None:
            # Split first; detect then runs what split produced before its last checkpoint,
            # so a stop leaves both stages' state at the same records (a restart is exact
            # either way: detect resumes from its own offsets on the columns topic).
            split.stop.set()
            threads[0].join()
            deadline = time.monotonic() + self.config.checkpoint.timeout_s
            while not self.caught_up and threads[1].is_alive() and time.monotonic() < deadline:
                time.sleep(_CONTROL_TICK_S / 4)
        for service in self.stages.values():
            service.stop.set()

    def _apply_reload(self) -> None:
        if self.config_loader is None:
            return
        try:
            new = self.config_loader()
        except Exception as exc:  # a bad reload must never stop the service
            log.error("reload_failed", error=str(exc))
            self.metrics.observe_reload(False)
            return
        changes = self.config.diff(new)
        for service in self.stages.values():
            service.request_reload(new)
        self.config = new
        self.metrics.observe_reload(True)
        log.info("config_reloaded", changes=[list(c) for c in changes])

    def _start_health_server(self) -> HealthServer | None:
        settings = self.config.service.metrics
        if not settings.enabled:
            return None
        probes = ProbeSet({name: service.probes for name, service in self.stages.items()})
        server = HealthServer(self.metrics, probes, host=settings.host, port=settings.port)
        server.start()
        log.info("metrics_server_started", host=settings.host, port=server.port)
        return server
