"""Who this service instance is, to the consumer group and to the transaction coordinator.

One name serves both: ``group.instance.id`` (static membership: a restarted instance takes
its partitions back at once instead of waiting for the dead member's session to expire) and
the transactional id (exactly-once: a restarted instance fences the zombie of itself, never
another instance). The name is ``kafka.instance_id`` when the config sets it (a pod name, say),
else ``<hostname>-<slot>``: the lowest slot no other instance of the same group on this host
holds, claimed with a lock file that the operating system releases when the process dies.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["InstanceIdentity", "claim_identity"]

_MAX_SLOTS = 1024


@dataclass(frozen=True, slots=True)
class InstanceIdentity:
    """This instance's name, and the lock that holds its slot (None when configured)."""

    name: str
    lock: IO[bytes] | None = None

    def transactional_id(self, group_id: str) -> str:
        """The exactly-once producer's transactional id.

        >>> InstanceIdentity("host-0").transactional_id("drift")
        'driftwarden-drift-host-0'
        """
        return f"driftwarden-{group_id}-{self.name}"


def claim_identity(
    group_id: str, configured: str | None, lock_dir: Path | None = None
) -> InstanceIdentity:
    """``configured`` if given, else ``<hostname>-<lowest free slot>`` for ``group_id``.

    The slot's lock stays held for as long as the returned identity (and its process) lives.

    >>> import tempfile, pathlib
    >>> where = pathlib.Path(tempfile.mkdtemp())
    >>> first, second = claim_identity("g", None, where), claim_identity("g", None, where)
    >>> first.name.endswith("-0"), second.name.endswith("-1")
    (True, True)
    >>> claim_identity("g", "pod-7").name
    'pod-7'
    """
    if configured:
        return InstanceIdentity(configured)
    host = socket.gethostname() or "localhost"
    folder = lock_dir or Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", group_id)
    for slot in range(_MAX_SLOTS):
        handle = (folder / f"driftwarden-{stem}-slot-{slot}.lock").open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return InstanceIdentity(f"{host}-{slot}", handle)
    raise RuntimeError(
        f"{_MAX_SLOTS} instances of group {group_id!r} already run on this host; "
        "set kafka.instance_id"
    )
