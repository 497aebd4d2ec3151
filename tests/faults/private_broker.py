"""A broker of one test's own, started by ``scripts/kafka.sh`` on a free port pair.

Fault tests stop and restart it; the session broker that other tests share is never touched.
``stop()`` keeps the data, ``start()`` brings the same node back on the same ports with it.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import subprocess
import time
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

from tests.service_harness import REPO_DIR, ServiceTopics, outputs_for

__all__ = ["PrivateBroker", "create_topic", "free_port_pair", "service_topics"]

KAFKA_SCRIPT = REPO_DIR / "scripts" / "kafka.sh"
ADMIN_TIMEOUT_S = 30.0


def free_port_pair() -> tuple[int, int]:
    """Two ports on 127.0.0.1 that nothing listens on (client, controller)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(2)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        first, second = (sock.getsockname()[1] for sock in sockets)
        return first, second
    finally:
        for sock in sockets:
            sock.close()


class PrivateBroker:
    """One KRaft node under ``work_dir``; ``bootstrap`` stays the same across restarts."""

    def __init__(self, work_dir: Path) -> None:
        self.port, self.controller_port = free_port_pair()
        self.work_dir = work_dir
        self.bootstrap = f"127.0.0.1:{self.port}"

    def _script(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_WORK_DIR": str(self.work_dir),
        }
        return subprocess.run(
            [str(KAFKA_SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout
        )

    def start(self) -> None:
        """Start (or restart with the data it had); returns once it answers metadata."""
        started = self._script("start", timeout=300)
        if started.returncode != 0 or not re.search(
            rf"^bootstrap={re.escape(self.bootstrap)}$", started.stdout, re.MULTILINE
        ):
            raise RuntimeError(
                f"private broker did not start on {self.bootstrap}:\n"
                f"{started.stderr}\n{started.stdout}\n{self.log_tail()}"
            )

    def stop(self) -> None:
        """Clean stop (SIGTERM); the data stays for the next ``start()``."""
        stopped = self._script("stop", timeout=120)
        if stopped.returncode != 0:
            raise RuntimeError(f"private broker did not stop:\n{stopped.stderr}")

    def destroy(self) -> None:
        """Stop and remove the work folder."""
        self._script("stop", "--clean", timeout=120)

    def log_tail(self, n: int = 30) -> str:
        log = self.work_dir / "logs" / "server.log"
        if not log.exists():
            return "(no broker log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])


def create_topic(bootstrap: str, partitions: int = 1, config: dict[str, str] | None = None) -> str:
    """A new uniquely named topic; returns once its metadata lists every partition."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    name = f"dw-faults-{uuid.uuid4().hex[:12]}"
    topic = NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})
    for future in admin.create_topics([topic], operation_timeout=ADMIN_TIMEOUT_S).values():
        future.result(timeout=ADMIN_TIMEOUT_S)
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while time.monotonic() < deadline:
        described = admin.list_topics(name, timeout=5).topics.get(name)
        if described is not None and described.error is None:
            if len(described.partitions) == partitions:
                return name
        time.sleep(0.05)
    raise TimeoutError(f"topic {name} not visible in metadata after {ADMIN_TIMEOUT_S}s")


def service_topics(bootstrap: str, input_topic: str) -> ServiceTopics:
    """Fresh alerts, DLQ, compacted state and columns topics for one run over ``input_topic``."""
    return outputs_for(input_topic, functools.partial(create_topic, bootstrap))
