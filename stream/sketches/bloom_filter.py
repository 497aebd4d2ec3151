"""RowHashFilter: a scalable Bloom filter of 64-bit row hashes, and its ``.rowhashes`` file.

The filter answers "was this row (probably) in the training data?" with no false negatives
and a false-positive rate below ``target_fpr`` however many rows are added, at about
1.2 to 3.5 bytes per row (for the default 1 %). It is a chain of Bloom filters: filter ``i``
holds ``initial_capacity * 2**i`` rows with a design false-positive rate of
``0.8 * target_fpr / 2**(i + 1)``, so the rates sum to less than ``target_fpr``; a new filter is
opened when the last one is full. Bits are set and tested for a whole array of hashes at
once (numpy); the hashes must already be well mixed (``row_hash.row_hashes``).

Bit positions for a hash ``h`` in a filter of ``m`` bits and ``k`` probes:
``(h + j * (splitmix64(h ^ 0x2545F4914F6CDD1D) | 1)) mod m`` for ``j = 0 .. k - 1``
(uint64 arithmetic); bit ``p`` is bit ``p % 64`` of little-endian word ``p // 64``.

File layout (``<profile>.rowhashes``): the 8 bytes ``DWROWHF1``; a little-endian uint32
``L``; ``L`` bytes of UTF-8 JSON header ``{"scheme", "columns", "target_fpr", "n_added",
"filters": [{"m_bits", "k", "capacity", "count"}, ...]}``; then each filter's
``m_bits / 64`` little-endian uint64 words, in header order.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import numpy.typing as npt

from driftwarden.stream.sketches.hashing import ROW_HASH_SCHEME, splitmix64

__all__ = ["ROWHASH_MAGIC", "RowHashFilter"]

ROWHASH_MAGIC = b"DWROWHF1"
_SALT = np.uint64(0x2545F4914F6CDD1D)
# The design rates sum to 80 % of the target, which leaves room for rounding k and m.
_HEADROOM = 0.8


@dataclass(slots=True)
class _Stage:
    m_bits: int
    k: int
    capacity: int
    count: int
    words: npt.NDArray[np.uint64]

    @classmethod
    def sized(cls, capacity: int, fpr: float) -> _Stage:
        m_bits = max(64, math.ceil(capacity * -math.log(fpr) / math.log(2) ** 2 / 64) * 64)
        k = max(1, round(m_bits / capacity * math.log(2)))
        return cls(m_bits, k, capacity, 0, np.zeros(m_bits // 64, dtype=np.uint64))

    def positions(self, hashes: npt.NDArray[np.uint64]) -> list[npt.NDArray[np.uint64]]:
        step = splitmix64(hashes ^ _SALT) | np.uint64(1)
        m = np.uint64(self.m_bits)
        return [(hashes + np.uint64(j) * step) % m for j in range(self.k)]

    def add(self, hashes: npt.NDArray[np.uint64]) -> None:
        for pos in self.positions(hashes):
            bits = np.left_shift(np.uint64(1), pos & np.uint64(63))
            np.bitwise_or.at(self.words, (pos >> np.uint64(6)).astype(np.intp), bits)
        self.count += hashes.size

    def contains(self, hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        found = np.ones(hashes.size, dtype=np.bool_)
        for pos in self.positions(hashes):
            word = self.words[(pos >> np.uint64(6)).astype(np.intp)]
            found &= ((word >> (pos & np.uint64(63))) & np.uint64(1)).astype(np.bool_)
        return found

    def false_positive_rate(self) -> float:
        return float((1.0 - math.exp(-self.k * self.count / self.m_bits)) ** self.k)


class RowHashFilter:
    """A growing Bloom filter of row hashes (see the module docstring for the layout).

    ``columns`` records which features the hashes cover, so that a reader hashes its rows
    the same way.

    >>> import numpy as np
    >>> from driftwarden.stream.sketches.hashing import splitmix64
    >>> rows = RowHashFilter(columns=["x", "c"], target_fpr=0.01, initial_capacity=1000)
    >>> rows.add(splitmix64(np.arange(5000, dtype=np.uint64)))
    >>> len(rows.stages), rows.n_added
    (3, 5000)
    >>> rows.contains(splitmix64(np.arange(5000, dtype=np.uint64))).all()
    np.True_
    >>> unseen = splitmix64(np.arange(10**6, 10**6 + 20_000, dtype=np.uint64))
    >>> float(rows.contains(unseen).mean()), round(rows.false_positive_bound(), 4)
    (0.00605, 0.0059)
    """

    def __init__(
        self,
        columns: list[str] | None = None,
        target_fpr: float = 0.01,
        initial_capacity: int = 65_536,
    ) -> None:
        if not 0.0 < target_fpr < 1.0:
            raise ValueError(f"target_fpr must be in (0, 1), got {target_fpr}")
        if initial_capacity < 1:
            raise ValueError(f"initial_capacity must be positive, got {initial_capacity}")
        self.columns = list(columns or [])
        self.target_fpr = target_fpr
        self.initial_capacity = initial_capacity
        self.stages: list[_Stage] = []

    @property
    def n_added(self) -> int:
        """Hashes added (duplicates included)."""
        return sum(stage.count for stage in self.stages)

    @property
    def n_bytes(self) -> int:
        """Memory held by the bit arrays."""
        return sum(stage.words.nbytes for stage in self.stages)

    def add(self, hashes: npt.NDArray[np.uint64]) -> None:
        """Add an array of row hashes."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        while hashes.size:
            if not self.stages or self.stages[-1].count >= self.stages[-1].capacity:
                i = len(self.stages)
                self.stages.append(
                    _Stage.sized(
                        self.initial_capacity * 2**i, _HEADROOM * self.target_fpr / 2 ** (i + 1)
                    )
                )
            stage = self.stages[-1]
            room = stage.capacity - stage.count
            stage.add(hashes[:room])
            hashes = hashes[room:]

    def contains(self, hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        """For each hash, whether it may have been added (False is certain)."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        found = np.zeros(hashes.size, dtype=np.bool_)
        for stage in self.stages:
            found |= stage.contains(hashes)
        return found

    def false_positive_bound(self) -> float:
        """The false-positive probability of ``contains`` given the current fill."""
        miss = 1.0
        for stage in self.stages:
            miss *= 1.0 - stage.false_positive_rate()
        return 1.0 - miss

    def merge(self, other: RowHashFilter) -> None:
        """Absorb ``other`` (the union of both row sets; false-positive bounds add up)."""
        if other.columns != self.columns:
            raise ValueError("row-hash filters over different features cannot be merged")
        self.stages.extend(
            _Stage(s.m_bits, s.k, s.capacity, s.count, s.words.copy()) for s in other.stages
        )
        self.target_fpr = min(0.999, self.target_fpr + other.target_fpr)

    def to_bytes(self) -> bytes:
        """The ``.rowhashes`` file content."""
        header = {
            "scheme": ROW_HASH_SCHEME,
            "columns": self.columns,
            "target_fpr": self.target_fpr,
            "initial_capacity": self.initial_capacity,
            "n_added": self.n_added,
            "filters": [
                {"m_bits": s.m_bits, "k": s.k, "capacity": s.capacity, "count": s.count}
                for s in self.stages
            ],
        }
        encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
        words = b"".join(stage.words.astype("<u8").tobytes() for stage in self.stages)
        return ROWHASH_MAGIC + struct.pack("<I", len(encoded)) + encoded + words

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Read ``to_bytes()`` output; ValueError when it is not a row-hash file."""
        if data[:8] != ROWHASH_MAGIC or len(data) < 12:
            raise ValueError("not a driftwarden .rowhashes file (bad magic bytes)")
        (length,) = struct.unpack("<I", data[8:12])
        header = json.loads(data[12 : 12 + length].decode("utf-8"))
        if header.get("scheme") != ROW_HASH_SCHEME:
            raise ValueError(f"unsupported row-hash scheme {header.get('scheme')!r}")
        rows = cls(header["columns"], header["target_fpr"], header["initial_capacity"])
        offset = 12 + length
        for spec in header["filters"]:
            n_bytes = spec["m_bits"] // 8
            words = np.frombuffer(data[offset : offset + n_bytes], dtype="<u8")
            if words.size * 8 != n_bytes:
                raise ValueError("truncated .rowhashes file")
            rows.stages.append(
                _Stage(
                    spec["m_bits"],
                    spec["k"],
                    spec["capacity"],
                    spec["count"],
                    words.astype(np.uint64),
                )
            )
            offset += n_bytes
        return rows

    def write(self, path: str | Path) -> None:
        """Write the filter to ``path``."""
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def read(cls, path: str | Path) -> Self:
        """Read a filter written by ``write``."""
        return cls.from_bytes(Path(path).read_bytes())
