"""End-to-end benchmark through a real broker: the service against the floor and river.

    python bench/e2e.py                      # 2,000,000 records (preload once, then reused)
    python bench/e2e.py --records 200000     # quick (about a minute once preloaded)
    python bench/e2e.py --json               # the same figures as one JSON object
    python bench/e2e.py --only service --py-spy stacks.txt   # profile the service (py-spy)

The broker is ``DRIFTWARDEN_BOOTSTRAP`` when set, else the local one of ``scripts/kafka.sh``
(started, and stopped at the end, only if it was not running). A topic named after the
records, seed and partitions is preloaded once with inference-log records (request id,
timestamp, model version, 20 numeric + 5 categorical features; ``bench/inference_log.py``)
and reused by later runs. Then, one after the other, on that topic, each in its own process
and its own consumer group:

- (a) floor: consume + ``msgspec.json`` decode only (``bench/baselines.py floor``);
- (b) ``driftwarden run``: every default detector, the reference profile built by
  ``driftwarden profile build`` from 100,000 training records of the same generator;
  stopped with SIGTERM once its progress line reports every record;
- (c) naive: river's ADWIN and PageHinkley per numeric value plus dict histograms
  (``bench/baselines.py river``), on the first ``--river-records`` records only (it is
  slow); rates are per record, so they compare.

Records per CPU-second divide the records by the whole process's user + system CPU time
(``os.wait4``: start-up, every thread, shut-down included); "steady" excludes what was spent
before the first record. Wall time runs from the process start to the last record (for the
service, to the first progress line that reports it: up to ``--progress-every`` late).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.broker import broker, preload
from bench.inference_log import Widths, build_profile
from bench.measured_process import MeasuredProcess, load_average, run_conditions
from bench.service_run import ServiceRun, run_service

__all__ = ["WORK_DIR", "main", "measure_baseline", "print_table", "service_figures"]

REPO_DIR = Path(__file__).resolve().parent.parent
FULL_RECORDS = 2_000_000  # the run the bars of issue 6 are set for
WORK_DIR = Path(tempfile.gettempdir()) / "driftwarden-bench"
TRAIN_RECORDS = 100_000
TRAIN_SEED_OFFSET = 1000  # the training set is another seed of the same generator
BARS = {
    "service_records_per_cpu_s": 100_000,
    "service_vs_floor": 0.5,
    "service_vs_river": 10.0,
}


def measure_baseline(
    mode: str, bootstrap: str, topic: str, records: int, profile: Path, folder: Path
) -> dict[str, Any]:
    """Run ``bench/baselines.py MODE`` to ``records`` records; its figures."""
    process = MeasuredProcess(
        [
            sys.executable,
            str(REPO_DIR / "bench" / "baselines.py"),
            mode,
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--records",
            str(records),
            "--profile",
            str(profile),
        ],
        folder / f"{mode}.log",
        REPO_DIR,
        capture_stdout=True,
    )
    usage = process.wait(3600)
    if usage.returncode != 0:
        raise RuntimeError(f"{mode} exited with {usage.returncode}; see {folder}/{mode}.log")
    inside = json.loads(process.stdout().strip().splitlines()[-1])
    steady_cpu = inside["cpu_at_done"] - inside["cpu_at_first"]
    wall = inside["done_monotonic"] - usage.started
    return {
        "records": inside["records"],
        "cpu_s": usage.cpu_s,
        "records_per_cpu_s": inside["records"] / usage.cpu_s,
        "steady_records_per_cpu_s": inside["records"] / steady_cpu if steady_cpu else None,
        "startup_cpu_s": inside["cpu_at_first"],
        "wall_s": wall,
        "records_per_wall_s": inside["records"] / wall,
        "peak_rss_mb": usage.peak_rss_mb,
        "detections": inside["detections"],
    }


def service_figures(run: ServiceRun) -> dict[str, Any]:
    """The figures of one service run, in the shape of ``measure_baseline``'s."""
    first_t, first_records, first_cpu = run.first
    done_t, _records, done_cpu = run.done
    wall = done_t - run.usage.started
    steady_cpu = done_cpu - first_cpu
    return {
        "records": run.records,
        "cpu_s": run.usage.cpu_s,
        "records_per_cpu_s": run.records / run.usage.cpu_s,
        "steady_records_per_cpu_s": (run.records - first_records) / steady_cpu,
        "startup_cpu_s": first_cpu - first_records / ((run.records - first_records) / steady_cpu),
        "wall_s": wall,
        "records_per_wall_s": run.records / wall,
        "peak_rss_mb": run.usage.peak_rss_mb,
        "events": run.events,
        "alerts": run.alerts,
        "dlq": run.dlq,
        "log": str(run.log_path),
        "first_seen_s": first_t - run.usage.started,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=FULL_RECORDS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--river-records", type=int, default=100_000, help="cap of (c)")
    parser.add_argument("--progress-every", type=float, default=0.5, help="service progress s")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--py-spy", type=Path, help="also record the service's stacks (py-spy raw) to this file"
    )
    parser.add_argument(
        "--service-command",
        help="run this instead of driftwarden (space-separated; gets 'run --config FILE'), "
        "to measure a patched service",
    )
    parser.add_argument(
        "--single-stage",
        action="store_true",
        help="--service-command is a service from before the two stages (no columns topic)",
    )
    parser.add_argument(
        "--only", choices=["floor", "service", "river"], action="append", help="run only these"
    )
    args = parser.parse_args()
    folder = WORK_DIR
    folder.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only or ["floor", "service", "river"])
    river_n = min(args.river_records, args.records)
    load_before = load_average()
    rows: dict[str, dict[str, Any]] = {}
    with broker() as bootstrap:
        topic = preload(bootstrap, args.records, args.seed, Widths(), args.partitions)
        profile = build_profile(folder, TRAIN_RECORDS, args.seed + TRAIN_SEED_OFFSET)
        if "floor" in wanted:
            rows["floor"] = measure_baseline(
                "floor", bootstrap, topic, args.records, profile, folder
            )
        if "service" in wanted:
            run = run_service(
                bootstrap,
                topic,
                args.records,
                profile,
                folder,
                progress_every_s=args.progress_every,
                py_spy=args.py_spy,
                command=tuple(args.service_command.split()) if args.service_command else None,
                single_stage=args.single_stage,
            )
            rows["service"] = service_figures(run)
        if "river" in wanted:
            rows["river"] = measure_baseline("river", bootstrap, topic, river_n, profile, folder)
    figures: dict[str, Any] = {
        **run_conditions(load_before),
        "topic": topic,
        "records": args.records,
        "river_records": river_n,
        **rows,
    }
    for name, row in rows.items():
        figures[f"{name}_records_per_cpu_s"] = row["records_per_cpu_s"]
    if "service" in rows:
        figures["service_peak_rss_mb"] = rows["service"]["peak_rss_mb"]
        for name in ("floor", "river"):
            if name in rows:
                figures[f"service_vs_{name}"] = (
                    rows["service"]["records_per_cpu_s"] / rows[name]["records_per_cpu_s"]
                )
                figures[f"steady_service_vs_{name}"] = (
                    rows["service"]["steady_records_per_cpu_s"]
                    / rows[name]["steady_records_per_cpu_s"]
                )
    figures["bars_met"] = {key: figures[key] >= bar for key, bar in BARS.items() if key in figures}
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_table(figures, rows)
    return 0


def print_table(figures: dict[str, Any], rows: dict[str, dict[str, Any]]) -> None:
    """The human-readable form of the figures."""
    print(
        f"e2e: {figures['records']:,} records ({figures['topic']}), {figures['cores']} cores, "
        f"load {' '.join(figures['loadavg_before'])} → {' '.join(figures['loadavg_after'])}"
    )
    print(
        f"{'':<22} {'rec/CPU-s':>10} {'steady':>10} {'rec/wall-s':>11} {'CPU s':>7} "
        f"{'start CPU s':>11} {'peak RSS MB':>11}"
    )
    names = {"floor": "(a) floor", "service": "(b) driftwarden run", "river": "(c) river"}
    for key, row in rows.items():
        print(
            f"{names[key]:<22} {row['records_per_cpu_s']:>10,.0f} "
            f"{row['steady_records_per_cpu_s']:>10,.0f} {row['records_per_wall_s']:>11,.0f} "
            f"{row['cpu_s']:>7.1f} {row['startup_cpu_s']:>11.2f} {row['peak_rss_mb']:>11.0f}"
        )
    if "river" in rows:
        print(f"(c) ran on the first {figures['river_records']:,} records")
    for name, label in (("floor", "(b)/(a)"), ("river", "(b)/(c)")):
        if f"service_vs_{name}" in figures:
            print(
                f"{label} = {figures[f'service_vs_{name}']:.2f} "
                f"(steady {figures[f'steady_service_vs_{name}']:.2f})"
            )
    if "service" in rows:
        service = rows["service"]
        print(f"service: {service['events']} events, {service['dlq']} DLQ records")
        for what, count in sorted(service["alerts"].items()):
            print(f"  {count} × {what}")
    met = figures["bars_met"]
    print("bars: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in met.items()))
    if figures["records"] < FULL_RECORDS:
        print(
            f"(the bars are set for {FULL_RECORDS:,} records: on fewer, the service's ~2 CPU-s "
            "of start-up weighs more; compare the steady figures)"
        )


if __name__ == "__main__":
    sys.exit(main())
