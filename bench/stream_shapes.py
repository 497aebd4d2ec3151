"""Seeded feature streams for the alert-quality benchmark: benign shapes that carry no drift
worth an alert, and planted drifts with a known onset and size.

Benign shapes are stationary but awkward (autocorrelated, skewed, integer-valued, wandering
by a negligible amount, categories rotating within a total variation of 0.03). Each gives a
training sample and the live stream as chunks, so 10 M records never sit in memory at once;
the same seed gives the same values whatever the chunk size (AR state and the last sticky
category carry across chunks). Every random component draws from its own child generator,
which is what makes the chunking invisible.

Planted drifts start at a 0-based record index ``t0`` (truth for a 1-based ``onset_at`` is
``t0 + 1``); their base noise is N(0, 1), optionally a stationary AR(1) with that marginal.

>>> drift = planted("mean_shift_1sigma", seed=3, t0=1000, n=3000)
>>> drift.finding, drift.t0, drift.size, round(float(drift.live[1000:].mean()), 1)
('mean_shift', 1000, {'mean_shift_sigma': 1.0}, 1.0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter
from scipy.special import ndtr
from scipy.stats import poisson

from driftwarden.detectors.feature_batch import Kind
from driftwarden.detectors.histogram_reference import HistogramReference
from driftwarden.detectors.window_stats import psi

__all__ = [
    "BENIGN",
    "CHUNK",
    "PLANTED",
    "PRODUCTION",
    "BenignShape",
    "Columns",
    "PlantedDrift",
    "RotatingMix",
    "ar1_latent",
    "ar1_lognormal",
    "ar1_normal",
    "category_psi",
    "companion_features",
    "histogram_psi",
    "integer_valued",
    "mean_wander",
    "planted",
    "planted_psi",
    "production",
    "rotating_categories",
    "wander_offset",
]

Seed = int | np.random.Generator
Floats = npt.NDArray[np.float64]
Labels = npt.NDArray[np.object_]
Column = Floats | Labels
Columns = tuple[dict[str, Floats], dict[str, Labels]]

CHUNK = 100_000
TRAINING = 200_000


def ar1_latent(seed: Seed, n: int, rho: float, chunk: int = CHUNK) -> Iterator[Floats]:
    """A stationary Gaussian AR(1) with N(0, 1) marginal (innovation sd sqrt(1 - rho²)),
    started from the marginal, in chunks of ``chunk`` values.

    >>> x = np.concatenate(list(ar1_latent(5, 300_000, 0.9)))
    >>> round(float(np.corrcoef(x[:-1], x[1:])[0, 1]), 2), round(float(x.std()), 1)
    (0.9, 1.0)
    """
    rng = np.random.default_rng(seed)
    scale = np.sqrt(1.0 - rho * rho)
    last: float | None = None
    for start in range(0, n, chunk):
        innovations = rng.standard_normal(min(chunk, n - start))
        scaled = scale * innovations
        if last is None:
            scaled[0] = innovations[0]
        # lfilter's state after a value is exactly rho * value, so chunks join bit for bit.
        values, _ = lfilter([1.0], [1.0, -rho], scaled, zi=[0.0 if last is None else rho * last])
        last = float(values[-1])
        yield values


@dataclass(frozen=True, slots=True)
class BenignShape:
    """One feature's training sample (iid from the live marginal) and live chunks."""

    name: str
    kind: Kind
    training: Callable[[np.random.Generator, int], Column]
    live: Callable[[np.random.Generator, int, int], Iterator[Column]]

    def streams(
        self, seed: Seed, n_live: int, n_training: int = TRAINING, chunk: int = CHUNK
    ) -> tuple[Column, Iterator[Column]]:
        """The training sample and the live chunks, from independent children of ``seed``."""
        training_rng, live_rng = np.random.default_rng(seed).spawn(2)
        return self.training(training_rng, n_training), self.live(live_rng, n_live, chunk)


def ar1_normal(rho: float) -> BenignShape:
    """Gaussian AR(1), marginal N(0, 1); training iid N(0, 1)."""
    return BenignShape(
        f"ar1_normal_rho{rho:g}",
        "numeric",
        lambda rng, n: rng.standard_normal(n),
        lambda rng, n, chunk: ar1_latent(rng, n, rho, chunk),
    )


def ar1_lognormal(rho: float = 0.9) -> BenignShape:
    """exp of a Gaussian AR(1) latent with sigma 1; training iid lognormal(0, 1)."""
    return BenignShape(
        f"ar1_lognormal_rho{rho:g}",
        "numeric",
        lambda rng, n: np.exp(rng.standard_normal(n)),
        lambda rng, n, chunk: (np.exp(z) for z in ar1_latent(rng, n, rho, chunk)),
    )


def _poisson_quantiles(lam: float) -> Callable[[Floats], Floats]:
    # scipy's poisson.ppf costs ~2 s per million values; a search in its CDF table gives the
    # same integers (tests/test_stream_shapes.py checks) at ~1 % of the cost.
    table = poisson.cdf(np.arange(int(lam + 40.0 * np.sqrt(lam) + 40.0)), lam)
    return lambda q: np.minimum(np.searchsorted(table, q, side="left"), table.size - 1).astype(
        np.float64
    )


def integer_valued(lam: float = 3.0, rho: float = 0.8) -> BenignShape:
    """Poisson(lam) counts through a Gaussian AR(1) copula (``rho`` 0: iid); training iid."""
    quantile = _poisson_quantiles(lam)
    return BenignShape(
        f"poisson{lam:g}_copula_rho{rho:g}",
        "numeric",
        lambda rng, n: rng.poisson(lam, n).astype(np.float64),
        lambda rng, n, chunk: (quantile(ndtr(z)) for z in ar1_latent(rng, n, rho, chunk)),
    )


def wander_offset(
    t: npt.NDArray[np.int64], phases: Floats, amplitude: float, period: int
) -> Floats:
    """The mean offset at 0-based records ``t``: two sinusoids (periods ``period`` and
    0.37 × ``period``) whose amplitudes add up to ``amplitude``, so |offset| <= amplitude."""
    slow = np.sin(2.0 * np.pi * t / period + phases[0])
    fast = np.sin(2.0 * np.pi * t / (0.37 * period) + phases[1])
    return amplitude * (0.7 * slow + 0.3 * fast)


def mean_wander(amplitude: float = 0.05, period: int = 200_000) -> BenignShape:
    """N(0, 1) plus a slow mean wander bounded by ``amplitude`` σ; training iid N(0, 1)."""

    def live(rng: np.random.Generator, n: int, chunk: int) -> Iterator[Floats]:
        phase_rng, noise_rng = rng.spawn(2)
        phases = phase_rng.uniform(0.0, 2.0 * np.pi, 2)
        for start in range(0, n, chunk):
            t = np.arange(start, min(start + chunk, n))
            yield noise_rng.standard_normal(t.size) + wander_offset(t, phases, amplitude, period)

    return BenignShape(
        f"mean_wander_{amplitude:g}", "numeric", lambda rng, n: rng.standard_normal(n), live
    )


def _labels(names: list[str]) -> Labels:
    return np.array(names, dtype=object)


@dataclass(frozen=True, slots=True)
class RotatingMix:
    """Category probabilities ``p0 + a (q - p0) sin(2π t / period)`` with ``q`` the reversed
    ``p0`` (Zipf-like) and ``a`` chosen so that the total variation from ``p0`` is at most
    ``max_tv`` at every record."""

    n_categories: int = 12
    max_tv: float = 0.03
    period: int = 200_000
    p0: Floats = field(init=False)
    step: Floats = field(init=False)

    def __post_init__(self) -> None:
        p0 = 1.0 / np.arange(2.0, self.n_categories + 2.0)
        p0 /= p0.sum()
        toward = p0[::-1] - p0
        step = toward * self.max_tv / (0.5 * np.abs(toward).sum())
        if np.any(p0 - np.abs(step) < 0.0):
            raise ValueError(f"max_tv {self.max_tv} would make a category's share negative")
        object.__setattr__(self, "p0", p0)
        object.__setattr__(self, "step", step)

    @property
    def labels(self) -> Labels:
        return _labels([f"cat{i:02d}" for i in range(self.n_categories)])

    def at(self, t: npt.NDArray[np.int64]) -> Floats:
        """Probabilities at 0-based records ``t``, shape (len(t), n_categories)."""
        return self.p0 + np.sin(2.0 * np.pi * t / self.period)[:, None] * self.step


def rotating_categories(mix: RotatingMix | None = None, stickiness: float = 0.8) -> BenignShape:
    """Categories drawn from a slowly rotating ``mix``; each record repeats the previous
    category with probability ``stickiness`` (sessions), else draws fresh. Training iid p0."""
    mix = mix or RotatingMix()
    labels = mix.labels

    def live(rng: np.random.Generator, n: int, chunk: int) -> Iterator[Labels]:
        draw_rng, repeat_rng = rng.spawn(2)
        carried = -1
        for start in range(0, n, chunk):
            t = np.arange(start, min(start + chunk, n))
            cdf = np.cumsum(mix.at(t), axis=1)
            fresh = np.minimum(
                (draw_rng.random(t.size)[:, None] >= cdf).sum(axis=1), labels.size - 1
            )
            is_fresh = repeat_rng.random(t.size) >= stickiness
            if carried < 0:
                is_fresh[0] = True
            source = np.maximum.accumulate(np.where(is_fresh, np.arange(t.size), -1))
            codes = np.where(source >= 0, fresh[np.maximum(source, 0)], carried)
            carried = int(codes[-1])
            yield labels[codes]

    return BenignShape(
        f"rotating_categories_tv{mix.max_tv:g}_sticky{stickiness:g}",
        "categorical",
        lambda rng, n: labels[rng.choice(labels.size, n, p=mix.p0)],
        live,
    )


BENIGN: dict[str, BenignShape] = {
    shape.name: shape
    for shape in (
        *(ar1_normal(rho) for rho in (0.0, 0.5, 0.9, 0.95)),
        ar1_lognormal(0.9),
        integer_valued(3.0, 0.8),
        mean_wander(),
        rotating_categories(stickiness=0.0),
        rotating_categories(stickiness=0.8),
    )
}

PRODUCTION: dict[str, BenignShape] = {
    "latency_ar95": ar1_normal(0.95),
    "load_ar90": ar1_normal(0.9),
    "amount_lognormal": ar1_lognormal(0.9),
    "items_poisson": integer_valued(3.0, 0.8),
    "score_wander": mean_wander(),
    "country_rotating": rotating_categories(stickiness=0.8),
}


def production(
    seed: Seed,
    n_live: int,
    shapes: dict[str, BenignShape] | None = None,
    chunk: int = CHUNK,
) -> tuple[Columns, Iterator[Columns]]:
    """Several benign shapes as the features of one record stream: training columns, and
    live chunks of every feature together."""
    shapes = shapes or PRODUCTION
    children = np.random.default_rng(seed).spawn(len(shapes))
    streams = {
        name: shape.streams(child, n_live, chunk=chunk)
        for (name, shape), child in zip(shapes.items(), children, strict=True)
    }

    def by_kind(columns: dict[str, Column]) -> Columns:
        numeric = {k: v for k, v in columns.items() if shapes[k].kind == "numeric"}
        categorical = {k: v for k, v in columns.items() if shapes[k].kind == "categorical"}
        return numeric, categorical  # type: ignore[return-value]

    def live() -> Iterator[Columns]:
        for chunks in zip(*(chunks for _, chunks in streams.values()), strict=True):
            yield by_kind(dict(zip(streams, chunks, strict=True)))

    return by_kind({name: sample for name, (sample, _) in streams.items()}), live()


# Planted drifts -----------------------------------------------------------------------------

MIX_P0 = np.array([0.30, 0.20, 0.14, 0.10, 0.09, 0.07, 0.06, 0.04])
MIX_LABELS = _labels([f"c{i}" for i in range(MIX_P0.size)])
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
