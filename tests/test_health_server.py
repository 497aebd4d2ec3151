"""The probes are decided by the service loop and served without waiting for it.

The HTTP thread reads only what the loop last wrote into ``Probes``: it answers while the loop
is blocked, reports a loop that stopped turning as not live, says why in one line, survives
clients that hang up, and turns a taken port into ``PortInUse``.
"""

from __future__ import annotations

import errno
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from driftwarden.stream.ops import health_server
from driftwarden.stream.ops.health_server import (
    REQUEST_THREAD_NAME,
    HealthServer,
    PortInUse,
    Probes,
    readiness,
)
from driftwarden.stream.ops.metrics import ServiceMetrics

CLIENT_TIMEOUT_S = 10.0
DEADLINE_S = 10.0


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=CLIENT_TIMEOUT_S) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {DEADLINE_S} s waiting until {what}")
        time.sleep(0.01)


def _request_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == REQUEST_THREAD_NAME]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def probes(clock: FakeClock) -> Probes:
    return Probes(liveness_timeout_s=0.5, clock=clock)


@pytest.fixture
def server(probes: Probes) -> Iterator[HealthServer]:
    with HealthServer(ServiceMetrics(), probes, "127.0.0.1", 0) as running:
        yield running


class BlockedLoop:
    """A service loop that turns once, decides it is ready, then blocks (a consume() that
    never returns) until released, and turns once more."""

    def __init__(self, probes: Probes) -> None:
        self.probes = probes
        self.turned = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._run, name="blocked-loop", daemon=True)

    def _run(self) -> None:
        self.probes.beat()
        self.probes.set_ready(*readiness(True, 0, 10_000))
        self.turned.set()
        self.release.wait()
        self.probes.beat()

    def __enter__(self) -> BlockedLoop:
        self.thread.start()
        assert self.turned.wait(DEADLINE_S), "the loop never turned"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release.set()
        self.thread.join(DEADLINE_S)


def test_probes_answer_while_the_loop_blocks_and_liveness_expires_when_it_stops_turning(
    server: HealthServer, probes: Probes, clock: FakeClock
) -> None:
    base = f"http://127.0.0.1:{server.port}"
    with BlockedLoop(probes) as loop:
        assert _get(f"{base}/readyz") == (200, b"ok\n")
        assert _get(f"{base}/healthz") == (200, b"ok\n")
        clock.now += 131
        assert _get(f"{base}/healthz") == (
            503,
            b"not live: loop last turned 131 s ago (limit 0.5 s)\n",
        )
        assert _get(f"{base}/readyz") == (200, b"ok\n")  # readiness is the loop's last verdict
        loop.release.set()
        loop.thread.join(DEADLINE_S)
    assert _get(f"{base}/healthz") == (200, b"ok\n")


def test_not_ready_answers_say_why_in_one_line(server: HealthServer, probes: Probes) -> None:
    url = f"http://127.0.0.1:{server.port}/readyz"
    assert _get(url) == (503, b"not ready: starting\n")
    probes.set_ready(*readiness(True, 52_000, 10_000))
    assert _get(url) == (503, b"not ready: lag 52000 > 10000\n")
    probes.set_ready(False, "broker unreachable:\n  all brokers down")
    assert _get(url) == (503, b"not ready: broker unreachable: all brokers down\n")
    assert _get(f"http://127.0.0.1:{server.port}/nothing-here")[0] == 404


def test_thirty_concurrent_requests_all_answer_while_the_loop_blocks(
    server: HealthServer, probes: Probes
) -> None:
    base = f"http://127.0.0.1:{server.port}"
    paths = ["/readyz", "/healthz", "/metrics"] * 10
    with BlockedLoop(probes), ThreadPoolExecutor(max_workers=len(paths)) as pool:
        answers = list(pool.map(lambda path: _get(base + path)[0], paths))
    assert answers == [200] * len(paths)


def test_a_client_that_hangs_up_early_leaves_no_traceback(
    probes: Probes, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, answer = threading.Event(), threading.Event()

    class HeldMetrics(ServiceMetrics):
        def exposition(self) -> bytes:  # holds the answer until the client has hung up
            entered.set()
            answer.wait(DEADLINE_S)
            return super().exposition()

    seen: list[BaseException | None] = []
    handle_error = health_server._Server.handle_error

    def spy(self: health_server._Server, request: object, client_address: object) -> None:
        seen.append(sys.exc_info()[1])
        handle_error(self, request, client_address)

    monkeypatch.setattr(health_server._Server, "handle_error", spy)
    with HealthServer(HeldMetrics(), probes, "127.0.0.1", 0) as server:
        client = socket.create_connection(("127.0.0.1", server.port), timeout=CLIENT_TIMEOUT_S)
        client.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert entered.wait(DEADLINE_S), "the request never reached the handler"
        # Close with a reset (linger 0), as a client whose timeout expired does.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        answer.set()
        _wait_until(lambda: bool(seen) and not _request_threads(), "the handler finished")
        assert _get(f"http://127.0.0.1:{server.port}/healthz") == (200, b"ok\n")
    assert isinstance(seen[0], ConnectionError)  # the hang-up really reached the server
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err
    assert "health_request_failed" not in captured.out + captured.err


def test_a_handler_that_fails_otherwise_is_logged_as_one_event(
    probes: Probes, capfd: pytest.CaptureFixture[str]
) -> None:
    class BrokenMetrics(ServiceMetrics):
        def exposition(self) -> bytes:
            raise RuntimeError("registry gone")

    with HealthServer(BrokenMetrics(), probes, "127.0.0.1", 0) as server:
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            _get(f"http://127.0.0.1:{server.port}/metrics")
        _wait_until(lambda: not _request_threads(), "the handler finished")
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err
    assert "health_request_failed" in captured.out + captured.err
    assert "registry gone" in captured.out + captured.err


def test_a_taken_port_raises_port_in_use_naming_host_and_port(probes: Probes) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HealthServer(ServiceMetrics(), probes, "127.0.0.1", port)
        with pytest.raises(PortInUse) as caught:
            server.start()
    error = caught.value
    assert isinstance(error, OSError) and error.errno == errno.EADDRINUSE
    assert (error.host, error.port) == ("127.0.0.1", port)
    assert str(error) == f"port {port} on 127.0.0.1 is already in use"
    server.stop()  # nothing was started: a no-op


def test_liveness_counts_from_creation_until_the_first_beat(clock: FakeClock) -> None:
    probes = Probes(liveness_timeout_s=120, clock=clock)
    clock.now += 120
    assert probes.live()[0]
    clock.now += 1
    assert probes.live() == (False, "loop last turned 121 s ago (limit 120 s)")
    probes.beat(clock.now)
    assert probes.live() == (True, "loop last turned 0 s ago")


def test_a_liveness_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="liveness_timeout_s must be > 0"):
        Probes(liveness_timeout_s=0)


def test_readiness_names_the_first_condition_that_fails() -> None:
    assert readiness(True, 10_000, 10_000) == (True, "lag 10000 <= 10000")
    assert readiness(True, 10_001, 10_000) == (False, "lag 10001 > 10000")
    assert readiness(True, None, 10_000) == (False, "lag unknown")
    assert readiness(False, 0, 10_000) == (False, "no partitions assigned")
    assert readiness(True, 0, 10_000, broker_reachable=False) == (False, "broker unreachable")
