"""A child process whose CPU time, resident size and wall time are measured from outside.

CPU is user + system time of the process and all its threads (librdkafka's included):
sampled from ``/proc/<pid>/stat`` while it runs, and exact from ``os.wait4`` when it ends.
Resident size is ``VmRSS`` of ``/proc/<pid>/status`` while it runs; the peak is the last
``VmHWM`` read before the exit (``wait`` reads it every 50 ms). Not ``ru_maxrss``: Linux
carries the parent's resident size at the fork into the child's ``ru_maxrss`` through
``exec``, so a parent that generated large records would show as the child's peak.
Nothing here needs psutil.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MeasuredProcess", "Sample", "Usage", "cpu_seconds", "load_average", "run_conditions"]

_TICKS = os.sysconf("SC_CLK_TCK")


def load_average() -> list[str]:
    """The 1-, 5- and 15-minute load averages, as ``/proc/loadavg`` writes them."""
    return Path("/proc/loadavg").read_text().split()[:3]


def run_conditions(load_before: list[str]) -> dict[str, object]:
    """When and on what a benchmark ran: date, cores, load averages before and now."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cores": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": load_average(),
    }


def cpu_seconds(run: Callable[[], object], repeat: int) -> float:
    """Best CPU time of this process over ``repeat`` runs of ``run``, after one warm-up run
    (numba compilation, caches): for in-process benchmarks.

    >>> cpu_seconds(lambda: sum(range(1000)), repeat=2) >= 0.0
    True
    """
    run()
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of a running process: monotonic time, CPU seconds, resident MB."""

    t: float
    cpu_s: float
    rss_mb: float
    hwm_mb: float


@dataclass(frozen=True, slots=True)
class Usage:
    """What the process used in its whole life (CPU from ``os.wait4``, peak from VmHWM)."""

    returncode: int
    cpu_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float
    started: float
    ended: float


class MeasuredProcess:
    """``argv`` started now, stdout and stderr to ``log_path`` (or stdout to a pipe)."""

    def __init__(
        self,
        argv: list[str],
        log_path: Path,
        cwd: Path,
        env: dict[str, str] | None = None,
        capture_stdout: bool = False,
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=subprocess.PIPE if capture_stdout else self._log,
            stderr=self._log,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.pid = self.proc.pid
        self.peak_rss_mb = 0.0

    def sample(self) -> Sample | None:
        """CPU and resident size now; None once the process has exited."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            status = Path(f"/proc/{self.pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return None
        # Field 2 (comm) may hold spaces; fields after its closing parenthesis are fixed.
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / _TICKS
        memory = {"VmRSS:": 0, "VmHWM:": 0}
        for line in status.splitlines():
            key = line[:6]
            if key in memory:
                memory[key] = int(line.split()[1])
        if memory["VmHWM:"]:
            self.peak_rss_mb = max(self.peak_rss_mb, memory["VmHWM:"] / 1024)
        return Sample(time.monotonic(), cpu, memory["VmRSS:"] / 1024, memory["VmHWM:"] / 1024)

    def running(self) -> bool:
        """Whether the process has not exited (it is not reaped here)."""
        try:
            exited = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        return exited is None

    def wait(self, timeout_s: float) -> Usage:
        """Wait for the exit (SIGKILL after ``timeout_s``); the usage of its whole life."""
        deadline = time.monotonic() + timeout_s
        while self.running():
            if time.monotonic() > deadline:
                self.proc.kill()
                break
            self.sample()
            time.sleep(0.05)
        _pid, status, rusage = os.wait4(self.pid, 0)
        ended = time.monotonic()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._log.close()
        return Usage(
            returncode=self.proc.returncode,
            cpu_s=rusage.ru_utime + rusage.ru_stime,
            user_s=rusage.ru_utime,
            sys_s=rusage.ru_stime,
            peak_rss_mb=self.peak_rss_mb,
            started=self.started,
            ended=ended,
        )

    def stdout(self) -> str:
        """What the process printed on stdout (``capture_stdout=True``), after it ended."""
        assert self.proc.stdout is not None
        return self.proc.stdout.read().decode()
