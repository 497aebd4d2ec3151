"""structlog set-up: JSON lines by default, readable console rendering on a TTY; librdkafka's
own log lines routed through it."""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Literal

import structlog

__all__ = ["LibrdkafkaLog", "configure_logging"]

_LEVELS = frozenset({"debug", "info", "warning", "error"})


def configure_logging(
    fmt: Literal["auto", "json", "console"] = "auto", level: str = "info"
) -> None:
    """Route structlog to stderr as JSON lines (``json``), or coloured key=value (``console``);
    ``auto`` picks console when stderr is a terminal."""
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


class LibrdkafkaLog:
    """The ``logger`` of a confluent-kafka client: librdkafka's own log lines as structlog
    events (``event="librdkafka"``, with ``level``, ``facility``, ``client`` and ``message``),
    instead of raw ``%3|...`` lines on stderr.

    During an outage librdkafka logs every failed connection attempt; this keeps at most one
    line per facility every ``window_s`` seconds and says how many it held back
    (``suppressed``). Lines are served from the thread that polls the client.

    >>> import logging
    >>> structlog.configure(processors=[structlog.processors.add_log_level,
    ...                                 structlog.processors.KeyValueRenderer(sort_keys=True)],
    ...                     logger_factory=structlog.PrintLoggerFactory(file=sys.stdout))
    >>> sink = LibrdkafkaLog(window_s=60.0)
    >>> for _ in range(3):
    ...     sink.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", "refused")
    client='rdkafka#consumer-1' event='librdkafka' facility='FAIL' level='error' message='refused'
    >>> structlog.reset_defaults()
    """

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._log = structlog.get_logger("librdkafka")

    def log(self, level: int, msg: str, *args: object) -> None:
        """Called by the client as ``logging.Logger.log`` would be: ``(level, fmt, fac, name,
        text)``."""
        facility, client, text = (str(a) for a in (*args, "", "", "")[:3])
        now = time.monotonic()
        if now - self._last.get(facility, -math.inf) < self.window_s:
            self._suppressed[facility] = self._suppressed.get(facility, 0) + 1
            return
        self._last[facility] = now
        fields: dict[str, object] = {"facility": facility, "client": client, "message": text}
        held = self._suppressed.pop(facility, 0)
        if held:
            fields["suppressed"] = held
        name = logging.getLevelName(level).lower()
        if name == "critical":
            name = "error"
        emit = getattr(self._log, name if name in _LEVELS else "info")
        emit("librdkafka", **fields)
