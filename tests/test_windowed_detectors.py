"""The WindowedDetector contract, held by HistogramDrift, NullRate and CategoricalDrift alike:
reports do not depend on batch boundaries, and a snapshot restored through JSON goes on
exactly as the detector it came from."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from driftwarden.detectors.base import WindowedDetector
from driftwarden.detectors.categorical_drift import CategoricalDrift
from driftwarden.detectors.histogram_drift import HistogramDrift
from driftwarden.detectors.null_rate import NullRate

N = 12_345
CUTS = [0, 1, 999, 1000, 4321, 7000, 7001, N]


def _numbers(rng: np.random.Generator) -> npt.NDArray[Any]:
    values = np.concatenate([rng.normal(0, 1, N // 2), rng.normal(0.8, 1, N - N // 2)])
    values[rng.random(N) < 0.01] = np.nan
    return values


def _missing(rng: np.random.Generator) -> npt.NDArray[Any]:
    return np.concatenate([rng.random(N // 2) < 0.02, rng.random(N - N // 2) < 0.1])


def _labels(rng: np.random.Generator) -> npt.NDArray[Any]:
    labels = np.array(["a", "b", "c", "d", None], dtype=object)
    return np.concatenate(
        [
            labels[rng.choice(5, N // 2, p=[0.5, 0.3, 0.15, 0.0, 0.05])],
            labels[rng.choice(5, N - N // 2, p=[0.3, 0.3, 0.15, 0.2, 0.05])],
        ]
    )


DETECTORS: dict[str, tuple[Callable[[], WindowedDetector[Any]], Callable[..., Any]]] = {
    "histogram": (lambda: HistogramDrift(window=1000), _numbers),
    "null_rate": (lambda: NullRate(0.02, window=1000), _missing),
    "categorical": (lambda: CategoricalDrift(None, window=1000, novel_min_share=0.01), _labels),
}


def _run(detector: WindowedDetector[Any], values: npt.NDArray[Any], cuts: list[int]) -> list[Any]:
    """Reports of ``values`` fed in pieces, as (start of the piece, report) pairs."""
    return [
        (start, report)
        for start, stop in itertools.pairwise(cuts)
        for report in detector.update_many(values[start:stop])
    ]


def _global_indices(runs: list[Any]) -> list[int]:
    return [start + report.index for start, report in runs]


@pytest.mark.parametrize("name", DETECTORS)
def test_windowed_detector_reports_at_the_same_records_whatever_the_batches(name: str) -> None:
    make, data = DETECTORS[name]
    values = data(np.random.default_rng(1))

    whole = _run(make(), values, [0, N])
    pieces = _run(make(), values, CUTS)

    assert len(whole) >= 10
    assert _global_indices(pieces) == _global_indices(whole)


@pytest.mark.parametrize("name", DETECTORS)
def test_windowed_detector_restored_from_json_goes_on_like_the_original(name: str) -> None:
    make, data = DETECTORS[name]
    values = data(np.random.default_rng(2))
    original = make()
    original.update_many(values[:4321])

    restored = type(original).restore(json.loads(json.dumps(original.snapshot())))

    assert restored.update_many(values[4321:]) == original.update_many(values[4321:])
    assert restored.snapshot() == original.snapshot()
