"""The detector core: online drift detectors over numpy arrays, their reference profile, and
the ``DetectorBank`` that runs every detector of every feature over a ``FeatureBatch``.

Pure computation: no Kafka, no files, no clocks. ADWIN and Page-Hinkley make the same
decisions as river's on the same stream, whatever the batch boundaries; every detector
documents its memory bound. docs/detectors.md is the manual.

>>> from driftwarden.detectors import ADWIN
>>> adwin = ADWIN(clock=1)
>>> [int(i) for i in adwin.update_many([0.0] * 100 + [10.0] * 20)]
[104]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftwarden.detectors.adwin import ADWIN
    from driftwarden.detectors.bank import DetectorBank
    from driftwarden.detectors.categorical_drift import CategoricalDrift
    from driftwarden.detectors.histogram_drift import HistogramDrift
    from driftwarden.detectors.null_rate import NullRate
    from driftwarden.detectors.page_hinkley import PageHinkley
    from driftwarden.detectors.profile import Profile
    from driftwarden.detectors.schema_tracker import SchemaTracker
    from driftwarden.detectors.settings import DetectorSettings

__all__ = [
    "ADWIN",
    "CategoricalDrift",
    "DetectorBank",
    "DetectorSettings",
    "HistogramDrift",
    "NullRate",
    "PageHinkley",
    "Profile",
    "SchemaTracker",
]

# Imported on first use, so that reading a profile or a config does not load numba.
_HOMES = {
    "ADWIN": "adwin",
    "CategoricalDrift": "categorical_drift",
    "DetectorBank": "bank",
    "DetectorSettings": "settings",
    "HistogramDrift": "histogram_drift",
    "NullRate": "null_rate",
    "PageHinkley": "page_hinkley",
    "Profile": "profile",
    "SchemaTracker": "schema_tracker",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
