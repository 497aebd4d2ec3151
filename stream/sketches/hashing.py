"""Stable 64-bit hashes of values and rows, scheme ``driftwarden-row-v1``, for overlap and
leakage checks (``driftwarden.stream.profiling.row_hashes`` hashes whole rows with them).

The hash is stable across processes, machines and Python versions (never Python's salted
``hash()``), so training rows hashed today can be compared with live rows hashed tomorrow.
Types are normalised first, so ``1``, ``1.0``, ``"1"`` and ``"1.00"`` are the same value.

Definition (enough to reimplement it elsewhere):

- ``splitmix64(x)``: ``z = x + 0x9E3779B97F4A7C15; z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9;
  z = (z ^ z >> 27) * 0x94D049BB133111EB; z ^ z >> 31``, all modulo 2**64.
- ``string_hash(s)``: BLAKE2b of the UTF-8 bytes of ``s`` with an 8-byte digest, read as a
  little-endian unsigned integer.
- value hash: a finite number ``x`` (``-0.0`` read as ``0.0``) hashes to
  ``splitmix64(IEEE-754 bits of x as float64)``; a string that parses as a finite number
  hashes as that number; any other string ``s`` to ``string_hash(s)``; booleans are the
  strings ``"true"`` / ``"false"``. Null and absent values have no hash.
- cell hash of feature ``name`` with value ``v``: ``splitmix64(value_hash(v) ^ string_hash(name))``.
- row hash: ``splitmix64(sum of the cell hashes of the row's non-null cells mod 2**64)``.

Because null cells add nothing and the sum commutes, the row hash depends neither on the
order of the features nor on features the row does not have.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "ROW_HASH_SCHEME",
    "number_hashes",
    "splitmix64",
    "string_hash",
    "value_hash",
]

ROW_HASH_SCHEME = "driftwarden-row-v1"

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The splitmix64 finaliser of every element (wrapping uint64 arithmetic).

    >>> import numpy as np
    >>> hex(int(splitmix64(np.array([0], dtype=np.uint64))[0]))
    '0xe220a8397b1dcdaf'
    """
    z = np.asarray(x, dtype=np.uint64) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def string_hash(text: str) -> int:
    """BLAKE2b-64 of the UTF-8 bytes of ``text``, as an unsigned integer.

    >>> hex(string_hash("FR"))
    '0xafa7e5d88f22aaec'
    """
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def number_hashes(values: npt.NDArray[np.float64]) -> npt.NDArray[np.uint64]:
    """Value hashes of float64 numbers (meaningless where a value is NaN).

    >>> import numpy as np
    >>> a, b = number_hashes(np.array([0.0, -0.0]))
    >>> bool(a == b), hex(int(a))
    (True, '0xe220a8397b1dcdaf')
    """
    bits = (np.asarray(values, dtype=np.float64) + 0.0).view(np.uint64)
    return splitmix64(bits)


def value_hash(label: str | None) -> int | None:
    """The value hash of a category label (None for null); number-like labels hash as numbers.

    >>> value_hash("2") == value_hash("2.0") == value_hash("2e0"), value_hash(None)
    (True, None)
    """
    if label is None:
        return None
    try:
        number = float(label)
    except ValueError:
        return string_hash(label)
    if not math.isfinite(number):
        return string_hash(label)
    return int(number_hashes(np.array([number]))[0])
