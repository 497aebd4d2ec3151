"""Planted drifts for the alert-quality benchmark: a training sample and a live stream that
changes at a known 0-based record ``t0`` by a known size (truth for a 1-based ``onset_at`` is
``t0 + 1``), on N(0, 1) noise or a stationary AR(1) with that marginal; benign companion
features; and the PSI each planted shape really has.

>>> drift = planted("mean_shift_1sigma", seed=3, t0=1000, n=3000)
>>> drift.finding, drift.t0, drift.size, round(float(drift.live[1000:].mean()), 1)
('mean_shift', 1000, {'mean_shift_sigma': 1.0}, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from bench.stream_shapes import (
    TRAINING,
    Column,
    Columns,
    Floats,
    Labels,
    RotatingMix,
    Seed,
    ar1_latent,
    ar1_normal,
    labels_of,
    production,
    rotating_categories,
)
from driftwarden.detectors.feature_batch import Kind
from driftwarden.detectors.histogram_reference import HistogramReference
from driftwarden.detectors.window_stats import psi

__all__ = [
    "PLANTED",
    "PlantedDrift",
    "category_psi",
    "companion_features",
    "histogram_psi",
    "planted",
    "planted_psi",
]


MIX_P0 = np.array([0.30, 0.20, 0.14, 0.10, 0.09, 0.07, 0.06, 0.04])
MIX_LABELS = labels_of([f"c{i}" for i in range(MIX_P0.size)])
# PSI(p0, p1) = 0.295 for p1 = 0.56 p0 + 0.44 reversed(p0).
MIX_P1 = 0.56 * MIX_P0 + 0.44 * MIX_P0[::-1]
NOVEL_LABEL = "c_new"
SHAPE_SD = 1.55  # N(0, 1) -> N(0, 1.55²): PSI ≈ 0.29 on 20 training-quantile bins
MIX_MODE = 0.89  # ±0.89 + N(0, 1 - 0.89²): mean 0, variance 1, PSI ≈ 0.30
RAMP = 20_000
RETURN_AFTER = 30_000


@dataclass(frozen=True, slots=True)
class PlantedDrift:
    """A training sample and a live stream that changes at 0-based record ``t0``.

    ``finding`` is the FindingKind value expected to open the incident; ``returns_at`` is
    the 0-based record where the live data is back to training (None: it stays changed).
    """

    name: str
    kind: Kind
    finding: str
    t0: int
    size: dict[str, float]
    training: Column
    live: Column
    returns_at: int | None = None


def _categories(p: Floats, u: Floats) -> Labels:
    codes = np.minimum(np.searchsorted(np.cumsum(p), u, side="right"), p.size - 1)
    return MIX_LABELS[codes]


def _plant(
    name: str, z: Floats, t0: int, rng: np.random.Generator, training: Column
) -> tuple[Column, dict[str, float], int | None]:
    """The live column of drift ``name`` on the base noise ``z`` (N(0, 1) marginal)."""
    x = z.copy()
    after = slice(t0, None)
    changed = z.size - t0
    if name in ("mean_shift_1sigma", "mean_shift_0.5sigma"):
        sigma = 1.0 if name == "mean_shift_1sigma" else 0.5
        x[after] += sigma
        return x, {"mean_shift_sigma": sigma}, None
    if name == "numeric_shape":
        x[after] *= SHAPE_SD
        return x, {"sd_ratio": SHAPE_SD}, None
    if name == "numeric_mix":
        sign = np.where(rng.random(changed) < 0.5, -1.0, 1.0)
        x[after] = sign * MIX_MODE + np.sqrt(1.0 - MIX_MODE**2) * z[after]
        return x, {"mode": MIX_MODE}, None
    if name == "null_rate":
        x[after][rng.random(changed) < 0.05] = np.nan
        return x, {"null_share": 0.05}, None
    if name == "out_of_range":
        beyond = rng.random(changed) < 0.03
        top = np.nextafter(float(np.max(training)), np.inf)
        x[after][beyond] = top + rng.exponential(1.0, int(beyond.sum()))
        return x, {"share_beyond_max": 0.03}, None
    if name == "gradual_mean_shift":
        x[after] += np.minimum(np.arange(1, changed + 1) / RAMP, 1.0)
        return x, {"mean_shift_sigma": 1.0, "ramp_records": RAMP}, None
    if name == "mean_shift_returns":
        x[t0 : t0 + RETURN_AFTER] += 1.0
        return x, {"mean_shift_sigma": 1.0, "records": RETURN_AFTER}, t0 + RETURN_AFTER
    u = ndtr(z)
    if name == "categorical_mix":
        live = _categories(MIX_P0, u)
        live[after] = _categories(MIX_P1, u[after])
        return live, {"psi": psi(MIX_P0, MIX_P1)}, None
    if name == "novel_category":
        live = _categories(MIX_P0, u)
        novel = u[after] < 0.02
        live[after] = np.where(novel, NOVEL_LABEL, _categories(MIX_P0, (u[after] - 0.02) / 0.98))
        return live, {"novel_share": 0.02}, None
    raise ValueError(f"unknown planted drift {name!r}: choose one of {sorted(PLANTED)}")


# name -> (kind, FindingKind value expected to open the incident)
PLANTED: dict[str, tuple[Kind, str]] = {
    "mean_shift_1sigma": ("numeric", "mean_shift"),
    "mean_shift_0.5sigma": ("numeric", "mean_shift"),
    "numeric_shape": ("numeric", "distribution_shift"),
    "numeric_mix": ("numeric", "distribution_shift"),
    "categorical_mix": ("categorical", "distribution_shift"),
    "novel_category": ("categorical", "novel_category"),
    "null_rate": ("numeric", "null_rate"),
    "out_of_range": ("numeric", "out_of_range"),
    "gradual_mean_shift": ("numeric", "mean_shift"),
    "mean_shift_returns": ("numeric", "mean_shift"),
}


def planted(
    name: str, seed: Seed, t0: int, n: int, base_rho: float = 0.0, n_training: int = TRAINING
) -> PlantedDrift:
    """Drift ``name`` starting at 0-based record ``t0`` of an ``n``-record live stream whose
    base noise is AR(1) with ``base_rho`` (0: iid); categorical drifts map that base through
    the category quantiles (a Gaussian copula)."""
    if name not in PLANTED:
        raise ValueError(f"unknown planted drift {name!r}: choose one of {sorted(PLANTED)}")
    kind, finding = PLANTED[name]
    training_rng, base_rng, change_rng = np.random.default_rng(seed).spawn(3)
    training: Column = (
        training_rng.standard_normal(n_training)
        if kind == "numeric"
        else _categories(MIX_P0, training_rng.random(n_training))
    )
    z = np.concatenate(list(ar1_latent(base_rng, n, base_rho, chunk=max(n, 1))))
    live, size, returns_at = _plant(name, z, t0, change_rng, training)
    return PlantedDrift(name, kind, finding, t0, size, training, live, returns_at)


def companion_features(seed: Seed, n: int, n_training: int = TRAINING) -> tuple[Columns, Columns]:
    """Benign companions of a planted feature (iid N(0, 1), AR(1) rho 0.5, iid categories):
    training columns and live columns."""
    shapes = {
        "companion_iid": ar1_normal(0.0),
        "companion_ar50": ar1_normal(0.5),
        "companion_cat": rotating_categories(RotatingMix(max_tv=0.0), stickiness=0.0),
    }
    training, chunks = production(seed, n, shapes, chunk=max(n, 1))
    return training, next(chunks)


# PSI of the planted shapes --------------------------------------------------------------------


def histogram_psi(training: Column, live: Column, bins: int = 20) -> float:
    """PSI of finite ``live`` values in the full bins of ``HistogramReference.from_values``."""
    reference = HistogramReference.from_values(training, bins)
    values = live[np.isfinite(live)]
    counts = np.bincount(
        np.searchsorted(reference.search_edges, values, side="right"),
        minlength=reference.counts.size,
    )
    return psi(reference.counts, counts)


def category_psi(training: Column, live: Column) -> float:
    """PSI between the category counts of two label samples (union of categories)."""
    names, codes = np.unique(np.concatenate([training, live]).astype(str), return_inverse=True)
    ref = np.bincount(codes[: training.size], minlength=names.size)
    now = np.bincount(codes[training.size :], minlength=names.size)
    return psi(ref, now)


def planted_psi(name: str, seed: Seed = 2026, n: int = 2_000_000) -> float:
    """PSI of the changed live data of drift ``name`` against its training sample (a stream
    of ``n`` records changed from the first; a drift that returns counts its changed part)."""
    drift = planted(name, seed, 0, n)
    changed = drift.live[: drift.returns_at]
    if drift.kind == "categorical":
        return category_psi(drift.training, changed)
    return histogram_psi(drift.training, changed)
