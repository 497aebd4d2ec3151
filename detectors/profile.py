"""The reference profile: what the training data looked like, feature by feature.

The pydantic models here are the single source of truth for the profile document;
its JSON Schema is generated from them (``Profile.model_json_schema()``).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["PROFILE_FORMAT_VERSION", "CategoricalSummary", "FeatureProfile", "Profile"]

PROFILE_FORMAT_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericSummary(_Strict):
    """Moments, range and quantile histogram of a numeric feature's non-null values.

    ``bin_edges`` are the interior quantile edges (strictly increasing); ``bin_counts`` has one
    count per bin of the convention used by ``HistogramDrift``: underflow (below ``min``), one
    bin per gap between ``min``, the edges and ``max``, and overflow (above ``max``), so
    ``len(bin_counts) == len(bin_edges) + 3``. ``bin_counts_rank_error`` says how exact the
    counts are (see ``HistogramDrift``, "Sketched reference").

    >>> NumericSummary(mean=1.5, std=0.5, min=1.0, max=2.0, bin_edges=[1.5],
    ...                bin_counts=[0, 10, 10, 0]).bin_counts
    [0, 10, 10, 0]
    """

    mean: float
    std: float = Field(ge=0.0)
    min: float
    max: float
    bin_edges: list[float]
    bin_counts: list[int]
    bin_counts_rank_error: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="rank error of bin_counts at each edge, as a share of their total "
        "(99 % confidence): 0 when exact, the KLL sketch's error once profile build compacts",
    )

    @model_validator(mode="after")
    def _check_bins(self) -> NumericSummary:
        edges = self.bin_edges
        if any(b <= a for a, b in pairwise(edges)):
            raise ValueError("bin_edges must be strictly increasing")
        if len(self.bin_counts) != len(edges) + 3:
            raise ValueError(
                f"bin_counts needs len(bin_edges) + 3 = {len(edges) + 3} entries "
                f"(underflow, bins, overflow), got {len(self.bin_counts)}"
            )
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class CategoricalSummary(_Strict):
    """The most frequent categories with counts; ``complete`` when none were left out.

    >>> CategoricalSummary(top={"ios": 7, "web": 3}, other_count=2, complete=False).other_count
    2
    """

    top: dict[str, int]
    other_count: int = Field(default=0, ge=0)
    complete: bool = True
    distinct_estimate: float | None = None


class FeatureProfile(_Strict):
    """One feature of the training data.

    >>> summary = CategoricalSummary(top={"ios": 6, "web": 2})
    >>> FeatureProfile(kind="categorical", count=10, null_count=2, categorical=summary).null_rate
    0.2
    """

    kind: Literal["numeric", "categorical"]
    count: int = Field(ge=0, description="records in which the field was present")
    null_count: int = Field(ge=0)
    numeric: NumericSummary | None = None
    categorical: CategoricalSummary | None = None

    @model_validator(mode="after")
    def _check_kind(self) -> FeatureProfile:
        if self.kind == "numeric" and self.numeric is None and self.count > self.null_count:
            raise ValueError("a numeric feature with values needs a 'numeric' summary")
        if self.kind == "categorical" and self.categorical is None:
            raise ValueError("a categorical feature needs a 'categorical' summary")
        return self

    @property
    def null_rate(self) -> float:
        """Share of null values among the records where the field was present.

        >>> FeatureProfile(kind="numeric", count=4, null_count=4).null_rate
        1.0
        """
        return self.null_count / self.count if self.count else 0.0


class Profile(_Strict):
    """A versioned profile of a training set (built by ``driftwarden profile build``).

    >>> p = Profile(
    ...     n_rows=3,
    ...     features={
    ...         "country": FeatureProfile(
    ...             kind="categorical", count=3, null_count=0,
    ...             categorical=CategoricalSummary(top={"FR": 2, "DE": 1}),
    ...         )
    ...     },
    ... )
    >>> p.features["country"].categorical.top["FR"]
    2
    >>> Profile.model_validate_json(p.model_dump_json()) == p
    True
    """

    format_version: Literal[1] = 1
    n_rows: int = Field(ge=0)
    features: dict[str, FeatureProfile]
    source: list[str] = Field(default_factory=list, description="inputs the profile was built from")
