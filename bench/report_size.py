"""How big a report gets and how long Chromium takes to open it: a synthetic profile of
1,000 features and a month of incident events (through the same path as
``driftwarden report --config``), rendered, then loaded by headless Chromium.

    .venv/bin/python bench/report_size.py [--features 1000] [--days 30] [--events-per-day 400]

Prints the events, the render time, the page size in MB, and the wall time of a headless
Chromium load (``--dump-dom``, scripts run) and of a screenshot, each of a fresh browser.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from driftwarden.detectors.profile import (
    CategoricalSummary,
    FeatureProfile,
    NumericSummary,
    Profile,
)
from driftwarden.stream.report.page import write_page
from driftwarden.stream.report.service_source import LiveFeatureState
from driftwarden.stream.report.service_view import service_report_data

_START = 1_700_000_000.0


def _profile(n: int, rng: np.random.Generator) -> Profile:
    features = {}
    for i in range(n):
        if i % 4 == 3:
            top = {f"c{j}": int(c) for j, c in enumerate(rng.integers(10, 5000, 30))}
            summary = CategoricalSummary(top=top, other_count=100, complete=False)
            features[f"cat_{i:04d}"] = FeatureProfile(
                kind="categorical", count=50_000, null_count=200, categorical=summary
            )
        else:
            edges = np.linspace(-2.0, 2.0, 19).tolist()
            counts = [0, *rng.integers(1000, 5000, 20).tolist(), 0]
            numeric = NumericSummary(
                mean=0.0, std=1.0, min=-4.0, max=4.0, bin_edges=edges, bin_counts=counts
            )
            features[f"num_{i:04d}"] = FeatureProfile(
                kind="numeric", count=50_000, null_count=100, numeric=numeric
            )
    return Profile(n_rows=50_000, features=features)


def _events(profile: Profile, days: int, per_day: int, rng: np.random.Generator) -> list[Any]:
    """Incident opened/updated/resolved events spread over ``days``, on random features."""
    names = list(profile.features)
    events: list[dict[str, Any]] = []
    for k in range(days * per_day // 3):
        feature = names[int(rng.integers(len(names)))]
        opened = _START + rng.uniform(0, days * 86_400)
        seen = int((opened - _START) * 10)
        for step, kind in enumerate(("opened", "updated", "resolved")):
            at = opened + step * 1800
            moment = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(at))
            events.append(
                {
                    "type": f"driftwarden.incident.{kind}.v1",
                    "subject": feature,
                    "time": moment,
                    "data": {
                        "incident_id": f"i{k}",
                        "feature": feature,
                        "severity": ("warning", "critical")[k % 2],
                        "records_seen": seen + step * 18_000,
                        "findings": [
                            {
                                "kind": "mean_shift",
                                "onset_at": max(1, seen - 500),
                                "effect": {"mean_shift_sigma": float(rng.normal(0, 1))},
                            }
                        ],
                        "summary": {
                            "live": {"psi": float(rng.exponential(0.2)), "null_rate": 0.01}
                        },
                    },
                }
            )
    return events


def _live(profile: Profile, rng: np.random.Generator) -> dict[str, LiveFeatureState]:
    live = {}
    for name, feature in profile.features.items():
        if feature.numeric is not None:
            counts = rng.integers(0, 500, len(feature.numeric.bin_counts)).tolist()
            summary = {"live": {"records": 5000, "null_rate": 0.01}}
            live[name] = LiveFeatureState({"psi": 0.05}, summary, counts)
        else:
            top = [[label, 1 / 31, 1 / 31] for label in list(feature.categorical.top)[:20]]  # type: ignore[union-attr]
            live[name] = LiveFeatureState({"psi": 0.05}, {"live": {"records": 5000, "top": top}})
    return live


def _chromium_s(page: Path, extra: list[str]) -> float:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise SystemExit("no chromium on PATH (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        started = time.monotonic()
        subprocess.run(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={profile}",
                *extra,
                page.resolve().as_uri(),
            ],
            capture_output=True,
            check=True,
            timeout=300,
        )
        return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--events-per-day", type=int, default=400)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    profile = _profile(args.features, rng)
    events = _events(profile, args.days, args.events_per_day, rng)
    live = _live(profile, rng)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        started = time.monotonic()
        data = service_report_data(
            profile, live, events, _START + args.days * 86_400, "bench", "synthetic"
        )
        write_page(data, page)
        render_s = time.monotonic() - started
        size_mb = page.stat().st_size / 1e6
        load_s = _chromium_s(page, ["--dump-dom", "--virtual-time-budget=10000"])
        shot = Path(tmp) / "shot.png"
        shot_s = _chromium_s(page, [f"--screenshot={shot}", "--window-size=1280,2000"])
    print(
        f"features={args.features} events={len(events):,} over {args.days} days: "
        f"render {render_s:.1f} s, page {size_mb:.1f} MB, chromium load (dump-dom) "
        f"{load_s:.1f} s, chromium screenshot {shot_s:.1f} s"
    )


if __name__ == "__main__":
    main()
