"""The demo's HTML report: the demo's production records replayed against its training
profile, with the demo's detector settings, drawn by ``driftwarden.stream.report``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Final

import numpy as np

from driftwarden.stream.demo.runner import DemoOptions, demo_config
from driftwarden.stream.demo.scenario import build_training_profile, make_scenario
from driftwarden.stream.replay import PayloadBatch, Replayer
from driftwarden.stream.report.page import write_page
from driftwarden.stream.report.replay_source import collect

__all__ = ["DEFAULT_REPORT", "write_demo_report"]

DEFAULT_REPORT: Final = "driftwarden-demo-report.html"
_BATCH: Final = 1000  # records per replayed batch: one timeline point each


def write_demo_report(options: DemoOptions, path: str | Path) -> Path:
    """Write the report of the demo run ``options`` describes (same profile, records and
    detector settings) to ``path``; returns the path."""
    with tempfile.TemporaryDirectory(prefix="driftwarden-demo-report-") as tmp:
        profile_path = Path(tmp) / "training-profile.json"
        profile = build_training_profile(profile_path, seed=options.seed + 1000)
        config = demo_config("mock:9092", "demo", profile_path, False, options.window)
    scenario = make_scenario(options.records, options.seed)
    replayer = Replayer(profile, config.detectors, config.input)
    collector = collect(replayer)
    payloads = scenario.payloads
    for first in range(0, len(payloads), _BATCH):
        chunk = payloads[first : first + _BATCH]
        lines = np.arange(first + 1, first + 1 + len(chunk), dtype=np.int64)
        replayer.process(PayloadBatch("loan-applications", chunk, lines), "loan-applications")
    pitfalls = "; ".join(f"{p.name} at record {p.start + 1:,}" for p in scenario.pitfalls)
    data = collector.report_data(
        "driftwarden demo: training vs production, feature by feature",
        f"The demo's {options.records:,} generated loan applications (seed {options.seed}) "
        "replayed against the profile of 50,000 training applications. Planted: " + pitfalls + ".",
    )
    return write_page(data, path)
