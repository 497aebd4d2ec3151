"""Start-up and shutdown of ``driftwarden run`` as a process: signals are honoured at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.service_harness import ServiceProcess, ServiceTopics, write_config

SIGTERM_BIT = 1 << (signal.SIGTERM - 1)


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM (``SigCgt`` in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & SIGTERM_BIT)


def test_sigterm_during_start_up_stops_cleanly_with_status_0(tmp_path: Path) -> None:
    # Nothing here needs a broker: a stop asked for during start-up ends the run before it
    # connects. The address is a closed port, so a service that went on would not get far.
    topics = ServiceTopics(
        input="features", alerts="alerts", dlq="dlq", state="state", columns="columns"
    )
    config = write_config(tmp_path / "service.yaml", "127.0.0.1:9", topics)
    service = ServiceProcess(config, tmp_path / "service.log")
    deadline = time.monotonic() + 30
    while not _catches_sigterm(service.proc.pid):
        assert service.proc.poll() is None, service.tail()
        assert time.monotonic() < deadline, "the process never installed a SIGTERM handler"
        time.sleep(0.005)
    started = [e["event"] for e in service.log_events()]
    service.signal(signal.SIGTERM)
    assert service.stop() == 0, service.tail()
    # The handler was there before the service even read its config: start-up was covered.
    assert "config_loaded" not in started
    events = [e["event"] for e in service.log_events()]
    assert "service_stopped" in events, service.tail()
    assert "service_started" not in events, service.tail()


def test_an_unreachable_broker_is_reported_as_json_log_events_not_raw_librdkafka_lines(
    tmp_path: Path,
) -> None:
    topics = ServiceTopics(
        input="features", alerts="alerts", dlq="dlq", state="state", columns="columns"
    )
    config = write_config(tmp_path / "service.yaml", "127.0.0.1:9", topics)
    service = ServiceProcess(
        config,
        tmp_path / "service.log",
        "--set",
        "kafka.client.socket.connection.setup.timeout.ms=1000",
    )
    status = service.proc.wait(120)
    lines = service.log_path.read_text().splitlines()
    assert status == 2, service.tail()
    raw = [line for line in lines if line.startswith("%")]
    assert raw == [], raw[:5]
    events = service.log_events()
    assert len(events) == len(lines), "every line on stderr is a JSON log event"
    assert any(e["event"] == "topics_missing" for e in events), lines


STOP_WHILE_LOGGING = """
import os, signal, sys
from structlog._output import _get_lock_for_file
from driftwarden.stream.config import ServiceConfig
from driftwarden.stream.ops.logs import configure_logging
from driftwarden.stream.service.drift_service import DriftService

configure_logging("json", "info")
config = ServiceConfig(kafka={"bootstrap_servers": "127.0.0.1:9", "input_topics": ["f"]})
service = DriftService(config, verify_topics=False)
service.install_signal_handlers()
# The signal arrives while the loop is inside a log line, holding the logger's lock.
with _get_lock_for_file(sys.stderr):
    os.kill(os.getpid(), signal.SIGTERM)
print("stop requested" if service._stop.is_set() else "not stopped", flush=True)
"""


def test_a_stop_signal_during_a_log_line_stops_the_service_instead_of_hanging_it() -> None:
    # A handler that logged would wait forever for the lock its own thread holds.
    done = subprocess.run(
        [sys.executable, "-c", STOP_WHILE_LOGGING], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout.strip()) == (0, "stop requested"), done.stderr
