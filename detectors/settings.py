"""Typed detector settings: defaults by feature kind, per-feature overrides, ignored features.

These pydantic models are the ``detectors:`` section of the service config. Unknown keys are
errors. Numeric thresholds apply to values standardised by the reference profile (training
mean and std), so one default fits every feature whatever its unit.
"""

from __future__ import annotations

from typing import Any, Literal, overload

from pydantic import BaseModel, ConfigDict, Field

from driftwarden.detectors.feature_batch import Kind

__all__ = [
    "AdwinSettings",
    "CategoricalDefaults",
    "CategoricalDriftSettings",
    "DetectorSettings",
    "FeatureOverride",
    "HistogramSettings",
    "IncidentSettings",
    "NullRateSettings",
    "NumericDefaults",
    "PageHinkleySettings",
    "SchemaSettings",
]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AdwinSettings(_Settings):
    """ADWIN on standardised values, clipped to ±``clip_z`` (river's parameters).

    ``delta`` and ``grace_period`` differ from river's defaults (0.002 and 10): on standardised
    values clipped at ±5, delta 1e-5 gave 1 false alarm in 40 M N(0,1) values and 0 in 40 M
    standardised lognormal values, median delay 183 values for a 0.5σ shift
    (``python bench/detector_core.py --defaults``); river's 0.002 gives 2 and 307 per 10 M
    unclipped.


    >>> AdwinSettings(delta=1e-4).model_dump(exclude={"enabled"})
    {'delta': 0.0001, 'clock': 32, 'max_buckets': 5, 'min_window_length': 5, 'grace_period': 1000}
    """

    enabled: bool = True
    delta: float = Field(default=1e-5, gt=0.0, lt=1.0)
    clock: int = Field(default=32, ge=1)
    max_buckets: int = Field(default=5, ge=2)
    min_window_length: int = Field(default=5, ge=1)
    grace_period: int = Field(default=1000, ge=1)


class PageHinkleySettings(_Settings):
    """Page-Hinkley on standardised values.

    Not river's defaults (tuned for raw streams: ~300 false alarms per 500k N(0,1) values);
    these are ``driftwarden.detectors.page_hinkley.STANDARDISED_DEFAULTS``: 0 false alarms in 100 M
    N(0,1) and 100 M standardised lognormal values, median delay 373 values for a 0.5σ shift
    (``python bench/page_hinkley_defaults.py --long-streams 10``).


    >>> PageHinkleySettings().threshold, PageHinkleySettings(mode="up").mode
    (150.0, 'up')
    """

    enabled: bool = True
    min_instances: int = Field(default=30, ge=1)
    delta: float = Field(default=0.1, ge=0.0)
    threshold: float = Field(default=150.0, gt=0.0)
    alpha: float = Field(default=1.0, gt=0.0, le=1.0)
    mode: Literal["up", "down", "both"] = "both"


class HistogramSettings(_Settings):
    """Tumbling-window histogram against the reference's quantile bins (``HistogramDrift``).

    Off by default: the pane evidence every feature's incidents are judged on (see
    ``IncidentSettings``) tests the same histogram over sliding windows, corrected for serial
    dependence, and reports distribution shifts, out-of-range values and sparse support as
    findings. Turn it on to have its window-by-window events as extra evidence.

    A window drifts when ``psi >= psi_threshold``, ``js >= js_threshold`` or the two-sample
    chi-square ``p_value < p_value_threshold`` (0 turns that rule off).

    >>> HistogramSettings().enabled, HistogramSettings(psi_threshold=0.1).psi_threshold
    (False, 0.1)
    """

    enabled: bool = False
    window: int = Field(default=5000, ge=100)
    bins: int = Field(default=20, ge=2, description="bins when learning from live data")
    sparse_min_count: int = Field(default=5, ge=1)
    psi_threshold: float = Field(default=0.2, gt=0.0)
    js_threshold: float = Field(default=0.1, gt=0.0, le=1.0)
    p_value_threshold: float = Field(default=1e-6, ge=0.0, lt=1.0)
    out_of_range_threshold: float = Field(default=0.01, gt=0.0, le=1.0)
    sparse_threshold: float = Field(default=0.05, gt=0.0, le=1.0)


class NullRateSettings(_Settings):
    """Share of missing values per tumbling window against the reference's null rate
    (``NullRate``).

    Off by default, like ``HistogramSettings``: the pane evidence tests the null rate over
    sliding windows, corrected for serial dependence, as a ``null_rate`` finding.

    >>> NullRateSettings().enabled, NullRateSettings().z_threshold
    (False, 6.0)
    """

    enabled: bool = False
    window: int = Field(default=5000, ge=100)
    z_threshold: float = Field(default=6.0, gt=0.0)
    min_abs_change: float = Field(default=0.01, ge=0.0, le=1.0)


class CategoricalDriftSettings(_Settings):
    """Category mix, novel categories and cardinality of a categorical feature.

    >>> CategoricalDriftSettings(novel_min_share=0.0).novel_min_share
    0.0
    """

    enabled: bool = True
    window: int = Field(default=5000, ge=100)
    top_k: int = Field(default=64, ge=1)
    js_threshold: float = Field(default=0.1, gt=0.0, le=1.0)
    p_value_threshold: float = Field(default=1e-6, gt=0.0, lt=1.0)
    novel_min_share: float = Field(default=0.005, ge=0.0, le=1.0)


class IncidentSettings(_Settings):
    """How findings are judged and roll up into incidents (see docs/detectors.md).

    Each feature's records are cut into panes of ``pane_records``; at every pane's end the
    trailing windows of 1, 2, 5, 10, 20 and ``window_panes`` panes are tested. A finding opens
    when a window shows both statistical evidence, corrected for serial dependence
    (``z_threshold`` for means and rates, ``p_value_threshold`` for the chi-square of a
    distribution), and an effect at or above its floor. It clears once the whole trailing
    window's effect stays under ``resolve_fraction`` × its floor for ``resolve_panes``
    consecutive panes; an incident resolves when every finding has cleared.

    The floors are practical significance: mean shift in training standard deviations, PSI
    in excess of what sampling noise gives, absolute change of a share. With the defaults a
    change with PSI < 0.05 and a mean shift < 0.1σ never opens an incident, one with PSI ≥ 0.2
    or a mean shift ≥ 0.5σ always does.

    >>> IncidentSettings(mean_shift_floor=0.5).psi_floor
    0.1
    """

    pane_records: int = Field(default=100, ge=10, description="records per pane")
    window_panes: int = Field(default=50, ge=2, le=1000, description="panes in the longest window")
    z_threshold: float = Field(
        default=6.0, gt=0.0, description="dependence-corrected |z| for means and rates"
    )
    p_value_threshold: float = Field(
        default=1e-7, gt=0.0, lt=1.0, description="dependence-corrected chi-square p-value"
    )
    mean_shift_floor: float = Field(default=0.25, ge=0.0, description="in training σ")
    psi_floor: float = Field(default=0.1, ge=0.0, description="PSI above sampling noise")
    null_rate_floor: float = Field(default=0.01, ge=0.0, le=1.0, description="absolute change")
    out_of_range_floor: float = Field(
        default=0.01, ge=0.0, le=1.0, description="share beyond the training range"
    )
    sparse_floor: float = Field(
        default=0.05, ge=0.0, le=1.0, description="share in quantile bins training barely had"
    )
    sparse_min_count: int = Field(
        default=5, ge=1, description="training count under which a quantile bin is sparse"
    )
    novel_share_floor: float = Field(
        default=0.005, ge=0.0, le=1.0, description="share of values training never had"
    )
    effect_margin: float = Field(
        default=3.0,
        ge=0.0,
        description="standard errors by which a window's effect must clear its floor",
    )
    resolve_fraction: float = Field(default=0.5, gt=0.0, lt=1.0)
    resolve_panes: int = Field(default=20, ge=1)
    critical_multiple: float = Field(
        default=4.0, ge=1.0, description="effect, in floors, from which a finding is critical"
    )
    update_min_records: int = Field(
        default=10_000, ge=0, description="records between two updates for a severity rise"
    )


class NumericDefaults(_Settings):
    """Detectors run on every numeric feature unless overridden.

    >>> NumericDefaults(adwin={"enabled": False}).adwin.enabled
    False
    """

    adwin: AdwinSettings = Field(default_factory=AdwinSettings)
    page_hinkley: PageHinkleySettings = Field(default_factory=PageHinkleySettings)
    histogram: HistogramSettings = Field(default_factory=HistogramSettings)
    null_rate: NullRateSettings = Field(default_factory=NullRateSettings)


class CategoricalDefaults(_Settings):
    """Detectors run on every categorical feature unless overridden.

    >>> CategoricalDefaults().categorical.top_k
    64
    """

    categorical: CategoricalDriftSettings = Field(default_factory=CategoricalDriftSettings)
    null_rate: NullRateSettings = Field(default_factory=NullRateSettings)


class SchemaSettings(_Settings):
    """Novel, missing and re-typed fields.

    >>> SchemaSettings(missing_grace=50).missing_grace
    50
    """

    missing_grace: int = Field(default=1000, ge=1, description="consecutive records absent")
    max_fields: int = Field(default=1000, ge=1)


class FeatureOverride(_Settings):
    """Per-feature changes on top of the defaults of its kind; only the keys given change.

    ``kind`` forces numeric or categorical handling (otherwise the profile decides, or the
    JSON type of the first values when the profile does not list the feature).

    >>> FeatureOverride(kind="categorical", categorical={"top_k": 8}).categorical
    {'top_k': 8}
    """

    kind: Kind | None = None
    adwin: dict[str, Any] | None = None
    page_hinkley: dict[str, Any] | None = None
    histogram: dict[str, Any] | None = None
    null_rate: dict[str, Any] | None = None
    categorical: dict[str, Any] | None = None
    incidents: dict[str, Any] | None = None


class DetectorSettings(_Settings):
    """The whole ``detectors:`` section.

    >>> settings = DetectorSettings.model_validate(
    ...     {"ignore": ["request_id"], "schema": {"max_fields": 50}}
    ... )
    >>> settings.ignore, settings.schema_.max_fields, settings.cooldown_records
    (['request_id'], 50, 10000)
    """

    numeric: NumericDefaults = Field(default_factory=NumericDefaults)
    categorical: CategoricalDefaults = Field(default_factory=CategoricalDefaults)
    schema_: SchemaSettings = Field(default_factory=SchemaSettings, alias="schema")
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    features: dict[str, FeatureOverride] = Field(default_factory=dict)
    ignore: list[str] = Field(default_factory=list, description="features never tracked")
    cooldown_records: int = Field(
        default=10_000,
        ge=0,
        description="records after an event during which repeats of it are suppressed",
    )
    resolve_after_records: int = Field(
        default=20_000,
        ge=1,
        description="records without a new detection before ADWIN/PH drift is resolved",
    )
    clip_z: float = Field(
        default=5.0,
        gt=0.0,
        description="standardised values are clipped to ±clip_z before ADWIN and Page-Hinkley, "
        "so that one heavy-tail spike cannot look like a change of mean",
    )
    warmup: int = Field(
        default=1000,
        ge=30,
        description="values that form the standardisation reference of a feature the "
        "profile does not cover",
    )
    max_features: int = Field(default=1000, ge=1)

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    @overload
    def resolved(self, feature: str, kind: Literal["numeric"]) -> NumericDefaults: ...
    @overload
    def resolved(self, feature: str, kind: Literal["categorical"]) -> CategoricalDefaults: ...
    @overload
    def resolved(self, feature: str, kind: Kind) -> NumericDefaults | CategoricalDefaults: ...

    def resolved(self, feature: str, kind: Kind) -> NumericDefaults | CategoricalDefaults:
        """The detectors of ``feature``: the defaults of ``kind`` with its overrides applied.

        Raises pydantic's ``ValidationError`` when an override breaks a detector's bounds.

        >>> s = DetectorSettings(features={"price": {"adwin": {"delta": 0.01}}})
        >>> s.resolved("price", "numeric").adwin.delta
        0.01
        >>> s.resolved("age", "numeric").adwin.delta
        1e-05
        """
        defaults = self.numeric if kind == "numeric" else self.categorical
        override = self.features.get(feature)
        if override is None:
            return defaults
        patched: dict[str, BaseModel] = {}
        for name in type(defaults).model_fields:
            patch = getattr(override, name)
            if patch:
                base: BaseModel = getattr(defaults, name)
                patched[name] = base.model_validate({**base.model_dump(), **patch})
        return defaults.model_copy(update=patched) if patched else defaults

    def incident_settings(self, feature: str) -> IncidentSettings:
        """The incident settings of ``feature``: ``incidents`` with its override applied.

        >>> s = DetectorSettings(features={"price": {"incidents": {"psi_floor": 0.2}}})
        >>> s.incident_settings("price").psi_floor, s.incident_settings("age").psi_floor
        (0.2, 0.1)
        """
        override = self.features.get(feature)
        if override is None or not override.incidents:
            return self.incidents
        return IncidentSettings.model_validate(
            {**self.incidents.model_dump(), **override.incidents}
        )
