"""The console script: --version and --help, how ``run`` fails before it serves, and what
``replay`` writes to stdout (incidents; detector-level events only when asked)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftwarden.stream.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version_prints_the_installed_package_version() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"driftwarden {version('driftwarden')}"


def test_help_describes_the_tool_and_exits_zero() -> None:
    result = _run("--help")
    assert result.returncode == 0
    assert "usage: driftwarden" in result.stdout
    assert "drift" in result.stdout


# The service stands in for DriftService: its run() starts the HTTP endpoint as the real
# one does (stream/service.py), without Kafka, so the test needs no broker.
_RUN_WITH_ENDPOINT_ONLY = """
import sys

import driftwarden.stream.service.drift_service
from driftwarden.stream.ops.health_server import HealthServer, Probes
from driftwarden.stream.ops.metrics import ServiceMetrics


class EndpointOnly:
    def __init__(self, config, *args, **kwargs):
        self.config = config

    def install_signal_handlers(self):
        pass

    def run(self):
        settings = self.config.service.metrics
        HealthServer(ServiceMetrics(), Probes(), settings.host, settings.port).start()


driftwarden.stream.service.drift_service.DriftService = EndpointOnly
from driftwarden.stream.cli import main

sys.exit(main(sys.argv[1:]))
"""


def _config(folder: Path, extra: str = "") -> Path:
    path = folder / "service.yaml"
    path.write_text(
        "kafka:\n"
        "  bootstrap_servers: 127.0.0.1:1\n"
        "  input_topics: [features]\n"
        f"{extra}"
        "service:\n"
        "  log_format: json\n",
        encoding="utf-8",
    )
    return path


def test_run_on_a_taken_metrics_port_says_so_in_one_line_and_exits_two(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = _config(tmp_path)
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                _RUN_WITH_ENDPOINT_ONLY,
                "run",
                "--config",
                str(path),
                "--set",
                f"service.metrics.port={port}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    message = (
        f"service.metrics.port {port} on 127.0.0.1 is already in use "
        "(set service.metrics.port, or 0 for a free port)"
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1] == f"driftwarden run: {message}"
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    errors = [event for event in logged if event["level"] == "error"]
    assert errors == [
        {
            **errors[0],
            "event": "metrics_port_in_use",
            "host": "127.0.0.1",
            "port": port,
            "error": message,
        }
    ]


def test_run_refuses_a_misspelt_secret_setting_without_showing_its_value(tmp_path: Path) -> None:
    secret = "hunter2-s3cr3t"
    path = _config(tmp_path, f"  client: {{sasl.passwd: {secret}}}\n")
    result = _run("run", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr == (
        f"driftwarden run: {path}: kafka.client.sasl.passwd: unknown librdkafka setting "
        "(did you mean 'sasl.password'?)\n"
    )
    assert secret not in result.stdout + result.stderr


def _types(stdout: str) -> list[str]:
    return [json.loads(line)["type"] for line in stdout.splitlines()]


def test_replay_writes_incidents_and_detector_level_events_only_when_asked(
    tmp_path: Path,
) -> None:
    train = tmp_path / "train.csv"
    train.write_text("x,c\n" + "".join(f"{10 + i % 7},{'ab'[i % 2]}\n" for i in range(2000)))
    profile = tmp_path / "profile.json"
    assert _run("profile", "build", str(train), "-o", str(profile)).returncode == 0
    prod = tmp_path / "prod.jsonl"
    records = [{"x": 10 + i % 7, "c": "ab"[i % 2]} for i in range(600)]
    for record in records[200:]:
        record["coupon"] = "X"  # a field training never had, from line 201 on
    prod.write_text("".join(json.dumps(record) + "\n" for record in records))
    replay = ("replay", "--profile", str(profile), str(prod))

    default = _run(*replay)
    assert default.returncode == 0, default.stderr
    assert _types(default.stdout) == ["driftwarden.incident.opened.v1"]
    (incident,) = [json.loads(line) for line in default.stdout.splitlines()]
    assert incident["subject"] == "coupon"
    assert incident["data"]["findings"][0]["kind"] == "novel_field"
    assert incident["data"]["record"]["offset"] == 201

    both = ["driftwarden.incident.opened.v1", "driftwarden.feature.novel.v1"]
    flagged = _run(*replay, "--detector-events")
    assert flagged.returncode == 0 and _types(flagged.stdout) == both
    assert flagged.stdout.splitlines()[0] == default.stdout.splitlines()[0]
    config = tmp_path / "replay.yaml"
    config.write_text("alerts:\n  detector_events: true\n")
    configured = _run(*replay, "--config", str(config))
    assert configured.returncode == 0 and configured.stdout == flagged.stdout

    config.write_text("alerts:\n  detector_event: true\n")
    misspelt = _run(*replay, "--config", str(config))
    assert misspelt.returncode == 2 and misspelt.stdout == ""
    assert misspelt.stderr == (
        f"driftwarden: error: {config}: alerts.detector_event: unknown key "
        "(did you mean 'detector_events'?)\n"
    )
