"""Seeded inference-log records for the end-to-end benchmarks, and their reference profile.

Each record is what a model server logs per request::

    {"request_id": "5f0c…", "ts": "2026-11-29T07:00:00.123Z", "model_version": "v3",
     "features": {"amount": 12.34, "age": 41, …, "country": "FR", …}}

The default width is 20 numeric features (16 floats of different scales and precisions,
4 integer counts; two of them null in 1 % of records) and 5 categorical features (Zipf-like
mixes of 3 to 200 labels). ``Widths(n_numeric, n_categorical)`` scales the same pattern
to any width (``bench/scaling.py``). Records of one seed are the same on every run; the
training set of the profile is drawn from another seed of the same generator, so the live
stream is in-distribution (a few false alarms at most, no drift).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

__all__ = ["Widths", "build_profile", "record_chunks", "training_file"]

REPO_DIR = Path(__file__).resolve().parent.parent
CHUNK = 20_000
_NULL_SHARE = 0.01
_CARDINALITIES = (3, 8, 30, 200, 12)


@dataclass(frozen=True, slots=True)
class Widths:
    """Numbers of numeric and categorical features per record.

    >>> Widths(20, 5).names()[:3], Widths(20, 5).names()[-1]
    (['f00_float', 'f01_float', 'f02_float'], 'c04_cat')
    """

    n_numeric: int = 20
    n_categorical: int = 5

    def numeric_names(self) -> list[str]:
        """Names of the numeric features: every fifth one is an integer count."""
        return [f"f{i:02d}_{'count' if i % 5 == 4 else 'float'}" for i in range(self.n_numeric)]

    def categorical_names(self) -> list[str]:
        """Names of the categorical features."""
        return [f"c{i:02d}_cat" for i in range(self.n_categorical)]

    def names(self) -> list[str]:
        """Every feature name, numeric first."""
        return self.numeric_names() + self.categorical_names()


def _labels(cardinality: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.array([f"label_{j:03d}" for j in range(cardinality)], dtype=object)
    weights = 1.0 / np.arange(1, cardinality + 1) ** 1.1
    return labels, weights / weights.sum()


def _chunk(rng: np.random.Generator, widths: Widths, n: int, first: int) -> list[bytes]:
    """``n`` encoded records; ``first`` numbers the request ids and timestamps."""
    numeric: list[list[float | int | None]] = []
    for i in range(widths.n_numeric):
        kind = i % 5
        if kind == 4:  # an integer count
            column: np.ndarray = rng.poisson(3.0 + i, n)
        elif kind == 0:  # a price: two decimals, lognormal
            column = np.round(rng.lognormal(3.0 + i % 3, 0.6, n), 2)
        elif kind == 1:  # a model score, full precision
            column = rng.beta(2.0, 5.0, n)
        else:  # an embedding-like or normalised value, full precision
            column = rng.normal(10.0 * i, 1.0 + i, n)
        values: list[float | int | None] = column.tolist()
        if i in (1, 7):  # two features are sometimes missing (null)
            for j in np.flatnonzero(rng.random(n) < _NULL_SHARE).tolist():
                values[j] = None
        numeric.append(values)
    categorical: list[list[str]] = []
    for i in range(widths.n_categorical):
        labels, weights = _labels(_CARDINALITIES[i % len(_CARDINALITIES)])
        categorical.append(labels[rng.choice(len(labels), n, p=weights)].tolist())
    names = widths.names()
    ids = rng.integers(0, 2**63, n).tolist()
    encode = msgspec.json.Encoder().encode
    out = []
    for j, features in enumerate(zip(*numeric, *categorical, strict=True)):
        k = first + j
        record = {
            "request_id": f"{ids[j]:016x}",
            "ts": f"2026-11-29T{k // 3_600_000 % 24:02d}:{k // 60_000 % 60:02d}:"
            f"{k // 1000 % 60:02d}.{k % 1000:03d}Z",
            "model_version": "v3",
            "features": dict(zip(names, features, strict=True)),
        }
        out.append(encode(record))
    return out


def record_chunks(n: int, seed: int, widths: Widths = Widths()) -> Iterator[list[bytes]]:
    """``n`` encoded records of ``seed``, in lists of up to ``CHUNK``.

    >>> first = next(record_chunks(2, seed=1))
    >>> len(first), msgspec.json.decode(first[0])["features"]["c00_cat"]
    (2, 'label_001')
    """
    rng = np.random.default_rng(seed)
    for start in range(0, n, CHUNK):
        yield _chunk(rng, widths, min(CHUNK, n - start), start)


def training_file(folder: Path, n: int, seed: int, widths: Widths = Widths()) -> Path:
    """A JSON Lines training set (``n`` records of ``seed``), written once and then reused."""
    path = folder / f"train-n{n}-s{seed}-w{widths.n_numeric}x{widths.n_categorical}.jsonl"
    if not path.exists():
        partial = path.with_suffix(".partial")
        with partial.open("wb") as out:
            for chunk in record_chunks(n, seed, widths):
                out.write(b"\n".join(chunk) + b"\n")
        partial.rename(path)
    return path


def build_profile(folder: Path, n: int, seed: int, widths: Widths = Widths()) -> Path:
    """The reference profile of ``n`` training records, built by ``driftwarden profile build``
    (as a user would) and reused when already built."""
    train = training_file(folder, n, seed, widths)
    profile = train.with_suffix(".profile.json")
    if not profile.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "driftwarden.stream.cli",
                "profile",
                "build",
                str(train),
                "--features-path",
                "features",
                "-o",
                str(profile),
            ],
            cwd=REPO_DIR,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return profile
