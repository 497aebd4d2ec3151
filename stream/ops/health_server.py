"""The service's HTTP endpoint: ``/metrics``, ``/healthz`` and ``/readyz`` in a daemon thread.

The probes never ask Kafka anything: the service loop decides liveness and readiness and
writes them into a ``Probes`` (``beat`` once per turn, ``set_ready`` when it has decided); the
HTTP thread only reads what was written. A loop blocked in librdkafka therefore cannot block a
probe, and a loop that stops turning shows as not live.

Bound to 127.0.0.1 by default (``service.metrics.host``), so nothing is exposed beyond the
machine unless the config says so. Requests are not logged, and a client that goes away in
the middle of an answer is not an error.
"""

from __future__ import annotations

import errno
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from driftwarden.stream.ops.metrics import ServiceMetrics

__all__ = [
    "REQUEST_THREAD_NAME",
    "HealthServer",
    "PortInUse",
    "ProbeSet",
    "Probes",
    "is_ready",
    "readiness",
]

log = structlog.get_logger(__name__)

REQUEST_THREAD_NAME = "driftwarden-health-request"
"""The name of every thread that answers one connection."""
# An idle keep-alive connection (Prometheus keeps one per target) is closed after this long,
# so that no request thread outlives its client for ever.
IDLE_CONNECTION_TIMEOUT_S = 30.0


def readiness(
    assigned: bool, lag: int | None, max_lag: int, broker_reachable: bool = True
) -> tuple[bool, str]:
    """The readiness rule, with the reason: ``(ready, why)``, for ``Probes.set_ready``.

    Ready means the broker is reachable, partitions are assigned and the total lag over them
    is known and at most ``max_lag`` (``service.ready_max_lag``); ``lag`` is ``None`` while
    unknown. The reason names the first condition that fails, or the lag when ready.

    >>> readiness(True, 120, 10_000)
    (True, 'lag 120 <= 10000')
    >>> readiness(True, 52_000, 10_000)
    (False, 'lag 52000 > 10000')
    >>> readiness(False, None, 10_000)
    (False, 'no partitions assigned')
    >>> readiness(True, None, 10_000)
    (False, 'lag unknown')
    >>> readiness(True, 0, 10_000, broker_reachable=False)
    (False, 'broker unreachable')
    """
    if not broker_reachable:
        return False, "broker unreachable"
    if not assigned:
        return False, "no partitions assigned"
    if lag is None:
        return False, "lag unknown"
    if lag > max_lag:
        return False, f"lag {lag} > {max_lag}"
    return True, f"lag {lag} <= {max_lag}"


def is_ready(assigned: bool, lag: int | None, max_lag: int) -> bool:
    """``readiness`` without the reason: assigned, and the lag known and ≤ ``max_lag``.

    >>> is_ready(True, 120, 10_000), is_ready(True, None, 10_000), is_ready(False, 0, 10_000)
    (True, False, False)
    """
    return readiness(assigned, lag, max_lag)[0]


class Probes:
    """Liveness and readiness as the service loop last decided them; safe to share with threads.

    - ``beat(now)``: the loop calls it once per turn. The service is *live* while the last
      beat (or the creation of the ``Probes``) is at most ``liveness_timeout_s`` old
      (``service.liveness_timeout_s``), which must exceed the longest call the loop blocks in.
    - ``set_ready(ready, reason)``: the loop's verdict (see ``readiness``); not ready, with
      the reason ``"starting"``, until the first call.
    - ``live()`` / ``ready()``: ``(ok, why)``, read by the HTTP thread; they never block on the
      loop (one short lock, held only to copy two values).

    ``clock`` is the time source of ``beat()`` without an argument and of ``live()``
    (``time.monotonic``; the loop's ``now`` must come from the same clock).

    >>> now = [1000.0]
    >>> probes = Probes(liveness_timeout_s=120, clock=lambda: now[0])
    >>> probes.live(), probes.ready()
    ((True, 'loop last turned 0 s ago'), (False, 'starting'))
    >>> probes.set_ready(False, "lag 52000 > 10000")
    >>> now[0] += 131
    >>> probes.live(), probes.ready()
    ((False, 'loop last turned 131 s ago (limit 120 s)'), (False, 'lag 52000 > 10000'))
    >>> probes.beat(now[0])
    >>> probes.live()
    (True, 'loop last turned 0 s ago')
    """

    def __init__(
        self, liveness_timeout_s: float = 120.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if liveness_timeout_s <= 0:
            raise ValueError(f"liveness_timeout_s must be > 0 seconds, got {liveness_timeout_s}")
        self.liveness_timeout_s = liveness_timeout_s
        self.clock = clock
        self._lock = threading.Lock()
        self._last_beat = clock()
        self._ready = False
        self._reason = "starting"

    def beat(self, now: float | None = None) -> None:
        """The loop turned at ``now`` (``clock()`` when not given)."""
        at = self.clock() if now is None else now
        with self._lock:
            self._last_beat = at

    def set_ready(self, ready: bool, reason: str = "") -> None:
        """Record the loop's readiness verdict; ``reason`` is shown by ``/readyz``."""
        with self._lock:
            self._ready, self._reason = bool(ready), reason

    def live(self) -> tuple[bool, str]:
        """``(live, why)``: whether the loop turned within ``liveness_timeout_s``."""
        with self._lock:
            last = self._last_beat
        age = max(self.clock() - last, 0.0)
        if age <= self.liveness_timeout_s:
            return True, f"loop last turned {age:.0f} s ago"
        return False, f"loop last turned {age:.0f} s ago (limit {self.liveness_timeout_s:g} s)"

    def ready(self) -> tuple[bool, str]:
        """``(ready, why)`` as last set by the loop."""
        with self._lock:
            return self._ready, self._reason


class ProbeSet:
    """The probes of several loops (the service's two stages) read as one: live and ready
    only while every loop is, with the stage named in the reason.

    >>> split, detect = Probes(), Probes()
    >>> probes = ProbeSet({"split": split, "detect": detect})
    >>> split.set_ready(True, "lag 0 <= 10000")
    >>> probes.ready()
    (False, 'detect: starting')
    """

    def __init__(self, probes: Mapping[str, Probes]) -> None:
        self.probes = dict(probes)

    def live(self) -> tuple[bool, str]:
        """``(live, why)``: live while every loop is."""
        return _all_of({name: p.live() for name, p in self.probes.items()})

    def ready(self) -> tuple[bool, str]:
        """``(ready, why)``: ready while every loop is."""
        return _all_of({name: p.ready() for name, p in self.probes.items()})


def _all_of(verdicts: Mapping[str, tuple[bool, str]]) -> tuple[bool, str]:
    failed = [f"{name}: {why}" for name, (ok, why) in verdicts.items() if not ok]
    if failed:
        return False, "; ".join(failed)
    return True, "; ".join(f"{name}: {why}" for name, (_, why) in verdicts.items())


class PortInUse(OSError):
    """The endpoint's address is taken: another process (or service) listens on ``host:port``."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"{host}:{port} is already in use")
        self.host = host
        self.port = port

    def __str__(self) -> str:
        return f"port {self.port} on {self.host} is already in use"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a burst of probes and scrapes beyond it waits for
    # the kernel's SYN retry (a second or more) before it is even accepted.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], metrics: ServiceMetrics, probes: Probes | ProbeSet
    ) -> None:
        self.metrics = metrics
        self.probes = probes
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # ThreadingMixIn's, with a thread name that says whose thread it is (py-spy, tests).
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=REQUEST_THREAD_NAME,
            daemon=True,
        )
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return  # the client went away or stalled: nothing to answer, nothing to fix
        log.error("health_request_failed", client=str(client_address), error=repr(error))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_TIMEOUT_S

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._reply(200, self.server.metrics.exposition(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._probe(self.server.probes.live(), "not live")
        elif path == "/readyz":
            self._probe(self.server.probes.ready(), "not ready")
        else:
            self._reply(404, b"not found: try /metrics, /healthz or /readyz\n")

    def _probe(self, verdict: tuple[bool, str], failed: str) -> None:
        ok, why = verdict
        if ok:
            self._reply(200, b"ok\n")
        else:
            line = " ".join(f"{failed}: {why}".split())  # one line, whatever the reason holds
            self._reply(503, line.encode() + b"\n")

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes and probes every few seconds would flood stderr: no access log."""


class HealthServer:
    """Serves ``metrics`` and the ``probes`` until ``stop()``.

    - ``GET /metrics``: the Prometheus text exposition of ``metrics.registry``;
    - ``GET /healthz``: ``200 ok`` while ``probes.live()``, else ``503 not live: <why>``;
    - ``GET /readyz``: ``200 ok`` while ``probes.ready()``, else ``503 not ready: <why>``;
    - anything else: 404.

    Answers are plain text, one line. ``port=0`` picks a free port; ``.port`` is the bound one
    once started.

    >>> import urllib.request
    >>> probes = Probes()
    >>> server = HealthServer(ServiceMetrics(), probes, "127.0.0.1", 0)
    >>> server.start()
    >>> probes.set_ready(True, "lag 0 <= 10000")
    >>> with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/readyz") as response:
    ...     print(response.status, response.read())
    200 b'ok\\n'
    >>> server.stop()
    """

    def __init__(
        self,
        metrics: ServiceMetrics,
        probes: Probes | ProbeSet,
        host: str = "127.0.0.1",
        port: int = 9464,
    ) -> None:
        self.metrics = metrics
        self.probes = probes
        self.host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port once started (the configured one before)."""
        return self._server.server_address[1] if self._server is not None else self._port

    def start(self) -> None:
        """Bind and serve in a daemon thread.

        Raises ``PortInUse`` (an ``OSError``) when ``host:port`` is taken, and ``OSError`` when
        it cannot be bound otherwise (no such address, a privileged port). Logs nothing: the
        caller logs ``metrics_server_started`` with ``host`` and ``port``.
        """
        if self._server is not None:
            return
        try:
            self._server = _Server((self.host, self._port), self.metrics, self.probes)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(self.host, self._port) from error
            raise
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="driftwarden-health",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice.

        Requests being answered finish in their own daemon threads.
        """
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server, self._thread = None, None

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
