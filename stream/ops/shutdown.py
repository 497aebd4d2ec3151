"""Stop requests that arrive while a command is still starting.

``driftwarden run`` takes seconds to start (imports, the profile, numba's cache, topic
checks). A SIGTERM or SIGINT in that time must be a stop like any other (exit 0 after a
clean shutdown), never a kill with status -15: ``catch_stop_signals()`` is the first thing
the CLI does, and the service reads ``STOP_REQUESTED`` when it starts. Commands that do not
take the request over get the default behaviour back from ``release_stop_signals()``.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

__all__ = ["STOP_REQUESTED", "catch_stop_signals", "release_stop_signals"]

STOP_REQUESTED = threading.Event()
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_received: list[int] = []


def _note(signum: int, _frame: FrameType | None) -> None:
    _received.append(signum)
    STOP_REQUESTED.set()


def catch_stop_signals() -> None:
    """From now on SIGTERM/SIGINT only set ``STOP_REQUESTED``."""
    for signum in _STOP_SIGNALS:
        signal.signal(signum, _note)


def release_stop_signals() -> None:
    """Default handling again; a signal caught meanwhile is delivered now."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if _received:
        os.kill(os.getpid(), _received[0])
