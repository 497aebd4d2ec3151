"""Alert quality of the default DetectorBank: false incidents on benign streams (bar: 0) and,
for planted drifts, detections, delays, onset errors and incidents per drift (bar: 1).

    python bench/alert_quality.py            # 10 M records per benign shape, 30 trials per drift
    python bench/alert_quality.py --quick    # 1 M records per benign shape, 8 trials
    python bench/alert_quality.py --json     # the same figures as one JSON object

Streams come from bench/stream_shapes.py; each shape or trial gets a fresh
``DetectorBank(DetectorSettings(), profile)`` and batches of 10,000 records. A planted drift
changes its feature at 0-based record ``t0``: truth for ``records_seen`` and ``onset_at``
(1-based) is ``t0 + 1``; the delay is the opening event's ``records_seen - (t0 + 1)``; a drift
is missed when no incident opens on its feature within ``--max-delay`` records of truth.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measured_process import load_average
from bench.planted_drifts import (
    PLANTED,
    PlantedDrift,
    companion_features,
    planted,
    planted_psi,
)
from bench.stream_shapes import (
    BENIGN,
    PRODUCTION,
    BenignShape,
    Columns,
    production,
)
from driftwarden.detectors.bank import DetectorBank
from driftwarden.detectors.incidents import FindingKind, IncidentEvent, IncidentEventType
from driftwarden.detectors.settings import DetectorSettings
from tests.bank_data import make_batch, profile_of

__all__ = ["DRIFTED", "BenignRun", "Trial", "describe", "feed", "run_benign", "run_planted"]

BATCH = 10_000
DRIFTED = "drifted"
T0 = 30_000
MAX_DELAY = 20_000
AFTER_RETURN = 90_000  # records run after a drift returns, for the incident to resolve


def describe(events: list[IncidentEvent]) -> str:
    """One line per event: what a failing test or a reader needs to see."""
    lines = []
    for ev in events:
        findings = ", ".join(
            f"{f.kind.value}(detected {f.detected_at}, onset {f.onset_at}, {f.status}, "
            + " ".join(f"{k}={v:.3g}" for k, v in f.effect.items())
            + ")"
            for f in ev.findings
        )
        lines.append(
            f"{ev.feature}: {ev.type.value} #{ev.incident_id} at record {ev.records_seen} "
            f"[{ev.severity}] {findings}"
        )
    return "\n".join(lines) or "(no incident events)"


def feed(bank: DetectorBank, chunks: Iterator[Columns], batch: int = BATCH) -> list[IncidentEvent]:
    """Every incident event of ``bank`` over the live ``chunks``, cut into batches."""
    events: list[IncidentEvent] = []
    for numeric, categorical in chunks:
        n = len(next(iter({**numeric, **categorical}.values())))
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            out = bank.run(
                make_batch(
                    {k: v[start:stop] for k, v in numeric.items()},
                    {k: v[start:stop] for k, v in categorical.items()},
                    first_offset=bank.records_seen,
                )
            )
            events.extend(out.incidents)
    return events


@dataclass(frozen=True, slots=True)
class BenignRun:
    """Incident events of one bank over benign features (every one a false incident)."""

    features: list[str]
    records: int
    events: list[IncidentEvent]
    wall_s: float
    cpu_s: float

    @property
    def opened(self) -> list[IncidentEvent]:
        return [ev for ev in self.events if ev.type == IncidentEventType.OPENED]

    @property
    def per_feature_per_100m(self) -> float:
        return len(self.opened) / len(self.features) / self.records * 1e8


def run_benign(shapes: dict[str, BenignShape], seed: int, records: int) -> BenignRun:
    """``shapes`` as the features of one stream of ``records`` records through one bank."""
    wall, cpu = time.perf_counter(), time.process_time()
    (train_numeric, train_categorical), chunks = production(seed, records, shapes)
    bank = DetectorBank(DetectorSettings(), profile_of(train_numeric, train_categorical))
    events = feed(bank, chunks)
    return BenignRun(
        list(shapes),
        bank.records_seen,
        events,
        time.perf_counter() - wall,
        time.process_time() - cpu,
    )


@dataclass(frozen=True, slots=True)
class Trial:
    """A planted drift on feature ``drifted`` beside benign companions, and the bank's
    incident events over the whole run."""

    drift: PlantedDrift
    events: list[IncidentEvent]

    @property
    def truth(self) -> int:
        return self.drift.t0 + 1

    def opened(self, drifted: bool = True) -> list[IncidentEvent]:
        return [
            ev
            for ev in self.events
            if ev.type == IncidentEventType.OPENED and (ev.feature == DRIFTED) == drifted
        ]

    def detection(self, max_delay: int = MAX_DELAY) -> IncidentEvent | None:
        """The first incident opened on the drifted feature within ``max_delay`` of truth."""
        for ev in self.opened():
            if self.truth <= ev.records_seen <= self.truth + max_delay:
                return ev
        return None

    def onset(self, opened: IncidentEvent) -> tuple[int | None, str]:
        """(|onset_at - truth|, kind) of the incident's first finding of the expected kind,
        else of its first finding; (None, "no finding") when the incident has none."""
        expected = FindingKind(self.drift.finding)
        incident = [ev for ev in self.events if ev.incident_id == opened.incident_id]
        for ev in incident:
            for f in ev.findings:
                if f.kind == expected:
                    return abs(f.onset_at - self.truth), f.kind.value
        if not opened.findings:
            return None, "no finding"
        first = opened.findings[0]
        return abs(first.onset_at - self.truth), first.kind.value

    def resolved(self) -> list[IncidentEvent]:
        return [
            ev
            for ev in self.events
            if ev.type == IncidentEventType.RESOLVED and ev.feature == DRIFTED
        ]


def run_planted(
    name: str, seed: int, base_rho: float = 0.0, t0: int | None = None, n: int | None = None
) -> Trial:
    """Drift ``name`` at ``t0`` with three benign companions, through a fresh bank. Without
    ``t0`` the change starts ``T0`` plus a seeded offset under 1,000 records, so that onsets
    fall anywhere in a pane and a batch, as they do in production."""
    if t0 is None:
        t0 = T0 + int(np.random.default_rng(seed).integers(0, 1000))
    if n is None:
        n = t0 + MAX_DELAY + 20_000
        if name == "mean_shift_returns":
            n = t0 + 30_000 + AFTER_RETURN
    drift = planted(name, seed, t0, n, base_rho)
    (train_numeric, train_categorical), (numeric, categorical) = companion_features(seed + 1, n)
    target = train_numeric if drift.kind == "numeric" else train_categorical
    live = numeric if drift.kind == "numeric" else categorical
    target[DRIFTED] = drift.training  # type: ignore[assignment]
    live[DRIFTED] = drift.live  # type: ignore[assignment]
    bank = DetectorBank(DetectorSettings(), profile_of(train_numeric, train_categorical))
    return Trial(drift, feed(bank, iter([(numeric, categorical)])))


def _quantiles(values: list[int]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None}
    return {"median": float(np.median(values)), "p90": float(np.percentile(values, 90))}


def planted_summary(trials: list[Trial], max_delay: int) -> dict[str, Any]:
    """Detections, delays, onset errors and incident counts over the trials of one drift."""
    delays: list[int] = []
    errors: list[int] = []
    kinds: dict[str, int] = {}
    per_trial: list[int] = []
    resolve_delays: list[int] = []
    others = early = resolved = resolved_early = 0
    for trial in trials:
        opened = trial.opened()
        per_trial.append(len(opened))
        others += len(trial.opened(drifted=False))
        early += sum(ev.records_seen < trial.truth for ev in opened)
        found = trial.detection(max_delay)
        if found is not None:
            delays.append(found.records_seen - trial.truth)
            error, kind = trial.onset(found)
            if error is not None:
                errors.append(error)
            kinds[kind] = kinds.get(kind, 0) + 1
        back = trial.drift.returns_at
        for ev in trial.resolved()[:1]:
            resolved += 1
            if back is not None and ev.records_seen <= back:
                resolved_early += 1
            elif back is not None:
                resolve_delays.append(ev.records_seen - (back + 1))
    return {
        "trials": len(trials),
        "detected": len(delays),
        "missed": len(trials) - len(delays),
        "opened_before_change": early,
        "delay": _quantiles(delays),
        "onset_error": _quantiles(errors),
        "onset_kinds": kinds,
        "incidents_per_trial": {str(k): per_trial.count(k) for k in sorted(set(per_trial))},
        "incidents_on_other_features": others,
        "resolved": resolved,
        "resolved_before_return": resolved_early,
        "resolve_delay_after_return": _quantiles(resolve_delays),
    }


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    # The first column (names) reads left-aligned, the figures right-aligned.
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells))
        for cells in (zip(r, widths, strict=True) for r in [header, *rows])
    )


def _pair(quantiles: dict[str, float | None]) -> str:
    if quantiles["median"] is None:
        return "-"
    return f"{quantiles['median']:,.0f} / {quantiles['p90']:,.0f}"


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{k}:{v}" for k, v in counts.items()) or "-"


def report(figures: dict[str, Any]) -> str:
    """The figures as two aligned tables."""
    benign = _table(
        ["benign shape", "features", "records", "opened", "per feature per 100 M", "CPU s"],
        [
            [
                name,
                str(b["features"]),
                f"{b['records']:,}",
                str(b["incident_opened"]),
                f"{b['false_per_feature_per_100m']:.1f}",
                f"{b['cpu_s']:.1f}",
            ]
            for name, b in figures["benign"].items()
        ],
    )
    planted_rows = []
    for name, s in figures["planted"].items():
        resolved = str(s["resolved"])
        if name.startswith("mean_shift_returns"):
            resolved += f" ({s['resolved_before_return']} before return, after it "
            resolved += f"{_pair(s['resolve_delay_after_return'])})"
        planted_rows.append(
            [
                name,
                f"{figures['planted_psi'][name.split(' [')[0]]:.3f}",
                f"{s['detected']}/{s['trials']}",
                str(s["opened_before_change"]),
                _pair(s["delay"]),
                _pair(s["onset_error"]),
                _counts(s["onset_kinds"]),
                _counts(s["incidents_per_trial"]),
                str(s["incidents_on_other_features"]),
                resolved,
            ]
        )
    planted = _table(
        [
            "planted drift [base]",
            "PSI",
            "detected",
            "early",
            "delay med / p90",
            "onset err med / p90",
            "onset finding",
            "opened:trials",
            "on others",
            "resolved",
        ],
        planted_rows,
    )
    return (
        f"\n{benign}\n\n{planted}\n\n"
        "Delay and onset error in records from the truth (t0 + 1); early: incidents opened on "
        "the drifted feature before the change; opened:trials: incidents opened on the "
        "drifted feature -> number of trials; on others: incidents on the benign companions. "
        "Bars: benign 0; planted, exactly 1 incident and none on others."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 M records per shape, 8 trials")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--records", type=int, help="live records per benign shape")
    parser.add_argument("--trials", type=int, help="seeded trials per planted drift")
    parser.add_argument("--max-delay", type=int, default=MAX_DELAY)
    parser.add_argument(
        "--base",
        choices=["iid", "ar50", "both"],
        default="both",
        help="base noise of the planted drifts: iid, AR(1) rho 0.5, or both",
    )
    args = parser.parse_args()
    records = args.records or (1_000_000 if args.quick else 10_000_000)
    trials = args.trials or (8 if args.quick else 30)
    bases = {"iid": 0.0, "ar50": 0.5}
    if args.base != "both":
        bases = {args.base: bases[args.base]}
    progress = sys.stderr if args.json else sys.stdout

    def say(line: str) -> None:
        print(line, file=progress, flush=True)

    figures: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "host_cores": os.cpu_count(),
        "python": platform.python_version(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "loadavg_before": load_average(),
        "records_per_benign_shape": records,
        "trials": trials,
        "batch": BATCH,
    }
    say(
        f"driftwarden alert quality — {figures['date']}, {figures['host_cores']} cores, "
        f"python {figures['python']}, command: {figures['command']}"
    )

    section = (time.perf_counter(), time.process_time())

    def section_done(name: str) -> None:
        nonlocal section
        wall, cpu = time.perf_counter() - section[0], time.process_time() - section[1]
        figures[f"{name}_section_s"] = {"wall": wall, "cpu": cpu}
        say(f"{name} section: {wall:.1f} s wall, {cpu:.1f} s CPU")
        section = (time.perf_counter(), time.process_time())

    benign: dict[str, Any] = {}
    shapes: dict[str, dict[str, BenignShape]] = {name: {name: s} for name, s in BENIGN.items()}
    shapes["production (6 features)"] = PRODUCTION
    for i, (name, group) in enumerate(shapes.items()):
        run = run_benign(group, 1000 + i, records)
        benign[name] = {
            "features": len(run.features),
            "records": run.records,
            "incident_opened": len(run.opened),
            "false_per_feature_per_100m": run.per_feature_per_100m,
            "first_opened": describe(run.opened[:5]).splitlines() if run.opened else [],
            "wall_s": run.wall_s,
            "cpu_s": run.cpu_s,
        }
        say(
            f"  benign {name}: {run.records:,} records, {len(run.opened)} opened "
            f"({run.wall_s:.1f} s wall, {run.cpu_s:.1f} s CPU)"
        )
        for line in benign[name]["first_opened"]:
            say(f"    {line}")
    figures["benign"] = benign
    section_done("benign")

    figures["planted_psi"] = {name: planted_psi(name) for name in PLANTED}
    planted_figures: dict[str, Any] = {}
    for base, rho in bases.items():
        for k, name in enumerate(PLANTED):
            wall, cpu = time.perf_counter(), time.process_time()
            runs = [run_planted(name, 10_000 + 100 * k + t, rho) for t in range(trials)]
            summary = planted_summary(runs, args.max_delay)
            summary["wall_s"] = time.perf_counter() - wall
            summary["cpu_s"] = time.process_time() - cpu
            planted_figures[f"{name} [{base}]"] = summary
            say(
                f"  planted {name} [{base}]: {summary['detected']}/{trials} detected "
                f"({summary['wall_s']:.1f} s wall, {summary['cpu_s']:.1f} s CPU)"
            )
    figures["planted"] = planted_figures
    section_done("planted")
    figures["loadavg_after"] = load_average()

    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
