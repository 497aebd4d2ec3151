"""Row hashes of typed training or evaluation chunks (scheme ``driftwarden-row-v1``).

The definition lives with the primitives in ``driftwarden.stream.sketches.hashing``: a row's
hash is ``splitmix64`` of the sum of its non-null cells' hashes, so it depends neither on the
order of the features nor on features the row does not have.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.category_label import category_label
from driftwarden.stream.profiling.chunk_typing import TypedChunk
from driftwarden.stream.sketches.hashing import number_hashes, splitmix64, string_hash, value_hash

__all__ = ["row_hashes"]


def row_hashes(chunk: TypedChunk, names: Iterable[str]) -> npt.NDArray[np.uint64]:
    """The row hash of every row of ``chunk`` over features ``names`` (absent ones skipped).

    >>> import numpy as np
    >>> from driftwarden.stream.profiling.chunk_typing import TypedChunk
    >>> csv_rows = TypedChunk(
    ...     path="a.csv", lines=np.array([2, 3]), text=True,
    ...     numeric={"x": np.array([1.0, np.nan])}, categorical={"c": ("7", "")},
    ... )
    >>> json_rows = TypedChunk(
    ...     path="b.jsonl", lines=np.array([1, 2]), text=False,
    ...     numeric={"x": np.array([1.0, np.nan])}, categorical={"c": [7, None]},
    ... )
    >>> a, b = row_hashes(csv_rows, ["x", "c"]), row_hashes(json_rows, ["c", "x"])
    >>> bool((a == b).all()), bool(a[0] != a[1])
    (True, True)
    """
    total = np.zeros(chunk.n_rows, dtype=np.uint64)
    for name in names:
        name_hash = np.uint64(string_hash(name))
        if name in chunk.numeric:
            values = chunk.numeric[name]
            cells = splitmix64(number_hashes(values) ^ name_hash)
            cells[np.isnan(values)] = 0
            total += cells
        elif name in chunk.categorical:
            raw = chunk.categorical[name]
            table = {value: _cell(value, name_hash, chunk.text) for value in set(raw)}
            total += np.fromiter(map(table.__getitem__, raw), dtype=np.uint64, count=len(raw))
    return splitmix64(total)


def _cell(raw_value: object, name_hash: np.uint64, text: bool) -> int:
    label = (raw_value or None) if text else category_label(raw_value)
    hashed = value_hash(label)  # type: ignore[arg-type]
    if hashed is None:
        return 0
    return int(splitmix64(np.array([hashed], dtype=np.uint64) ^ name_hash)[0])
