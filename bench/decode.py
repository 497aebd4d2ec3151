"""Decoder benchmark: records per CPU-second of ``Decoder.decode`` against the JSON decoder.

    python bench/decode.py              # 10,000-record batches, best of 7
    python bench/decode.py --quick      # fewer repeats, for `make bench`
    python bench/decode.py --json       # the same figures as one JSON object

Records are inference-log records: ``request_id``, ``ts``, ``model_version`` and a
``features`` object of 20 numeric and 5 categorical features. Figures per case:

- floor: ``msgspec.json.decode`` of each payload alone, nothing else;
- decoder: ``Decoder.decode`` (``features_path="features"``, ``ignore=["request_id", "ts"]``,
  ``decoder="auto"``: the compiled scanner first), and its ratio to the floor;
- msgspec path: the same decoder with ``decoder="msgspec"`` (typed structs and dicts, never
  the scanner), and the scanner's gain: decoder / msgspec path (above 1: the scanner earns
  its place).

Cases:

- dense: every record has every feature;
- dense_no_fast: the same with ``fast_path=False`` (neither scanner nor structs: records
  decoded into dicts; no msgspec-path figure);
- sparse: one feature in ten left out of each record at random;
- one_malformed: dense with one malformed record per batch (its chunk of 1024 records is
  decoded again, one by one).

The decoder is warmed up first (the warm-up run teaches it the fields), as in a service.

Times are CPU seconds of this process (``time.process_time``), best of ``--repeat`` runs after
a warm-up run, so other load on the machine matters less.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import msgspec
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measured_process import cpu_seconds
from driftwarden.detectors.feature_batch import SourcePositions
from driftwarden.stream.decoding.decoder import Decoder, DecoderChoice

N_NUMERIC = 20
N_CATEGORICAL = 5
BATCH = 10_000


def payloads(n: int, *, drop_share: float = 0.0, seed: int = 1) -> list[bytes]:
    """``n`` encoded inference-log records; ``drop_share`` of features left out at random."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(50.0, 10.0, (n, N_NUMERIC))
    categories = rng.integers(0, 30, (n, N_CATEGORICAL))
    dropped = rng.random((n, N_NUMERIC + N_CATEGORICAL)) < drop_share
    encode = msgspec.json.Encoder().encode
    out = []
    for i in range(n):
        features: dict[str, object] = {f"x{j}": float(numeric[i, j]) for j in range(N_NUMERIC)}
        features.update({f"k{j}": f"c{categories[i, j]}" for j in range(N_CATEGORICAL)})
        for j, name in enumerate(list(features)):
            if dropped[i, j]:
                del features[name]
        record = {
            "request_id": f"req-{seed}-{i:08d}",
            "ts": f"2026-11-29T07:{i // 60 % 60:02d}:{i % 60:02d}.123Z",
            "model_version": "v3",
            "features": features,
        }
        out.append(encode(record))
    return out


def decode_each(batch: list[bytes]) -> list[object]:
    """The floor: ``msgspec.json.decode`` of each payload alone (a failure costs its try)."""
    decode = msgspec.json.decode
    out: list[object] = []
    for payload in batch:
        try:
            out.append(decode(payload))
        except msgspec.DecodeError as error:
            out.append(error)
    return out


def decoder_seconds(
    batch: list[bytes], repeat: int, *, fast_path: bool, decoder: DecoderChoice
) -> float:
    """Best CPU seconds of ``Decoder.decode`` on ``batch``, checked to accept the records."""
    ours = Decoder(
        features_path="features",
        ignore=["request_id", "ts"],
        fast_path=fast_path,
        decoder=decoder,
    )
    positions = SourcePositions.sequential("inference", len(batch))
    seconds = cpu_seconds(lambda: ours.decode(batch, positions), repeat)
    result = ours.decode(batch, positions)
    assert result.batch is not None and len(result.rejected) <= 1
    return seconds


def measure(batch: list[bytes], repeat: int, *, fast_path: bool = True) -> dict[str, float]:
    """Records per CPU-second of the floor, of ``Decoder.decode`` and (with the fast path) of
    the same decoder without the scanner, on ``batch``."""
    floor = cpu_seconds(lambda: decode_each(batch), repeat)
    auto = decoder_seconds(batch, repeat, fast_path=fast_path, decoder="auto")
    figures = {
        "floor_records_per_s": len(batch) / floor,
        "decoder_records_per_s": len(batch) / auto,
        "ratio": floor / auto,
    }
    if fast_path:
        msgspec_path = decoder_seconds(batch, repeat, fast_path=True, decoder="msgspec")
        figures["msgspec_path_records_per_s"] = len(batch) / msgspec_path
        figures["scanner_gain"] = msgspec_path / auto
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--repeat", type=int, default=7, help="runs per figure (best is kept)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    repeat = 2 if args.quick else args.repeat
    dense = payloads(BATCH)
    sparse = payloads(BATCH, drop_share=0.1, seed=2)
    poisoned = [*dense[:-1], b'{"features": {"x0": 1.0,'][:BATCH]
    figures = {
        "dense": measure(dense, repeat),
        "dense_no_fast": measure(dense, repeat, fast_path=False),
        "sparse": measure(sparse, repeat),
        "one_malformed": measure(poisoned, repeat),
    }
    if args.json:
        print(json.dumps({"batch": BATCH, "cases": figures}))
        return
    print(
        f"decode: {BATCH:,}-record batches, {N_NUMERIC} numeric + {N_CATEGORICAL} categorical "
        f"features; {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, msgspec {msgspec.__version__}"
    )
    print(
        f"{'case':<14} {'floor rec/s':>12} {'decoder rec/s':>14} {'ratio':>6} "
        f"{'msgspec path':>13} {'scanner':>8}"
    )
    print(f"{'':<14} {'(msgspec)':>12} {'(auto)':>14} {'':>6} {'rec/s':>13} {'gain':>8}")
    for case, figure in figures.items():
        msgspec_path, gain = "-", "-"
        if "scanner_gain" in figure:
            msgspec_path = f"{figure['msgspec_path_records_per_s']:,.0f}"
            gain = f"{figure['scanner_gain']:.2f}"
        print(
            f"{case:<14} {figure['floor_records_per_s']:>12,.0f} "
            f"{figure['decoder_records_per_s']:>14,.0f} {figure['ratio']:>6.2f} "
            f"{msgspec_path:>13} {gain:>8}"
        )


if __name__ == "__main__":
    main()
