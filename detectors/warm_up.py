"""Compile the detectors' kernels before a stream needs them.

numba compiles each kernel at its first call (and caches the result next to the package), so
without this the first batch of a fresh install pays several seconds of compiling: long
enough for a consumer to fall behind its group, or for a broker outage in that window to
catch the service mid-compile. ``compile_kernels`` runs a small synthetic stream, with a
shift, nulls and a novel category, through a ``DetectorBank``, which reaches every kernel of
the default detectors and of the incidents' pane evidence.
"""

from __future__ import annotations

import time

import numpy as np

from driftwarden.detectors.bank import DetectorBank
from driftwarden.detectors.feature_batch import FeatureBatch, SourcePositions
from driftwarden.detectors.histogram_reference import HistogramReference
from driftwarden.detectors.profile import (
    CategoricalSummary,
    FeatureProfile,
    NumericSummary,
    Profile,
)
from driftwarden.detectors.settings import DetectorSettings

__all__ = ["compile_kernels"]

_RECORDS = 6000


def compile_kernels() -> float:
    """Run the synthetic stream; return the seconds it took (well under one once cached).

    >>> compile_kernels() >= 0.0
    True
    """
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    reference = HistogramReference.from_values(rng.normal(size=_RECORDS), 20)
    numeric = NumericSummary(
        mean=0.0,
        std=1.0,
        min=reference.ref_min,
        max=reference.ref_max,
        bin_edges=reference.edges.tolist(),
        bin_counts=reference.counts.tolist(),
    )
    profile = Profile(
        n_rows=_RECORDS,
        features={
            "x": FeatureProfile(kind="numeric", count=_RECORDS, null_count=0, numeric=numeric),
            "c": FeatureProfile(
                kind="categorical",
                count=_RECORDS,
                null_count=0,
                categorical=CategoricalSummary(top={"a": 3000, "b": 3000}),
            ),
        },
    )
    bank = DetectorBank(DetectorSettings(), profile)
    labels = np.array(["a", "b", "z", None], dtype=object)
    for first, shift in ((0, 0.0), (_RECORDS, 3.0)):
        x = rng.normal(shift, 1.0, _RECORDS)
        x[::50] = np.nan
        c = labels[rng.choice(4, _RECORDS, p=[0.45, 0.45, 0.05, 0.05])]
        bank.run(
            FeatureBatch(
                _RECORDS,
                {"x": x},
                {"c": c},
                {"x": np.ones(_RECORDS, dtype=bool), "c": np.ones(_RECORDS, dtype=bool)},
                {"x": frozenset({"number", "null"}), "c": frozenset({"string", "null"})},
                SourcePositions.sequential("warm-up", _RECORDS, first),
            )
        )
    return time.perf_counter() - started
