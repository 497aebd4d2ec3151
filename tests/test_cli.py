"""The console script answers --version and --help as an installed command."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stream.cli", *args], capture_output=True, text=True, timeout=60
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
