"""Seeded feature streams for the alert-quality benchmark: benign shapes that carry no drift
worth an alert (planted drifts, with a known onset and size, are in ``planted_drifts``).

Benign shapes are stationary but awkward (autocorrelated, skewed, integer-valued, wandering
by a negligible amount, categories rotating within a total variation of 0.03). Each gives a
training sample and the live stream as chunks, so 10 M records never sit in memory at once;
the same seed gives the same values whatever the chunk size (AR state and the last sticky
category carry across chunks). Every random component draws from its own child generator,
which is what makes the chunking invisible.

>>> training, chunks = ar1_normal(0.9).streams(5, 20_000)
>>> live = np.concatenate(list(chunks))
>>> live.size, round(float(np.corrcoef(live[1:], live[:-1])[0, 1]), 1)
(20000, 0.9)
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

__all__ = [
    "BENIGN",
    "CHUNK",
    "PRODUCTION",
    "TRAINING",
    "BenignShape",
    "Column",
    "Columns",
    "Floats",
    "Labels",
    "RotatingMix",
    "Seed",
    "ar1_latent",
    "ar1_lognormal",
    "ar1_normal",
    "integer_valued",
    "labels_of",
    "mean_wander",
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


def labels_of(names: list[str]) -> Labels:
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
        return labels_of([f"cat{i:02d}" for i in range(self.n_categories)])

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
