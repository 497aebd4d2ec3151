"""Memory soak: 10 million records through ``driftwarden run``, resident size every second.

    python bench/soak.py                     # 10,000,000 records (preload once, then reused)
    python bench/soak.py --records 2000000   # scaled down (the first milestone stays at 1 M)
    python bench/soak.py --json              # the same figures as one JSON object

Same records, broker handling, profile and service settings as ``bench/e2e.py``. The
service's ``VmRSS`` is read from ``/proc`` every second and paired with the record count of
its progress lines (every second). The resident size at N records is the largest sample
while the count went from N - 250,000 to N (about four samples: one sample alone catches one
moment of a batch cycle, within which resident size moves by a few percent); the figure is
its growth from the first million records to the last record. The detector-state snapshot
of each checkpoint is read back from the state topic, to show how the state itself grows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.broker import broker, preload
from bench.e2e import TRAIN_RECORDS, TRAIN_SEED_OFFSET, WORK_DIR, service_figures
from bench.inference_log import Widths, build_profile
from bench.measured_process import load_average, run_conditions
from bench.service_run import run_service

__all__ = ["main", "milestones"]

BAR_GROWTH_PCT = 5.0


def milestones(records: int) -> list[int]:
    """Record counts at which resident size is reported: each million, then the end.

    >>> milestones(2_500_000)
    [1000000, 2000000, 2500000]
    """
    marks = list(range(1_000_000, records, 1_000_000))
    return [*marks, records] if records >= 1_000_000 else [records]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    with broker() as bootstrap:
        topic = preload(bootstrap, args.records, args.seed, Widths(), args.partitions)
        profile = build_profile(WORK_DIR, TRAIN_RECORDS, args.seed + TRAIN_SEED_OFFSET)
        run = run_service(
            bootstrap,
            topic,
            args.records,
            profile,
            WORK_DIR,
            progress_every_s=1.0,
            sample_every_s=1.0,
            timeout_s=6 * 3600,
            label="soak",
        )
    rss = {mark: run.rss_at(mark) for mark in milestones(args.records)}
    first, last = rss[min(rss)], rss[args.records]
    snapshot_sizes = [size for _offset, size in run.snapshots]
    # Offsets are record counts on a one-partition topic; per partition otherwise.
    by_mark = {
        str(mark): next((size for offset, size in run.snapshots if offset >= mark), None)
        for mark in milestones(args.records // args.partitions)
    }
    figures: dict[str, Any] = {
        **run_conditions(load_before),
        "topic": topic,
        "records": args.records,
        "rss_mb_by_records": {str(mark): round(mb, 1) for mark, mb in rss.items()},
        "rss_first_mb": first,
        "rss_last_mb": last,
        "rss_growth_pct": 100.0 * (last - first) / first,
        "peak_rss_mb": run.usage.peak_rss_mb,
        "rss_samples": len(run.samples),
        "snapshot_bytes_first": snapshot_sizes[0] if snapshot_sizes else None,
        "snapshot_bytes_last": snapshot_sizes[-1] if snapshot_sizes else None,
        "snapshot_bytes_max": max(snapshot_sizes, default=None),
        "snapshots": len(snapshot_sizes),
        "snapshot_bytes_by_partition_records": by_mark,
        "alerts": run.alerts,
        "service": service_figures(run),
    }
    figures["bar_met"] = figures["rss_growth_pct"] <= BAR_GROWTH_PCT
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"soak: {args.records:,} records ({topic}), {figures['cores']} cores, "
        f"load {' '.join(load_before)} → {' '.join(figures['loadavg_after'])}"
    )
    print(f"{'records':>12} {'RSS MB':>8}")
    for mark, mb in rss.items():
        print(f"{mark:>12,} {mb:>8.1f}")
    print("state snapshot bytes by records of its partition: " + json.dumps(by_mark))
    print(
        f"RSS growth {min(rss):,} → {args.records:,}: {figures['rss_growth_pct']:+.2f} % "
        f"(bar ≤ {BAR_GROWTH_PCT:.0f} %: {'met' if figures['bar_met'] else 'MISSED'}); "
        f"peak {run.usage.peak_rss_mb:.0f} MB; {len(run.samples)} samples"
    )
    if snapshot_sizes:
        print(
            f"state snapshot: {snapshot_sizes[0]:,} bytes at the first checkpoint, "
            f"{snapshot_sizes[-1]:,} at the last, max {max(snapshot_sizes):,} "
            f"({len(snapshot_sizes)} checkpoints)"
        )
    service = figures["service"]
    print(
        f"service: {service['records_per_cpu_s']:,.0f} records/CPU-s "
        f"({service['records_per_wall_s']:,.0f}/wall-s), {service['events']} events"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
