"""Whether the cluster is reachable: one ``broker_unreachable`` / ``broker_recovered`` pair of
log events per outage, instead of a line per failed connection.

librdkafka reports "all brokers down" through a client's ``error_cb`` and says nothing when
they come back. Only the consumer's report opens an outage: it fetches all the time, so its
connections are never idle, whereas a producer's idle connection that the broker closed
reads as "all brokers down" too. The outage ends at the first of the consumer's statistics
served after that report that shows a broker in state ``UP``: the consumer's errors and
statistics reach the loop through one queue, in the order librdkafka produced them, so such
a report was taken after the outage began. (Comparing clocks instead fails: the loop may
serve the down report long after it happened, while it waits in a checkpoint.)
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
    """Tracks reachability from client callbacks (they run in the loop's thread).

    ``on_error`` is the consumer's ``error_cb``, ``on_producer_error`` the producer's (and
    any short-lived client's);
    ``on_stats`` takes the consumer's statistics (a parsed ``stats_cb`` document).

    >>> from structlog.testing import capture_logs
    >>> now = [100.0]
    >>> watch = BrokerWatch(clock=lambda: now[0])
    >>> down = KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")
    >>> broker = lambda state: {"brokers": {"b:9092/1": {"nodeid": 1, "state": state}}}
    >>> with capture_logs() as logs:
    ...     watch.on_stats(broker("UP"))  # no outage: nothing to end
    ...     watch.on_producer_error(down)  # an idle producer connection: not an outage
    ...     watch.on_error(down)
    ...     watch.on_error(down)  # reported again: still the same outage
    ...     now[0] += 30
    ...     watch.on_stats(broker("CONNECT"))  # still away
    ...     watch.on_stats(broker("UP"))  # back
    >>> [(line["event"], line.get("down_s")) for line in logs]
    [('broker_unreachable', None), ('broker_recovered', 30.0)]
    >>> watch.reachable, watch.outages
    (True, 1)

    Two consumers (the service's two stages) share one watch: the outage the detect stage's
    consumer opened ends only with that consumer's statistics, not with the split stage's,
    which may have been taken before the outage began.

    >>> with capture_logs() as logs:
    ...     watch.on_error(down, consumer="detect")
    ...     watch.on_error(down, consumer="split")  # the same outage
    ...     watch.on_stats(broker("UP"), consumer="split")  # older news: ignored
    ...     unreachable = watch.reachable
    ...     watch.on_stats(broker("UP"), consumer="detect")
    >>> unreachable, watch.reachable, [line["event"] for line in logs]
    (False, True, ['broker_unreachable', 'broker_recovered'])
    """

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._opener = ""  # the consumer whose report opened the outage
        self.outages = 0

    @property
    def reachable(self) -> bool:
        """False from the consumer's "all brokers down" until a broker reconnects."""
        return self._down_since is None

    def on_error(self, error: KafkaError, consumer: str = "") -> None:
        """A consumer's ``error_cb``: opens an outage, logs other client-level errors.

        Several consumers (one per stage) may report to one watch, each under its own
        ``consumer`` name: the first to report an outage opens it, and only its own
        statistics end it (the order argument holds within one consumer's queue).
        """
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            with self._lock:
                if self._down_since is not None:
                    return
                self._down_since = self._clock()
                self._opener = consumer
                self.outages += 1
            log.warning("broker_unreachable", error=error.str())
        else:
            self._log_error(error)

    def on_producer_error(self, error: KafkaError) -> None:
        """The producer's ``error_cb``: its "all brokers down" may be an idle connection the
        broker closed, so it opens no outage (its undelivered messages say the rest)."""
        if error.code() != KafkaError._ALL_BROKERS_DOWN:
            self._log_error(error)

    def on_stats(self, stats: dict[str, Any], consumer: str = "") -> None:
        """A consumer's statistics: a broker (not a bootstrap placeholder) in state ``UP``
        ends an outage that consumer opened (see the module docstring for why no clock is
        compared)."""
        since = self._down_since
        if since is None or consumer != self._opener:
            return
        for broker in (stats.get("brokers") or {}).values():
            if broker.get("state") == "UP" and int(broker.get("nodeid", -1)) >= 0:
                with self._lock:
                    self._down_since = None
                log.info("broker_recovered", down_s=round(self._clock() - since, 1))
                return

    @staticmethod
    def _log_error(error: KafkaError) -> None:
        if error.fatal():
            log.error("kafka_client_fatal", code=error.name(), error=error.str())
        elif error.code() != KafkaError._TRANSPORT:  # a dropped connection: the outage says it
            log.warning("kafka_client_error", code=error.name(), error=error.str())
