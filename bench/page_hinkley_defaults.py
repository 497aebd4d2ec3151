"""Page-Hinkley on standardised data: false alarms, detection delay, speed against river.

Prints figures, asserts nothing. All data are seeded, so figures are reproducible.

    .venv/bin/python bench/page_hinkley_defaults.py            # STANDARDISED_DEFAULTS vs river's
    .venv/bin/python bench/page_hinkley_defaults.py --search   # the grid the defaults came from
    .venv/bin/python bench/page_hinkley_defaults.py --speed    # values/s, ours and river's

Stationary streams: N(0, 1) and lognormal(0, 1) standardised by its true mean and std. A false
alarm is any detection on a stationary stream; long streams are 10 million values each. The
"fresh start" figure counts false alarms over many short streams, each on a new detector: this
is the regime right after start-up or a reset, where the running mean is still noisy. Delay is
the number of values from a 0.5 sigma shift in the mean (up and down, after 10,000 stationary
values) to the first detection at or after it; a missed shift counts as an infinite delay.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from driftwarden.detectors.page_hinkley import STANDARDISED_DEFAULTS, PageHinkley

__all__ = ["main"]

Params = dict[str, Any]
KINDS = ("normal", "lognormal")
LONG_STREAM = 10_000_000
SHIFT = 0.5
PREFIX = 10_000
AFTER_SHIFT = 5_000
RIVER_DEFAULTS: Params = {
    "min_instances": 30,
    "delta": 0.005,
    "threshold": 50.0,
    "alpha": 1 - 0.0001,
    "mode": "both",
}


def stationary(kind: str, n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """``n`` values with mean 0 and std 1: N(0, 1) or standardised lognormal(0, 1)."""
    if kind == "normal":
        return rng.standard_normal(n)
    mean = math.exp(0.5)
    std = math.sqrt((math.e - 1.0) * math.e)
    return (rng.lognormal(0.0, 1.0, n) - mean) / std


def count_long(params: Params, streams: list[npt.NDArray[np.float64]]) -> int:
    """False alarms over long stationary streams, one fresh detector per stream."""
    return sum(PageHinkley(**params).update_many(stream).size for stream in streams)


def count_fresh(params: Params, kind: str, n_streams: int, length: int, seed: int) -> int:
    """False alarms over ``n_streams`` short stationary streams, each on a fresh detector."""
    rng = np.random.default_rng(seed)
    data = stationary(kind, n_streams * length, rng).reshape(n_streams, length)
    return sum(PageHinkley(**params).update_many(row).size for row in data)


def median_delay(params: Params, kind: str, sign: float, n_trials: int, seed: int) -> float:
    """Median values from a ``sign`` * 0.5 sigma shift to its detection (inf when missed)."""
    rng = np.random.default_rng(seed)
    delays = []
    for _ in range(n_trials):
        stream = stationary(kind, PREFIX + AFTER_SHIFT, rng)
        stream[PREFIX:] += sign * SHIFT
        found = PageHinkley(**params).update_many(stream)
        after = found[found >= PREFIX]
        delays.append(float(after[0] - PREFIX) if after.size else math.inf)
    return float(np.median(delays))


def report(name: str, params: Params, n_long: int, n_trials: int) -> None:
    """Print false alarms (long and fresh-start) and median delays of one parameter set."""
    print(f"{name}: {params}")
    for index, kind in enumerate(KINDS):
        streams = [
            stationary(kind, LONG_STREAM, np.random.default_rng(1000 * index + seed))
            for seed in range(n_long)
        ]
        long_alarms = count_long(params, streams)
        fresh = count_fresh(params, kind, 2_000, 5_000, seed=77 + index)
        up = median_delay(params, kind, +1.0, n_trials, seed=500 + index)
        down = median_delay(params, kind, -1.0, n_trials, seed=600 + index)
        print(
            f"  {kind:9s} false alarms {long_alarms} in {n_long * LONG_STREAM:,} values; "
            f"fresh-start {fresh} in 2,000 x 5,000 values; "
            f"median delay up {up:.0f}, down {down:.0f} (n={n_trials})"
        )


def river_defaults_on_normal() -> None:
    """River's own PageHinkley, defaults, on 500,000 N(0, 1) values per seed."""
    from river import drift

    for seed in range(3):
        values = np.random.default_rng(seed).standard_normal(500_000)
        detector = drift.PageHinkley()
        count = 0
        for value in values.tolist():
            detector.update(value)
            count += detector.drift_detected
        ours = PageHinkley().update_many(values).size
        print(f"river defaults, N(0,1) seed {seed}: river {count}, ours {ours} per 500,000 values")


def search(n_long: int, n_trials: int) -> None:
    """Grid over delta, threshold and alpha; print every cell, passing cells marked."""
    grid = list(
        itertools.product((0.1, 0.15, 0.2, 0.25), (20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0))
    )
    alphas = (1.0, 1 - 1e-4, 1 - 1e-3)
    cells: list[Params] = [
        {"min_instances": 30, "delta": d, "threshold": t, "alpha": a, "mode": "both"}
        for (d, t), a in itertools.product(grid, alphas)
    ]
    alarms = {kind: [0] * len(cells) for kind in KINDS}
    for index, kind in enumerate(KINDS):
        for seed in range(n_long):
            stream = stationary(kind, LONG_STREAM, np.random.default_rng(1000 * index + seed))
            for cell, params in enumerate(cells):
                alarms[kind][cell] += PageHinkley(**params).update_many(stream).size
    print(f"false alarms per {n_long * LONG_STREAM:,} values; median delays, n={n_trials}")
    for cell, params in enumerate(cells):
        normal, lognormal = alarms["normal"][cell], alarms["lognormal"][cell]
        delay = max(
            median_delay(params, "normal", sign, n_trials, seed=500 if sign > 0 else 600)
            for sign in (1.0, -1.0)
        )
        passing = normal + lognormal == 0 and delay <= 1000
        print(
            f"{'PASS' if passing else '    '} delta={params['delta']:<5} "
            f"threshold={params['threshold']:<6} alpha={params['alpha']:<7} "
            f"normal={normal:<6} lognormal={lognormal:<6} worst median delay={delay:.0f}"
        )


def speed() -> None:
    """Values/s of ours (after warm-up) and of river's per-value loop on the same data."""
    from river import drift

    values = np.random.default_rng(0).standard_normal(LONG_STREAM)
    for name, params in (
        ("river defaults", RIVER_DEFAULTS),
        ("standardised", STANDARDISED_DEFAULTS),
    ):
        PageHinkley(**params).update_many(values[:100])
        best = math.inf
        for _ in range(5):
            start = time.perf_counter()
            PageHinkley(**params).update_many(values)
            best = min(best, time.perf_counter() - start)
        river_values = values[:1_000_000].tolist()
        detector = drift.PageHinkley(**params)
        start = time.perf_counter()
        for value in river_values:
            detector.update(value)
        river_rate = len(river_values) / (time.perf_counter() - start)
        ours_rate = values.size / best
        print(
            f"{name}: ours {ours_rate / 1e6:.1f} M values/s, river {river_rate / 1e6:.3f} M "
            f"values/s, ratio {ours_rate / river_rate:.0f}x"
        )


def main() -> None:
    """Parse the command line and print the figures asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search", action="store_true", help="run the parameter grid")
    parser.add_argument("--speed", action="store_true", help="measure values/s against river")
    parser.add_argument("--long-streams", type=int, default=5, help="10M-value streams per kind")
    parser.add_argument("--trials", type=int, default=201, help="shift trials per direction")
    args = parser.parse_args()
    if args.speed:
        speed()
    elif args.search:
        search(args.long_streams, args.trials)
    else:
        river_defaults_on_normal()
        report("STANDARDISED_DEFAULTS", dict(STANDARDISED_DEFAULTS), args.long_streams, args.trials)


if __name__ == "__main__":
    main()
