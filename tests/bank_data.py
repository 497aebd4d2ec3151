"""Seeded feature streams and profiles for the DetectorBank tests and benchmarks."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.feature_batch import FeatureBatch, SourcePositions
from driftwarden.detectors.histogram_reference import HistogramReference
from driftwarden.detectors.profile import (
    CategoricalSummary,
    FeatureProfile,
    NumericSummary,
    Profile,
)

__all__ = ["categorical_profile", "make_batch", "numeric_profile", "split_batches"]


def numeric_profile(sample: npt.NDArray[np.float64], bins: int = 20) -> FeatureProfile:
    """The profile of a numeric training sample, with exact counts in HistogramDrift's bins."""
    reference = HistogramReference.from_values(np.asarray(sample, dtype=np.float64), bins)
    return FeatureProfile(
        kind="numeric",
        count=int(sample.size),
        null_count=0,
        numeric=NumericSummary(
            mean=float(sample.mean()),
            std=float(sample.std()),
            min=reference.ref_min,
            max=reference.ref_max,
            bin_edges=reference.edges.tolist(),
            bin_counts=reference.counts.tolist(),
        ),
    )


def categorical_profile(sample: npt.NDArray[np.object_]) -> FeatureProfile:
    """The profile of a categorical training sample (every category listed)."""
    values, counts = np.unique(sample.astype(str), return_counts=True)
    return FeatureProfile(
        kind="categorical",
        count=int(sample.size),
        null_count=0,
        categorical=CategoricalSummary(
            top={str(v): int(c) for v, c in zip(values, counts, strict=True)}
        ),
    )


def make_batch(
    numeric: dict[str, npt.NDArray[np.float64]],
    categorical: dict[str, npt.NDArray[np.object_]],
    first_offset: int = 0,
    source: str = "features",
) -> FeatureBatch:
    """A FeatureBatch where every given field is present in every record."""
    n = len(next(iter({**numeric, **categorical}.values())))
    present = {name: np.ones(n, dtype=bool) for name in [*numeric, *categorical]}
    types = {
        name: frozenset({"number", "null"} if np.isnan(v).any() else {"number"})
        for name, v in numeric.items()
    }
    types.update(
        {
            name: frozenset({"string", "null"} if (v == None).any() else {"string"})  # noqa: E711
            for name, v in categorical.items()
        }
    )
    return FeatureBatch(
        n_records=n,
        numeric=numeric,
        categorical=categorical,
        present=present,
        types=types,
        positions=SourcePositions.sequential(source, n, first_offset),
    )


def split_batches(
    numeric: dict[str, npt.NDArray[np.float64]],
    categorical: dict[str, npt.NDArray[np.object_]],
    batch_size: int,
) -> Iterator[FeatureBatch]:
    """Cut whole columns into consecutive FeatureBatches of ``batch_size`` records."""
    n = len(next(iter({**numeric, **categorical}.values())))
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        yield make_batch(
            {k: v[start:stop] for k, v in numeric.items()},
            {k: v[start:stop] for k, v in categorical.items()},
            first_offset=start,
        )


def profile_of(
    numeric: dict[str, npt.NDArray[np.float64]], categorical: dict[str, npt.NDArray[np.object_]]
) -> Profile:
    """A Profile of whole training columns."""
    features = {name: numeric_profile(v) for name, v in numeric.items()}
    features.update({name: categorical_profile(v) for name, v in categorical.items()})
    n = len(next(iter({**numeric, **categorical}.values())))
    return Profile(n_rows=n, features=features)
