"""Detector-core benchmark: values per CPU-second, the ratio to river's per-value loop, and
the false alarms and detection delays of the default settings.

    python bench/detector_core.py              # speed (about a minute)
    python bench/detector_core.py --quick      # smaller data, for `make bench`
    python bench/detector_core.py --defaults   # false alarms and delays of the defaults (minutes)
    python bench/detector_core.py --json       # the same figures as one JSON object

Times are CPU seconds of this process (``time.process_time``), so other load on the machine
matters less; every figure is the best of ``--repeat`` runs after a warm-up run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measured_process import cpu_seconds
from driftwarden.detectors.adwin import ADWIN
from driftwarden.detectors.bank import DetectorBank
from driftwarden.detectors.categorical_drift import CategoricalDrift
from driftwarden.detectors.histogram_drift import HistogramDrift
from driftwarden.detectors.null_rate import NullRate
from driftwarden.detectors.page_hinkley import PageHinkley
from driftwarden.detectors.settings import DetectorSettings
from tests.bank_data import profile_of, split_batches

N_NUMERIC = 20
N_CATEGORICAL = 5
BATCH = 10_000


def feature_data(n: int, seed: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
    rng = np.random.default_rng(seed)
    numeric = {f"x{i}": rng.normal(10.0 * i, 1.0 + i, n) for i in range(N_NUMERIC)}
    cats = np.array([f"c{j}" for j in range(30)], dtype=object)
    categorical = {f"k{i}": cats[rng.integers(0, 30, n)] for i in range(N_CATEGORICAL)}
    return numeric, categorical


def bench_single_detectors(n: int, repeat: int) -> dict[str, float]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=n)
    batches = [x[i : i + BATCH] for i in range(0, n, BATCH)]
    missing = [np.isnan(b) for b in batches]
    cats = np.array([f"c{j}" for j in range(30)], dtype=object)
    words = cats[rng.integers(0, 30, n)]
    word_batches = [words[i : i + BATCH] for i in range(0, n, BATCH)]
    settings = DetectorSettings()
    adwin_kw = settings.numeric.adwin.model_dump(exclude={"enabled"})
    ph_kw = settings.numeric.page_hinkley.model_dump(exclude={"enabled"})
    reference = rng.normal(size=100_000)
    ref_cats = {str(c): 1000 for c in cats}

    def run(make: Callable[[], Any], data: list[Any]) -> float:
        def once() -> None:
            detector = make()
            for batch in data:
                detector.update_many(batch)

        return n / cpu_seconds(once, repeat)

    return {
        "adwin": run(lambda: ADWIN(**adwin_kw), batches),
        "page_hinkley": run(lambda: PageHinkley(**ph_kw), batches),
        "histogram": run(lambda: HistogramDrift.from_sample(reference), batches),
        "null_rate": run(lambda: NullRate(0.0), missing),
        "categorical": run(lambda: CategoricalDrift(ref_cats), word_batches),
    }


def bench_bank(n: int, repeat: int) -> dict[str, float]:
    train = feature_data(100_000, seed=2)
    profile = profile_of(*train)
    numeric, categorical = feature_data(n)
    batches = list(split_batches(numeric, categorical, BATCH))
    numeric_only = list(split_batches(numeric, {}, BATCH))

    def run(data: list[Any]) -> Callable[[], None]:
        def once() -> None:
            bank = DetectorBank(DetectorSettings(), profile)
            for batch in data:
                bank.process(batch)

        return once

    full = cpu_seconds(run(batches), repeat)
    numeric_cpu = cpu_seconds(run(numeric_only), repeat)
    return {
        "bank_records_per_cpu_s": n / full,
        "bank_values_per_cpu_s": n * (N_NUMERIC + N_CATEGORICAL) / full,
        "bank_numeric_only_values_per_cpu_s": n * N_NUMERIC / numeric_cpu,
    }


def bench_river(n: int) -> float:
    """A per-value loop over river's ADWIN + PageHinkley (same parameters), values per CPU-s."""
    from river import drift

    settings = DetectorSettings()
    adwin_kw = settings.numeric.adwin.model_dump(exclude={"enabled"})
    ph_kw = settings.numeric.page_hinkley.model_dump(exclude={"enabled"})
    x = np.random.default_rng(4).normal(size=n).tolist()
    start = time.process_time()
    adwin, ph = drift.ADWIN(**adwin_kw), drift.PageHinkley(**ph_kw)
    for value in x:
        adwin.update(value)
        ph.update(value)
    return n / (time.process_time() - start)


def bench_ours_adwin_ph(n: int, repeat: int) -> float:
    settings = DetectorSettings()
    adwin_kw = settings.numeric.adwin.model_dump(exclude={"enabled"})
    ph_kw = settings.numeric.page_hinkley.model_dump(exclude={"enabled"})
    x = np.random.default_rng(4).normal(size=n)

    def once() -> None:
        adwin, ph = ADWIN(**adwin_kw), PageHinkley(**ph_kw)
        for i in range(0, n, BATCH):
            adwin.update_many(x[i : i + BATCH])
            ph.update_many(x[i : i + BATCH])

    return n / cpu_seconds(once, repeat)


def defaults_study(n_stationary: int, trials: int) -> dict[str, Any]:
    """False alarms on stationary standardised data and delays for a 0.5σ mean shift, per
    numeric detector of the default bank (decisions on seeded data)."""
    settings = DetectorSettings()
    rng = np.random.default_rng(2026)
    lognormal_mean, lognormal_std = np.exp(0.5), np.sqrt((np.e - 1.0) * np.e)
    streams = {
        "normal": lambda r, k: r.normal(size=k),
        "lognormal": lambda r, k: r.lognormal(0.0, 1.0, k),
    }
    result: dict[str, Any] = {"n_stationary": n_stationary, "trials": trials}
    for name, draw in streams.items():
        train = draw(rng, 200_000)
        profile = profile_of({"x": train}, {})
        bank = DetectorBank(settings, profile)
        counts: dict[str, int] = {}
        for start in range(0, n_stationary, 100_000):
            live = draw(rng, min(100_000, n_stationary - start))
            for batch in split_batches({"x": live}, {}, 100_000):
                for event in bank.process(batch):
                    if event.type.value == "drift.detected":
                        counts[event.detector] = counts.get(event.detector, 0) + 1
        result[f"false_alarms_{name}"] = counts
    del lognormal_mean, lognormal_std
    delays: dict[str, list[int]] = {"adwin": [], "page_hinkley": [], "histogram": []}
    reference = np.random.default_rng(7).normal(size=200_000)
    profile = profile_of({"x": reference}, {})
    for trial in range(trials):
        r = np.random.default_rng(10_000 + trial)
        x = np.concatenate([r.normal(size=20_000), r.normal(0.5, 1.0, 20_000)])
        bank = DetectorBank(settings, profile)
        first: dict[str, int] = {}
        for batch in split_batches({"x": x}, {}, 5000):
            for event in bank.process(batch):
                if event.type.value == "drift.detected" and event.record.offset >= 20_000:
                    first.setdefault(event.detector, event.record.offset - 20_000)
        for detector, found in delays.items():
            found.append(first.get(detector, 10**9))
    result["median_delay_0_5_sigma"] = {d: float(np.median(v)) for d, v in delays.items()}
    result["missed_0_5_sigma"] = {d: int(sum(x >= 10**9 for x in v)) for d, v in delays.items()}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data (about 20 s)")
    parser.add_argument("--defaults", action="store_true", help="false alarms and delays")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    n = 200_000 if args.quick else 1_000_000
    figures: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "records": n,
    }
    figures["single_detector_values_per_cpu_s"] = bench_single_detectors(n, args.repeat)
    figures.update(bench_bank(n, args.repeat))
    river_n = 50_000 if args.quick else 200_000
    figures["river_adwin_ph_values_per_cpu_s"] = bench_river(river_n)
    figures["ours_adwin_ph_values_per_cpu_s"] = bench_ours_adwin_ph(n, args.repeat)
    figures["ratio_adwin_ph_vs_river"] = (
        figures["ours_adwin_ph_values_per_cpu_s"] / figures["river_adwin_ph_values_per_cpu_s"]
    )
    figures["ratio_bank_numeric_vs_river_adwin_ph"] = (
        figures["bank_numeric_only_values_per_cpu_s"] / figures["river_adwin_ph_values_per_cpu_s"]
    )
    if args.defaults:
        figures["defaults"] = defaults_study(
            2_000_000 if args.quick else 10_000_000, 11 if args.quick else 101
        )

    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"driftwarden detector core — {figures['date']}, {figures['cores']} cores, n={n}")
    for name, rate in figures["single_detector_values_per_cpu_s"].items():
        print(f"  {name:<14} {rate / 1e6:8.1f} M values/CPU-s")
    print(
        f"  default bank, {N_NUMERIC} numeric + {N_CATEGORICAL} categorical: "
        f"{figures['bank_values_per_cpu_s'] / 1e6:.1f} M values/CPU-s "
        f"({figures['bank_records_per_cpu_s'] / 1e3:.0f} k records/CPU-s)"
    )
    print(
        f"  default bank, numeric features only: "
        f"{figures['bank_numeric_only_values_per_cpu_s'] / 1e6:.1f} M values/CPU-s"
    )
    print(
        f"  river ADWIN+PH per-value loop: "
        f"{figures['river_adwin_ph_values_per_cpu_s'] / 1e6:.2f} M values/CPU-s; ours "
        f"{figures['ours_adwin_ph_values_per_cpu_s'] / 1e6:.1f} M "
        f"(×{figures['ratio_adwin_ph_vs_river']:.0f}); whole numeric bank vs river loop "
        f"×{figures['ratio_bank_numeric_vs_river_adwin_ph']:.1f}"
    )
    if "defaults" in figures:
        print("  defaults:", json.dumps(figures["defaults"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
