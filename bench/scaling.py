"""Feature-count scaling: ``driftwarden run`` on records of 10, 100 and 1,000 features.

    python bench/scaling.py                  # 10, 100, 1000 features; 30 M values each
    python bench/scaling.py --values 2000000 # quick
    python bench/scaling.py --json           # the same figures as one JSON object

Records are those of ``bench/e2e.py`` at other widths, 4 numeric features to 1 categorical
(8 + 2, 80 + 20, 800 + 200). Each width gets its own preloaded topic of
``--values / width`` records (so every run sees the same number of values) and a profile
of as many training records (at most 100,000). For each width it prints the floor
(consume + decode) and the service: records and values per CPU-second, the CPU time per
record, peak resident size and the size of the detector-state snapshot per feature.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.broker import broker, preload
from bench.e2e import TRAIN_SEED_OFFSET, WORK_DIR, measure_baseline, service_figures
from bench.inference_log import Widths, build_profile
from bench.measured_process import load_average, run_conditions
from bench.service_run import run_service

__all__ = ["CLIENT", "WIDTHS", "main", "measure_width"]

WIDTHS = (Widths(8, 2), Widths(80, 20), Widths(800, 200))
# The snapshot of 1,000 features (about 5 MB) is larger than librdkafka's default
# message.max.bytes (1,000,000), and the service does not raise it for the state topic: its
# first checkpoint fails with MSG_SIZE_TOO_LARGE. Raised here, for every width alike.
CLIENT: dict[str, str | int] = {"message.max.bytes": 16 * 1024 * 1024}


def measure_width(bootstrap: str, widths: Widths, values: int, seed: int) -> dict[str, Any]:
    """Floor and service figures for records of ``widths``."""
    width = widths.n_numeric + widths.n_categorical
    records = values // width
    topic = preload(bootstrap, records, seed, widths)
    profile = build_profile(WORK_DIR, min(records, 100_000), seed + TRAIN_SEED_OFFSET, widths)
    floor = measure_baseline("floor", bootstrap, topic, records, profile, WORK_DIR)
    run = run_service(
        bootstrap, topic, records, profile, WORK_DIR, label=f"scaling-{width}", client=CLIENT
    )
    service = service_figures(run)
    snapshot = run.snapshots[-1][1] if run.snapshots else None
    return {
        "features": width,
        "records": records,
        "floor_records_per_cpu_s": floor["records_per_cpu_s"],
        "service_records_per_cpu_s": service["records_per_cpu_s"],
        "service_steady_records_per_cpu_s": service["steady_records_per_cpu_s"],
        "service_values_per_cpu_s": service["steady_records_per_cpu_s"] * width,
        "service_us_per_record": 1e6 / service["steady_records_per_cpu_s"],
        "service_vs_floor": service["records_per_cpu_s"] / floor["records_per_cpu_s"],
        "service_startup_cpu_s": service["startup_cpu_s"],
        "service_peak_rss_mb": service["peak_rss_mb"],
        "floor_peak_rss_mb": floor["peak_rss_mb"],
        "snapshot_bytes": snapshot,
        "snapshot_bytes_per_feature": snapshot / width if snapshot else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=30_000_000, help="feature values per width")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    with broker() as bootstrap:
        rows = [measure_width(bootstrap, w, args.values, args.seed) for w in WIDTHS]
    figures = {
        **run_conditions(load_before),
        "values": args.values,
        "widths": rows,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"scaling: {args.values:,} values per width, {figures['cores']} cores, "
        f"load {' '.join(load_before)} → {' '.join(figures['loadavg_after'])}"
    )
    print(
        f"{'features':>8} {'records':>9} {'floor rec/CPU-s':>15} {'service rec/CPU-s':>17} "
        f"{'steady':>8} {'M values/CPU-s':>14} {'µs/record':>9} {'(b)/(a)':>7} "
        f"{'peak RSS MB':>11} {'state B/feature':>15}"
    )
    for row in rows:
        per_feature = row["snapshot_bytes_per_feature"]
        print(
            f"{row['features']:>8} {row['records']:>9,} {row['floor_records_per_cpu_s']:>15,.0f} "
            f"{row['service_records_per_cpu_s']:>17,.0f} "
            f"{row['service_steady_records_per_cpu_s']:>8,.0f} "
            f"{row['service_values_per_cpu_s'] / 1e6:>14.2f} {row['service_us_per_record']:>9.1f} "
            f"{row['service_vs_floor']:>7.2f} {row['service_peak_rss_mb']:>11.0f} "
            f"{per_feature if per_feature is None else f'{per_feature:,.0f}':>15}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
