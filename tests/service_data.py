"""Seeded inference-log records with the data pitfalls of docs/architecture.md, for service
tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.bank_data import profile_of

__all__ = ["CHANGED", "UNCHANGED", "live_records", "shifted_records", "training_profile"]

NUMERIC = ("f_shift", "f_range", "f_stable", "f_stable2")
CATEGORICAL = ("country", "device")
UNCHANGED = ("f_stable", "f_stable2")
CHANGED = ("f_shift", "f_range", "country", "device", "promo_code")
COUNTRIES = np.array(["FR", "DE", "ES", "IT"], dtype=object)
DEVICES = np.array(["ios", "android", "web"], dtype=object)


def _columns(rng: np.random.Generator, n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    numeric = {
        "f_shift": rng.normal(100.0, 10.0, n),
        "f_range": rng.uniform(0.0, 1.0, n),
        "f_stable": rng.lognormal(2.0, 0.5, n),
        "f_stable2": rng.normal(-3.0, 0.1, n),
    }
    categorical = {"country": rng.choice(COUNTRIES, n), "device": rng.choice(DEVICES, n)}
    return numeric, categorical


def training_profile(path: Path, n: int = 50_000, seed: int = 1) -> Path:
    """Write the profile of a seeded training set to ``path``."""
    profile = profile_of(*_columns(np.random.default_rng(seed), n))
    path.write_text(profile.model_dump_json())
    return path


def live_records(n: int, change_at: int | None, seed: int = 2) -> list[dict[str, Any]]:
    """``n`` inference-log records; from ``change_at`` on: f_shift moves by 1σ, 5 % of
    f_range lands above the training max, 5 % of countries are a novel 'BR', a field
    'promo_code' appears and 'device' disappears."""
    rng = np.random.default_rng(seed)
    numeric, categorical = _columns(rng, n)
    changed = np.zeros(n, dtype=bool)
    if change_at is not None:
        changed[change_at:] = True
        numeric["f_shift"][changed] += 10.0
        outside = changed & (rng.random(n) < 0.05)
        numeric["f_range"][outside] = rng.uniform(1.5, 2.0, int(outside.sum()))
        novel = changed & (rng.random(n) < 0.05)
        categorical["country"][novel] = "BR"
    records = []
    for i in range(n):
        features: dict[str, Any] = {name: float(numeric[name][i]) for name in NUMERIC}
        features["country"] = categorical["country"][i]
        if changed[i]:
            features["promo_code"] = "SPRING"
        else:
            features["device"] = categorical["device"][i]
        records.append({"request_id": f"r{i}", "model_version": "v3", "features": features})
    return records


def shifted_records(n: int, change_at: int, seed: int = 3) -> list[dict[str, Any]]:
    """``n`` records like the training set's, in which only f_shift changes: by +1σ from
    record ``change_at`` on."""
    rng = np.random.default_rng(seed)
    numeric, categorical = _columns(rng, n)
    numeric["f_shift"][change_at:] += 10.0
    return [
        {
            "request_id": f"r{i}",
            "features": {
                **{name: float(numeric[name][i]) for name in NUMERIC},
                **{name: str(categorical[name][i]) for name in CATEGORICAL},
            },
        }
        for i in range(n)
    ]
