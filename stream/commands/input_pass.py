"""One pass over input files for a command: malformed-row budget, progress bar, errors.

``ErrorBudget`` counts malformed rows, keeps the first few to show the user, and stops the
command (``TooManyBadRows``) once more than ``max_errors`` were met. ``read_inputs`` checks
that every file exists and has a known format before reading anything, then yields the
chunks, with a ``rich`` progress bar on stderr when stderr is a terminal and the input is
at least ``LARGE_INPUT_BYTES``. ``report_failure`` turns the errors a user can cause into
the one line a command prints before exiting with status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, TextIO, TypeVar

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from driftwarden.stream.profiling.readers import (
    DEFAULT_CHUNK_ROWS,
    BadRow,
    InputError,
    RecordChunk,
    infer_format,
)
from driftwarden.stream.profiling.readers import iter_chunks as _iter_chunks

__all__ = [
    "LARGE_INPUT_BYTES",
    "ErrorBudget",
    "TooManyBadRows",
    "check_inputs",
    "read_inputs",
    "report_failure",
    "with_byte_progress",
]

LARGE_INPUT_BYTES = 32 * 1024 * 1024
_SHOWN = 20


class TooManyBadRows(Exception):
    """More malformed rows than the command allows (``--max-errors``); see ``ErrorBudget``."""


class ErrorBudget:
    """Counts malformed rows; raises ``TooManyBadRows`` past ``max_errors`` (None: no limit).

    >>> budget = ErrorBudget(max_errors=1)
    >>> budget.record([BadRow("a.csv", 3, "expected 2 fields, got 3")])
    >>> try:
    ...     budget.record([BadRow("a.csv", 9, "expected 2 fields, got 1")])
    ... except TooManyBadRows as error:
    ...     print(error)
    more than 1 malformed row (--max-errors 1); stopped at a.csv:9: expected 2 fields, got 1
    """

    def __init__(self, max_errors: int | None) -> None:
        self.max_errors = max_errors
        self.count = 0
        self.examples: list[BadRow] = []

    def record(self, rows: Sequence[BadRow]) -> None:
        """Count ``rows``; stop when the budget is exceeded."""
        if not rows:
            return
        self.count += len(rows)
        self.examples.extend(rows[: _SHOWN - len(self.examples)])
        if self.max_errors is not None and self.count > self.max_errors:
            limit = self.max_errors
            crossing = rows[limit - (self.count - len(rows))]
            raise TooManyBadRows(
                f"more than {limit} malformed row{'s' if limit != 1 else ''} "
                f"(--max-errors {limit}); stopped at {crossing}"
            )

    def print_summary(self, stream: TextIO | None = None) -> None:
        """List the malformed rows met (the first 20) on ``stream`` (stderr by default).

        >>> budget = ErrorBudget(max_errors=None)
        >>> budget.record([BadRow("a.csv", 3, "expected 2 fields, got 3")])
        >>> budget.print_summary(sys.stdout)
        warning: 1 malformed row(s) skipped:
          a.csv:3: expected 2 fields, got 3
        """
        if not self.count:
            return
        out = stream or sys.stderr
        print(f"warning: {self.count} malformed row(s) skipped:", file=out)
        for row in self.examples:
            print(f"  {row}", file=out)
        if self.count > len(self.examples):
            print(f"  ... and {self.count - len(self.examples)} more", file=out)


def check_inputs(paths: Sequence[str], fmt: str | None) -> int:
    """Fail fast (``InputError``) on a missing file or unknown format; return total bytes.

    >>> check_inputs(["no/such.csv"], None)
    Traceback (most recent call last):
    ...
    driftwarden.stream.profiling.readers.InputError: no/such.csv: no such file
    """
    total = 0
    for path in paths:
        file = Path(path)
        if not file.exists():
            raise InputError(f"{path}: no such file")
        if not file.is_file():
            raise InputError(f"{path}: not a regular file")
        if fmt is None:
            infer_format(path)
        total += file.stat().st_size
    return total


def read_inputs(
    paths: Sequence[str],
    fmt: str | None = None,
    features_path: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    label: str = "reading",
) -> Iterator[RecordChunk]:
    """Chunks of every file in ``paths``, with a progress bar for large inputs on a TTY.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp, "t.csv")
    ...     _ = path.write_text("x\\n1\\n2\\n3\\n")
    ...     [chunk.n_rows for chunk in read_inputs([str(path)], chunk_rows=2)]
    [2, 1]
    """
    total = check_inputs(paths, fmt)
    yield from with_byte_progress(_iter_chunks(paths, fmt, features_path, chunk_rows), total, label)


class _ReadFrom(Protocol):
    """An item read from a file: its path and the bytes of that file read so far."""

    @property
    def path(self) -> str: ...

    @property
    def bytes_read(self) -> int: ...


_Item = TypeVar("_Item", bound=_ReadFrom)


def with_byte_progress(items: Iterable[_Item], total: int, label: str) -> Iterator[_Item]:
    """``items`` (read from files, file after file, ``total`` bytes in all), with a
    progress bar on stderr when it is a terminal and the input is large.

    >>> from types import SimpleNamespace
    >>> items = [SimpleNamespace(path="a", bytes_read=5)]
    >>> [item.bytes_read for item in with_byte_progress(items, 5, "reading")]
    [5]
    """
    if not (sys.stderr.isatty() and total >= LARGE_INPUT_BYTES):
        yield from items
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task(label, total=total)
        finished, current = 0, None
        for item in items:
            if item.path != current:
                if current is not None:
                    finished += Path(current).stat().st_size
                current = item.path
            progress.update(task, completed=finished + item.bytes_read)
            yield item


def report_failure(error: Exception) -> int:
    """Print ``error`` as one line on stderr and return exit status 2.

    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     status = report_failure(InputError("t.csv: no such file"))
    >>> status, err.getvalue()
    (2, 'driftwarden: error: t.csv: no such file\\n')
    """
    print(f"driftwarden: error: {error}", file=sys.stderr)
    return 2
