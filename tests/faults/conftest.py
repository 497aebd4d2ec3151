"""Fixtures of the fault tests: a broker of their own to stop and start, and service
processes and live input feeds that never outlive their test.

Every test module here marks its tests ``faults`` and ``kafka``: ``pytest -m faults`` runs
them alone, ``pytest -m "not faults"`` leaves them out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _compile_kernels
from tests.faults.paced_feed import PacedFeed
from tests.faults.private_broker import PrivateBroker
from tests.service_harness import ServiceProcess


@pytest.fixture(scope="session")
def compiled_kernels() -> None:
    """numba's cache warm before a service starts (the session broker fixture does the same)."""
    _compile_kernels()


@pytest.fixture(scope="module")
def _private_broker_node(
    tmp_path_factory: pytest.TempPathFactory, compiled_kernels: None
) -> Iterator[PrivateBroker]:
    broker = PrivateBroker(tmp_path_factory.mktemp("private-kafka") / "kafka")
    try:
        broker.start()
        yield broker
    finally:
        broker.destroy()


@pytest.fixture
def private_broker(_private_broker_node: PrivateBroker) -> PrivateBroker:
    """A broker of this module's own on a free port pair, running when the test starts.

    ``.bootstrap``; ``.stop()`` takes it down and keeps its data; ``.start()`` brings it back
    on the same ports with the same data and returns once it answers. Stopped and removed
    after the module's last test. Tests that stop a broker use this one, never the session's.
    """
    _private_broker_node.start()  # a no-op when running; restarts it after a failed test
    return _private_broker_node


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[[Path, str], ServiceProcess]]:
    """``start_service(config, name)``: a ``driftwarden run`` process logging to
    ``<tmp>/<name>.log``; any still running at teardown is killed."""
    started: list[ServiceProcess] = []

    def start(config: Path, name: str) -> ServiceProcess:
        service = ServiceProcess(config, tmp_path / f"{name}.log")
        started.append(service)
        return service

    yield start
    for service in started:
        if service.proc.poll() is None:
            service.kill()


@pytest.fixture
def start_feed() -> Iterator[Callable[..., PacedFeed]]:
    """``start_feed(bootstrap, topic, records, partitions, rate, allowed=None)``: a started
    ``PacedFeed``; abandoned at teardown if the test did not finish it."""
    feeds: list[PacedFeed] = []

    def start(*args: Any, **kwargs: Any) -> PacedFeed:
        feed = PacedFeed(*args, **kwargs).start()
        feeds.append(feed)
        return feed

    yield start
    for feed in feeds:
        feed.close()
