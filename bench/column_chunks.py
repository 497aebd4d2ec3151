"""Column chunks between the two stages: Arrow IPC (what the service uses) against msgpack
with raw numpy buffers, on the benchmark's record shape (20 numeric, 5 categorical features).

Prints, per encoding, the bytes each input record adds to the columns topic and the
microseconds per record to encode a batch's chunks and to decode them back.

    python bench/column_chunks.py [--records 10000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from driftwarden.detectors.feature_batch import FeatureBatch, SourcePositions
from driftwarden.detectors.feature_split import split_by_feature
from driftwarden.stream.decoding.column_chunks import decode_chunk, encode_chunk, runs, unrun

CATEGORIES = np.array(["FR", "DE", "ES", "IT", "US", "GB", "NL", "BE"], dtype=object)


def batch_of(n: int, seed: int = 0) -> tuple[FeatureBatch, np.ndarray]:
    """A decoded batch of ``n`` records like the e2e benchmark's, and their timestamps."""
    rng = np.random.default_rng(seed)
    numeric = {f"f{i}": rng.normal(0.0, 1.0, n) for i in range(20)}
    categorical = {f"c{i}": CATEGORIES[rng.integers(0, 8, n)] for i in range(5)}
    names = [*numeric, *categorical]
    batch = FeatureBatch(
        n_records=n,
        numeric=numeric,
        categorical=categorical,
        present={name: np.ones(n, dtype=bool) for name in names},
        types={name: frozenset({"number" if name in numeric else "string"}) for name in names},
        positions=SourcePositions(
            ("features",),
            np.zeros(n, np.int32),
            np.full(n, 3, np.int32),
            np.arange(1_000_000, 1_000_000 + n, dtype=np.int64),
        ),
    )
    # A producer at ~200k records/s stamps ~200 records per millisecond.
    stamps = 1_764_900_000_000 + np.arange(n, dtype=np.int64) // 200
    return batch, stamps


def msgpack_encode(feature: str, batch: FeatureBatch, stamps: np.ndarray) -> bytes:
    """The alternative: msgpack with the numeric column as raw float64 bytes and categories
    as a dictionary plus int32 codes."""
    values: Any = None
    if feature in batch.numeric:
        values = batch.numeric[feature].tobytes()
    elif feature in batch.categorical:
        labels, codes = np.unique(batch.categorical[feature].astype(str), return_inverse=True)
        values = {"dictionary": labels.tolist(), "codes": codes.astype(np.int32).tobytes()}
    return msgspec.msgpack.encode(
        {
            "feature": feature,
            "n": batch.n_records,
            "values": values,
            "present": np.packbits(batch.present[feature]).tobytes(),
            "offsets": runs(batch.positions.offsets, 1).tobytes(),
            "timestamps": runs(stamps, 0).tobytes(),
        }
    )


def msgpack_decode(payload: bytes) -> Any:
    """Back to arrays (the object array of labels built as ``decode_chunk`` does)."""
    chunk = msgspec.msgpack.decode(payload)
    n, values = chunk["n"], chunk["values"]
    if isinstance(values, bytes):
        column: Any = np.frombuffer(values, dtype=np.float64)
    else:
        labels = np.array(values["dictionary"], dtype=object)
        column = labels[np.frombuffer(values["codes"], dtype=np.int32)]
    present = np.unpackbits(np.frombuffer(chunk["present"], np.uint8))[:n].astype(bool)
    offsets = np.frombuffer(chunk["offsets"], np.int64).reshape(-1, 2)
    stamps = np.frombuffer(chunk["timestamps"], np.int64).reshape(-1, 2)
    return column, present, unrun(offsets, n, 1), unrun(stamps, n, 0)


def measure(
    name: str,
    encode: Callable[[str, FeatureBatch, np.ndarray], bytes],
    decode: Callable[[bytes], Any],
    batch: FeatureBatch,
    stamps: np.ndarray,
    repeat: int,
) -> dict[str, float]:
    chunks = split_by_feature(batch)
    payloads = {f: encode(f, c, stamps) for f, c in chunks.items()}
    started = time.perf_counter()
    for _ in range(repeat):
        for feature, chunk in chunks.items():
            encode(feature, chunk, stamps)
    encode_s = (time.perf_counter() - started) / repeat
    started = time.perf_counter()
    for _ in range(repeat):
        for payload in payloads.values():
            decode(payload)
    decode_s = (time.perf_counter() - started) / repeat
    n = batch.n_records
    return {
        "bytes_per_record": sum(map(len, payloads.values())) / n,
        "encode_us_per_record": encode_s / n * 1e6,
        "decode_us_per_record": decode_s / n * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000, help="records per batch")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    batch, stamps = batch_of(args.records)
    print(f"batch of {args.records:,} records, 20 numeric + 5 categorical features (25 chunks)")
    print(f"{'encoding':<22}{'B/record':>10}{'encode µs/rec':>15}{'decode µs/rec':>15}")
    for name, encode, decode in (
        ("Arrow IPC (service)", encode_chunk, decode_chunk),
        ("msgpack + raw numpy", msgpack_encode, msgpack_decode),
    ):
        figures = measure(name, encode, decode, batch, stamps, args.repeat)
        print(
            f"{name:<22}{figures['bytes_per_record']:>10.1f}"
            f"{figures['encode_us_per_record']:>15.3f}{figures['decode_us_per_record']:>15.3f}"
        )
    for n in (100, 1_000):
        small, small_stamps = batch_of(n)
        figures = measure("arrow", encode_chunk, decode_chunk, small, small_stamps, args.repeat)
        print(f"Arrow IPC, batch of {n:>5,}: {figures['bytes_per_record']:.1f} B/record")


if __name__ == "__main__":
    main()
