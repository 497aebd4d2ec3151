"""The two comparison consumers of ``bench/e2e.py``, each run as its own process.

    python bench/baselines.py floor --bootstrap B --topic T --records N
    python bench/baselines.py river --bootstrap B --topic T --records N --profile P

- ``floor``: a confluent-kafka consumer that consumes (``consume(10000)``, the service's
  batch) and decodes each value with ``msgspec.json`` into Python objects, nothing else:
  the least any JSON drift monitor must spend per record.
- ``river``: the naive monitor. The same loop, then per record and per numeric feature
  river's ``ADWIN`` and ``PageHinkley`` (parameters of ``DetectorSettings``, on the value
  standardised by the profile and clipped to ±``clip_z``, as ours), a null count, and a
  dict histogram over the profile's bin edges; per categorical feature a dict of counts.
  Every ``histogram.window`` records each histogram is compared with the reference (PSI)
  and reset, like our tumbling windows.

Both read from the beginning in a fresh consumer group, stop after ``--records`` records
and print one JSON line: records, monotonic times of start, first record and done, and the
process CPU seconds at the first record and at done.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from confluent_kafka import Consumer, KafkaError, KafkaException

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

__all__ = ["consume_loop", "main", "river_monitor"]

BATCH = 10_000


def consume_loop(
    bootstrap: str, topic: str, records: int, handle: Callable[[list[bytes]], None]
) -> dict[str, float]:
    """Consume ``records`` records of ``topic`` from its start; ``handle`` gets the values
    of each ``consume()`` call."""
    started = time.monotonic()
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"dwbench-baseline-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    seen = 0
    first_t = first_cpu = 0.0
    try:
        while seen < records:
            messages = consumer.consume(min(BATCH, records - seen), 1.0)
            if not messages:
                continue
            if not seen:
                first_t, first_cpu = time.monotonic(), time.process_time()
            values = []
            for msg in messages:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(err)
                values.append(msg.value() or b"{}")
            handle(values)
            seen += len(values)
        done_t, done_cpu = time.monotonic(), time.process_time()
    finally:
        consumer.close()
    return {
        "records": seen,
        "start_monotonic": started,
        "first_monotonic": first_t,
        "done_monotonic": done_t,
        "cpu_at_first": first_cpu,
        "cpu_at_done": done_cpu,
    }


def _psi(counts: dict[int, int], reference: list[float], total: int) -> float:
    psi = 0.0
    for b, expected in enumerate(reference):
        actual = max(counts.get(b, 0) / total, 1e-6)
        psi += (actual - expected) * math.log(actual / expected)
    return psi


def river_monitor(profile_path: Path) -> tuple[Callable[[list[bytes]], None], dict[str, int]]:
    """The batch handler of the naive monitor and its drift counters."""
    from river import drift

    from driftwarden.detectors.profile import Profile
    from driftwarden.detectors.settings import DetectorSettings

    settings = DetectorSettings()
    adwin_kw = settings.numeric.adwin.model_dump(exclude={"enabled"})
    ph_kw = settings.numeric.page_hinkley.model_dump(exclude={"enabled"})
    window = settings.numeric.histogram.window
    clip = settings.clip_z
    profile = Profile.model_validate_json(profile_path.read_bytes())
    numeric: dict[str, Any] = {}
    categorical: dict[str, dict[str, int]] = {}
    for name, feature in profile.features.items():
        if feature.kind == "numeric" and feature.numeric is not None:
            summary = feature.numeric
            total = sum(summary.bin_counts)
            numeric[name] = {
                "mean": summary.mean,
                "std": summary.std or 1.0,
                "edges": [summary.min, *summary.bin_edges, summary.max],
                "reference": [max(c / total, 1e-6) for c in summary.bin_counts],
                "adwin": drift.ADWIN(**adwin_kw),
                "ph": drift.PageHinkley(**ph_kw),
                "hist": {},
                "nulls": 0,
            }
        else:
            categorical[name] = {}
    found = {"adwin": 0, "page_hinkley": 0, "histogram": 0, "records": 0}
    decode = msgspec.json.decode

    def each(payload: bytes) -> None:
        features = decode(payload)["features"]
        found["records"] += 1
        for name, state in numeric.items():
            value = features.get(name)
            if value is None:
                state["nulls"] += 1
                continue
            z = min(max((value - state["mean"]) / state["std"], -clip), clip)
            state["adwin"].update(z)
            if state["adwin"].drift_detected:
                found["adwin"] += 1
            state["ph"].update(z)
            if state["ph"].drift_detected:
                found["page_hinkley"] += 1
            b = bisect.bisect_right(state["edges"], value)
            state["hist"][b] = state["hist"].get(b, 0) + 1
        for name, counts in categorical.items():
            label = features.get(name)
            counts[label] = counts.get(label, 0) + 1
        if found["records"] % window == 0:
            for state in numeric.values():
                if _psi(state["hist"], state["reference"], window) >= 0.2:
                    found["histogram"] += 1
                state["hist"] = {}
            for counts in categorical.values():
                counts.clear()

    def handle(values: list[bytes]) -> None:
        for payload in values:
            each(payload)

    return handle, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["floor", "river"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--profile", type=Path, help="reference profile (river mode)")
    args = parser.parse_args()
    found: dict[str, int] = {}
    handle: Callable[[list[bytes]], None]
    if args.mode == "floor":
        decode = msgspec.json.decode

        def handle(values: list[bytes]) -> None:
            decoded = [decode(value) for value in values]
            del decoded

    else:
        if args.profile is None:
            parser.error("river mode needs --profile")
        handle, found = river_monitor(args.profile)
    result: dict[str, Any] = consume_loop(args.bootstrap, args.topic, args.records, handle)
    result["detections"] = found
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
