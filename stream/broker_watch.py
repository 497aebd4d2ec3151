"""Whether the cluster is reachable: one ``broker_unreachable`` / ``broker_recovered`` pair of
log events per outage, instead of a line per failed connection.

librdkafka reports "all brokers down" through each client's ``error_cb``; it says nothing
when they come back. So the outage ends at the first sign of a live broker: a broker in
state ``UP`` in the client statistics, a delivered message, or a consumed record, whichever
the service sees first.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog
from confluent_kafka import KafkaError

__all__ = ["BrokerWatch"]

log = structlog.get_logger(__name__)


class BrokerWatch:
    """Tracks reachability from client callbacks (any thread) and the service loop.

    >>> from structlog.testing import capture_logs
    >>> watch = BrokerWatch()
    >>> down = KafkaError(KafkaError._ALL_BROKERS_DOWN, "3/3 brokers are down")
    >>> with capture_logs() as logs:
    ...     watch.on_error(down)
    ...     watch.on_error(down)  # the consumer and the producer both report it: one event
    ...     watch.on_stats({"brokers": {"b:9092/1": {"nodeid": 1, "state": "UP"}}})
    >>> [(line["event"], line["log_level"]) for line in logs]
    [('broker_unreachable', 'warning'), ('broker_recovered', 'info')]
    >>> watch.reachable, watch.outages
    (True, 1)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self.outages = 0

    @property
    def reachable(self) -> bool:
        """False from an "all brokers down" report until a broker is seen again."""
        return self._down_since is None

    def on_error(self, error: KafkaError) -> None:
        """A client's ``error_cb``: notes outages, logs other client-level errors."""
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            with self._lock:
                if self._down_since is not None:
                    return
                self._down_since = time.monotonic()
                self.outages += 1
            log.warning("broker_unreachable", error=error.str())
        elif error.fatal():
            log.error("kafka_client_fatal", code=error.name(), error=error.str())
        elif error.code() != KafkaError._TRANSPORT:  # a dropped connection: the outage says it
            log.warning("kafka_client_error", code=error.name(), error=error.str())

    def on_stats(self, stats: dict[str, Any]) -> None:
        """Client statistics: a broker (not the bootstrap placeholder) in state ``UP``."""
        if self._down_since is None:
            return
        for broker in (stats.get("brokers") or {}).values():
            if broker.get("state") == "UP" and int(broker.get("nodeid", -1)) >= 0:
                self.seen_alive()
                return

    def seen_alive(self) -> None:
        """The service heard from the cluster (a delivery, a record): an outage is over."""
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log.info("broker_recovered", down_s=round(time.monotonic() - since, 1))
