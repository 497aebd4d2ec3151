"""Records of several input partitions released in event-time order, as Kafka Streams
synchronises a task's partitions by timestamp.

Stage two merges a feature's chunks in the order stage one produces them. A consumer with a
backlog fetches each partition in large runs, so without alignment one partition's records
of an hour ago could follow another's of now: a shifted feature would look as if it went
back to training (resolving its incident) and then shifted again. ``TimeAligner`` holds the
consumed records of each partition and releases, each turn, only those up to the earliest
"latest timestamp" among the partitions that have records or are known to have more on the
broker; a partition that lags but has delivered nothing for ``max_wait_s`` stops holding
the others back.

Memory: the consumed, unreleased records; a partition far ahead is held only while another
delivers, so at most about ``max_wait_s`` of consumption beyond one turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from operator import methodcaller

import numpy as np
import numpy.typing as npt
from confluent_kafka import Message

from driftwarden.stream.decoding.column_chunks import NO_TIMESTAMP
from driftwarden.stream.service.delivery import Owner

__all__ = ["TimeAligner", "timestamps_of"]

_TIMESTAMP = methodcaller("timestamp")  # (type, ms); type 0: none


def timestamps_of(messages: list[Message]) -> npt.NDArray[np.int64]:
    """Each message's timestamp in ms (``NO_TIMESTAMP`` when the broker gave none)."""
    if not messages:
        return np.empty(0, dtype=np.int64)
    flat = np.fromiter(
        chain.from_iterable(map(_TIMESTAMP, messages)), dtype=np.int64, count=2 * len(messages)
    )
    return np.where(flat[0::2] != 0, flat[1::2], NO_TIMESTAMP)


@dataclass(slots=True)
class _Held:
    messages: list[Message] = field(default_factory=list)
    stamps: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    empty_since: float | None = None
    last_stamp: int = NO_TIMESTAMP


class TimeAligner:
    """Holds consumed records per partition and releases them in event-time order.

    ``has_more(owner)`` says whether the broker holds records of the partition that were not
    consumed yet (its position is behind its high watermark).

    >>> class Msg:
    ...     def __init__(self, ts): self.ts = ts
    ...     def timestamp(self): return (1, self.ts)
    >>> aligner = TimeAligner(max_wait_s=60.0)
    >>> aligner.add(("t", 0), [Msg(1), Msg(2), Msg(9)])
    >>> aligner.add(("t", 1), [Msg(3), Msg(4)])
    >>> [(owner[1], len(m)) for owner, m, _ in aligner.release(lambda owner: False, now=0.0)]
    [(0, 2), (1, 2)]
    >>> [(owner[1], len(m)) for owner, m, _ in aligner.release(lambda owner: True, now=1.0)]
    []
    >>> [(owner[1], len(m)) for owner, m, _ in aligner.release(lambda owner: False, now=2.0)]
    [(0, 1)]
    """

    def __init__(self, max_wait_s: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.max_wait_s = max_wait_s
        self.clock = clock
        self._held: dict[Owner, _Held] = {}

    @property
    def held(self) -> int:
        """Records consumed and not yet released."""
        return sum(len(h.messages) for h in self._held.values())

    def track(self, owner: Owner) -> None:
        """A partition now assigned: until it delivers (or ``max_wait_s`` passes) while the
        broker has records of it, it holds the others back."""
        self._held.setdefault(owner, _Held(empty_since=self.clock()))

    def add(self, owner: Owner, messages: list[Message]) -> None:
        """Hold a partition's newly consumed records (in offset order)."""
        held = self._held.setdefault(owner, _Held())
        stamps = timestamps_of(messages)
        held.messages.extend(messages)
        held.stamps = np.concatenate((held.stamps, stamps)) if held.stamps.size else stamps
        held.empty_since = None

    def forget(self, owner: Owner) -> None:
        """Drop a partition's held records (revoked, lost or rewound: they are consumed
        again from its snapshot's offset)."""
        self._held.pop(owner, None)

    def release(
        self, has_more: Callable[[Owner], bool], now: float | None = None
    ) -> list[tuple[Owner, list[Message], npt.NDArray[np.int64]]]:
        """The records that may go now, per partition, ordered by their first timestamp,
        with their timestamps (``timestamps_of``)."""
        at = self.clock() if now is None else now
        horizon: int | None = None
        for owner, held in self._held.items():
            if held.messages:
                last = int(held.stamps[-1])
            elif has_more(owner):
                if held.empty_since is None:
                    held.empty_since = at
                if at - held.empty_since >= self.max_wait_s:
                    continue  # it lags yet delivers nothing: do not hold the others for it
                last = held.last_stamp
            else:
                continue
            horizon = last if horizon is None else min(horizon, last)
        if horizon is None:
            return []
        released: list[tuple[int, Owner, list[Message], npt.NDArray[np.int64]]] = []
        for owner, held in self._held.items():
            if not held.messages:
                continue
            later = np.flatnonzero(held.stamps > horizon)
            cut = int(later[0]) if later.size else len(held.messages)
            if cut == 0:
                continue
            released.append((int(held.stamps[0]), owner, held.messages[:cut], held.stamps[:cut]))
            held.last_stamp = int(held.stamps[cut - 1])
            held.messages = held.messages[cut:]
            held.stamps = held.stamps[cut:]
            if not held.messages:
                held.empty_since = at
        released.sort(key=lambda item: item[0])
        return [(owner, messages, stamps) for _, owner, messages, stamps in released]
