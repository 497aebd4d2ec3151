"""The service's HTTP endpoint: ``/metrics``, ``/healthz`` and ``/readyz`` in a daemon thread.

Bound to 127.0.0.1 by default (``service.metrics.host``), so nothing is exposed beyond the
machine unless the config says so. Requests are not logged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from stream.metrics import ServiceMetrics

__all__ = ["HealthServer", "is_ready"]

log = structlog.get_logger(__name__)


def is_ready(assigned: bool, lag: int | None, max_lag: int) -> bool:
    """The readiness rule: partitions are assigned and the lag is known and ≤ ``max_lag``.

    ``lag`` is the service's total lag over its assigned partitions (``None`` while
    unknown); ``max_lag`` is ``service.ready_max_lag``.

    >>> is_ready(True, 120, 10_000), is_ready(True, None, 10_000), is_ready(False, 0, 10_000)
    (True, False, False)
    """
    return assigned and lag is not None and lag <= max_lag


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        metrics: ServiceMetrics,
        live: Callable[[], bool],
        ready: Callable[[], bool],
    ) -> None:
        self.metrics = metrics
        self.live = live
        self.ready = ready
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._reply(200, self.server.metrics.exposition(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._probe(self.server.live, "healthz")
        elif path == "/readyz":
            self._probe(self.server.ready, "readyz")
        else:
            self._reply(404, b"not found: try /metrics, /healthz or /readyz\n")

    def _probe(self, check: Callable[[], bool], name: str) -> None:
        try:
            ok = bool(check())
        except Exception as exc:  # a failing check means "not ok", never a dead endpoint
            log.warning("health_check_failed", endpoint=name, error=repr(exc))
            ok = False
        if ok:
            self._reply(200, b"ok\n")
        else:
            self._reply(503, b"not ok\n")

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes and probes every few seconds would flood stderr: no access log."""


class HealthServer:
    """Serves ``metrics`` and the liveness/readiness probes until ``stop()``.

    - ``GET /metrics``: the Prometheus text exposition of ``metrics.registry``;
    - ``GET /healthz``: 200 ``ok`` while ``live()`` is true, else 503;
    - ``GET /readyz``: 200 ``ok`` while ``ready()`` is true, else 503 (see ``is_ready``);
    - anything else: 404.

    ``port=0`` picks a free port; ``.port`` is the bound one once started.

    >>> import urllib.request
    >>> server = HealthServer(ServiceMetrics(), "127.0.0.1", 0, lambda: True, lambda: True)
    >>> server.start()
    >>> with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz") as response:
    ...     print(response.status, response.read())
    200 b'ok\\n'
    >>> server.stop()
    """

    def __init__(
        self,
        metrics: ServiceMetrics,
        host: str = "127.0.0.1",
        port: int = 9464,
        live: Callable[[], bool] = lambda: True,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self.metrics = metrics
        self.host = host
        self._port = port
        self.live = live
        self.ready = ready
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port once started (the configured one before)."""
        return self._server.server_address[1] if self._server is not None else self._port

    def start(self) -> None:
        """Bind and serve in a daemon thread; ``OSError`` if the address is taken.

        Logs nothing: the caller logs ``metrics_server_started`` with ``host`` and ``port``.
        """
        if self._server is not None:
            return
        self._server = _Server((self.host, self._port), self.metrics, self.live, self.ready)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="driftwarden-health",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
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
