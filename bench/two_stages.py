"""The two stages apart: records per CPU-second of split and of detect, and how throughput
moves with 1, 2 and 4 split processes and 1 and 2 detect processes.

    python bench/two_stages.py                        # 400,000 records on 4 partitions
    python bench/two_stages.py --records 200000 --splits 1 2 --detects 1

The broker is ``DRIFTWARDEN_BOOTSTRAP`` when set, else the local one of ``scripts/kafka.sh``.
The input topic is preloaded once (``bench/broker.py``; records of ``bench/inference_log.py``,
20 numeric + 5 categorical features) with ``--partitions`` partitions. For each number of
split processes: that many ``driftwarden run --stage split`` share one group and read the
whole topic into a fresh columns topic (``--columns-partitions``); then, for each number of
detect processes, that many ``driftwarden run --stage detect`` (a fresh group each time) run
every chunk. A stage is done when its processes' progress lines add up to every record
(split) or every chunk split produced (detect).

Per configuration: records per CPU-second (all of the stage's processes, ``os.wait4``, start-
up included) and records per wall-second from the first process's start to the progress line
that completes the stage. On this 2-core machine more processes than cores contend for them:
records per CPU-second is the figure that carries to a larger deployment (one process per
core), wall-clock throughput shows where the cores run out.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.broker import broker, preload
from bench.e2e import TRAIN_RECORDS, TRAIN_SEED_OFFSET, WORK_DIR
from bench.inference_log import Widths, build_profile
from bench.measured_process import MeasuredProcess, load_average, run_conditions
from bench.service_run import DRIFTWARDEN, REPO_DIR, cleanup, create_topics, service_config


def _progress(log_path: Path) -> dict[str, int]:
    """The latest progress counters of one process's log."""
    latest: dict[str, int] = {}
    for line in log_path.read_bytes().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == "progress":
            latest = {key: entry[key] for key in ("records", "chunks") if key in entry}
    return latest


def run_stage(
    stage: str, processes: int, config: Path, folder: Path, key: str, target: int
) -> dict[str, Any]:
    """Run ``processes`` of ``stage`` until their ``key`` counters add up to ``target``."""
    label = f"{stage}-{processes}-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    running = [
        MeasuredProcess(
            [str(DRIFTWARDEN), "run", "--config", str(config), "--stage", stage],
            folder / f"{label}-{i}.log",
            REPO_DIR,
        )
        for i in range(processes)
    ]
    logs = [folder / f"{label}-{i}.log" for i in range(processes)]
    total = 0
    try:
        deadline = started + 1800
        while total < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label}: {total:,}/{target:,} {key} after 30 min")
            for process in running:
                if not process.running():
                    raise RuntimeError(f"{label} exited early; see {folder}")
            total = sum(_progress(path).get(key, 0) for path in logs)
            time.sleep(0.1)
        wall = time.monotonic() - started
    finally:
        for process in running:
            process.proc.send_signal(signal.SIGTERM)
        usages = [process.wait(120) for process in running]
    cpu = sum(u.cpu_s for u in usages)
    return {
        "processes": processes,
        "cpu_s": cpu,
        "wall_s": wall,
        "chunks": sum(_progress(path).get("chunks", 0) for path in logs),
        "peak_rss_mb": max(u.peak_rss_mb for u in usages),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--columns-partitions", type=int, default=4)
    parser.add_argument("--splits", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--detects", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    folder = WORK_DIR
    folder.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    n = args.records
    rows: list[dict[str, Any]] = []
    with broker() as bootstrap:
        topic = preload(bootstrap, n, args.seed, Widths(), args.partitions)
        profile = build_profile(folder, TRAIN_RECORDS, args.seed + TRAIN_SEED_OFFSET)
        for splits in args.splits:
            run_id = uuid.uuid4().hex[:10]
            config = service_config(folder, bootstrap, topic, profile, run_id, 0.5)
            create_topics(bootstrap, run_id, args.columns_partitions)
            try:
                split = run_stage("split", splits, config, folder, "records", n)
                rows.append({"stage": "split", **split, "records_per_cpu_s": n / split["cpu_s"],
                             "records_per_wall_s": n / split["wall_s"]})  # fmt: skip
                for detects in args.detects:
                    # A fresh detect group each time: every run reads every chunk.
                    detect_config = _with_group(config, f"dwbench-{run_id}-d{detects}")
                    detect = run_stage(
                        "detect", detects, detect_config, folder, "chunks", split["chunks"]
                    )
                    rows.append({"stage": "detect", "after_splits": splits, **detect,
                                 "records_per_cpu_s": n / detect["cpu_s"],
                                 "records_per_wall_s": n / detect["wall_s"]})  # fmt: skip
            finally:
                cleanup(bootstrap, run_id)
    figures = {**run_conditions(load_before), "topic": topic, "records": n, "rows": rows}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"{n:,} records on {args.partitions} input partitions, "
          f"{args.columns_partitions} columns partitions")  # fmt: skip
    print(f"{'stage':<8}{'procs':>6}{'rec/CPU-s':>12}{'rec/wall-s':>12}{'CPU s':>8}{'wall s':>8}")
    for row in rows:
        print(
            f"{row['stage']:<8}{row['processes']:>6}{row['records_per_cpu_s']:>12,.0f}"
            f"{row['records_per_wall_s']:>12,.0f}{row['cpu_s']:>8.1f}{row['wall_s']:>8.1f}"
        )
    return 0


def _with_group(config: Path, group: str) -> Path:
    """A copy of ``config`` whose consumer groups start from ``group``."""
    data = yaml.safe_load(config.read_text())
    data["kafka"]["group_id"] = group
    path = config.with_name(f"{group}.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


if __name__ == "__main__":
    sys.exit(main())
