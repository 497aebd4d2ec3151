"""Where a training profile has too little data to judge production by: the "not enough
data" pitfall, said per feature in plain words."""

from __future__ import annotations

from typing import Final

from driftwarden.detectors.profile import FeatureProfile

__all__ = ["ThinSpotLimits", "thin_spots"]


class ThinSpotLimits:
    """What counts as thin: fewer than ``min_values`` values in all, a quantile bin with
    fewer than ``sparse_bin`` values (the detectors' ``sparse_min_count``), a category with
    fewer than ``rare_count`` values, a null rate of ``high_null_rate`` or more."""

    def __init__(
        self,
        min_values: int = 1000,
        sparse_bin: int = 5,
        rare_count: int = 30,
        high_null_rate: float = 0.2,
    ) -> None:
        self.min_values = min_values
        self.sparse_bin = sparse_bin
        self.rare_count = rare_count
        self.high_null_rate = high_null_rate


_DEFAULT: Final = ThinSpotLimits()
_SHOWN: Final = 4  # ranges or categories named per line


def thin_spots(feature: FeatureProfile, limits: ThinSpotLimits = _DEFAULT) -> list[str]:
    """The feature's thin spots, one sentence each (none: an empty list).

    >>> from driftwarden.detectors.profile import CategoricalSummary, NumericSummary
    >>> numeric = NumericSummary(mean=5.0, std=2.0, min=0.0, max=10.0, bin_edges=[5.0, 9.0],
    ...                          bin_counts=[0, 600, 398, 2, 0])
    >>> for line in thin_spots(FeatureProfile(kind="numeric", count=1250, null_count=250,
    ...                                       numeric=numeric)):
    ...     print(line)
    20.0% of training records have no value
    1 of 3 value ranges hold fewer than 5 training values: 9–10
    >>> rare = CategoricalSummary(top={"web": 5000, "fax": 3})
    >>> thin_spots(FeatureProfile(kind="categorical", count=5003, null_count=0, categorical=rare))
    ['1 of 2 categories seen fewer than 30 times in training: fax (3)']
    """
    lines = []
    values = feature.count - feature.null_count
    if values < limits.min_values:
        lines.append(
            f"only {values:,} training values: every comparison with production is uncertain"
        )
    if feature.count and feature.null_rate >= limits.high_null_rate:
        lines.append(f"{feature.null_rate:.1%} of training records have no value")
    if feature.numeric is not None:
        summary = feature.numeric
        bounds = [summary.min, *summary.bin_edges, summary.max]
        inner = summary.bin_counts[1:-1]
        sparse = [
            f"{bounds[i]:.4g}–{bounds[i + 1]:.4g}"
            for i, count in enumerate(inner)
            if count < limits.sparse_bin and bounds[i + 1] > bounds[i]
        ]
        if sparse:
            named = ", ".join(sparse[:_SHOWN]) + (" …" if len(sparse) > _SHOWN else "")
            lines.append(
                f"{len(sparse)} of {len(inner)} value ranges hold fewer than "
                f"{limits.sparse_bin} training values: {named}"
            )
    if feature.categorical is not None:
        top = feature.categorical.top
        rare = sorted((count, label) for label, count in top.items() if count < limits.rare_count)
        if rare:
            named = ", ".join(f"{label} ({count})" for count, label in rare[:_SHOWN])
            more = " …" if len(rare) > _SHOWN else ""
            lines.append(
                f"{len(rare)} of {len(top)} categories seen fewer than {limits.rare_count} "
                f"times in training: {named}{more}"
            )
        if not feature.categorical.complete and feature.categorical.other_count:
            lines.append(
                f"{feature.categorical.other_count:,} training values fall in categories the "
                "profile does not list: a live value outside the list may not be new"
            )
    return lines
