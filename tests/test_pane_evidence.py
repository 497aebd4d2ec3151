"""The pane evidence incidents are judged on (``NumericEvidence``, ``CategoricalEvidence``,
through the ``DetectorBank``): the same incidents whatever the batches and across a snapshot,
bounded state, a reference learned without a profile, and each kind of finding where it
belongs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from driftwarden.detectors.bank import DetectorBank
from driftwarden.detectors.categorical_monitor import CategoricalMonitor
from driftwarden.detectors.feature_batch import FeatureBatch
from driftwarden.detectors.findings import FindingKind
from driftwarden.detectors.incidents import IncidentEvent, IncidentEventType
from driftwarden.detectors.numeric_monitor import NumericMonitor
from driftwarden.detectors.profile import FeatureProfile, NumericSummary, Profile
from driftwarden.detectors.settings import DetectorSettings, IncidentSettings
from tests.bank_data import make_batch, profile_of

Columns = dict[str, npt.NDArray[Any]]
N_TRAIN = 100_000
N_LIVE = 60_000
CHANGE_AT = 30_000  # record number CHANGE_AT + 1 is the first changed one
CHANGE_ENDS = 45_000
COUNTRIES = np.array(["FR", "DE", "ES", "IT"], dtype=object)
MIX = np.array([0.4, 0.3, 0.2, 0.1])


def batches(numeric: Columns, categorical: Columns, sizes: list[int]) -> Iterator[FeatureBatch]:
    """The columns cut into consecutive batches of ``sizes`` records (the rest in one)."""
    n = len(next(iter({**numeric, **categorical}.values())))
    bounds = np.cumsum([0, *sizes])
    bounds = np.append(bounds[bounds < n], n)
    for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        yield make_batch(
            {k: v[start:stop] for k, v in numeric.items()},
            {k: v[start:stop] for k, v in categorical.items()},
            first_offset=start,
        )


def incidents(bank: DetectorBank, numeric: Columns, categorical: Columns, sizes: list[int]):
    return [e for b in batches(numeric, categorical, sizes) for e in bank.run(b).incidents]


def random_sizes(seed: int, total: int, largest: int = 7000) -> list[int]:
    rng = np.random.default_rng(seed)
    return rng.integers(1, largest + 1, total // 2).tolist()


def opened(events: list[IncidentEvent], feature: str) -> list[IncidentEvent]:
    return [e for e in events if e.feature == feature and e.type is IncidentEventType.OPENED]


def open_features(events: list[IncidentEvent]) -> set[str]:
    """The features whose latest event leaves an incident open."""
    latest = {e.feature: e for e in events}
    return {name for name, e in latest.items() if e.type is not IncidentEventType.RESOLVED}


# -- scenarios ------------------------------------------------------------------------------


def _mean_shift(rng: np.random.Generator) -> tuple[Profile, Columns, Columns]:
    x = rng.normal(50.0, 5.0, N_LIVE)
    x[CHANGE_AT:CHANGE_ENDS] += 2.5  # 0.5σ, then back
    return profile_of({"x": rng.normal(50.0, 5.0, N_TRAIN)}, {}), {"x": x}, {}


def _mix_shift(rng: np.random.Generator) -> tuple[Profile, Columns, Columns]:
    c = COUNTRIES[rng.choice(4, N_LIVE, p=MIX)]
    c[CHANGE_AT:CHANGE_ENDS] = COUNTRIES[rng.choice(4, CHANGE_ENDS - CHANGE_AT)]  # PSI 0.23
    return profile_of({}, {"c": COUNTRIES[rng.choice(4, N_TRAIN, p=MIX)]}), {}, {"c": c}


def _null_rate(rng: np.random.Generator) -> tuple[Profile, Columns, Columns]:
    x = rng.normal(0.0, 1.0, N_LIVE)
    late = np.arange(CHANGE_AT, CHANGE_ENDS)
    x[late[rng.random(late.size) < 0.05]] = np.nan
    c = COUNTRIES[rng.choice(4, N_LIVE, p=MIX)]
    c[late[rng.random(late.size) < 0.05]] = None
    profile = profile_of(
        {"x": rng.normal(0.0, 1.0, N_TRAIN)}, {"c": COUNTRIES[rng.choice(4, N_TRAIN, p=MIX)]}
    )
    return profile, {"x": x}, {"c": c}


def _novel_category(rng: np.random.Generator) -> tuple[Profile, Columns, Columns]:
    c = COUNTRIES[rng.choice(4, N_LIVE, p=MIX)]
    late = np.arange(CHANGE_AT, N_LIVE)
    c[late[rng.random(late.size) < 0.05]] = "BR"
    return profile_of({}, {"c": COUNTRIES[rng.choice(4, N_TRAIN, p=MIX)]}), {}, {"c": c}


def _novel_category_that_stops(rng: np.random.Generator) -> tuple[Profile, Columns, Columns]:
    c = COUNTRIES[rng.choice(4, N_LIVE, p=MIX)]
    late = np.arange(CHANGE_AT, CHANGE_AT + 2000)
    c[late[rng.random(late.size) < 0.05]] = "BR"
    return profile_of({}, {"c": COUNTRIES[rng.choice(4, N_TRAIN, p=MIX)]}), {}, {"c": c}


SCENARIOS = {
    "mean_shift": _mean_shift,
    "mix_shift": _mix_shift,
    "null_rate": _null_rate,
    "novel_category": _novel_category,
    "novel_category_that_stops": _novel_category_that_stops,
}
SPLITS = {
    "one_batch": [N_LIVE],
    "10000": [10_000] * 6,
    "random_1_to_7000": random_sizes(7, N_LIVE),
}


@pytest.mark.parametrize(
    "scenario",
    [
        "mean_shift",
        "mix_shift",
        "null_rate",
        "novel_category",
        "novel_category_that_stops",
    ],
)
def test_incidents_are_identical_whatever_the_batches(scenario: str) -> None:
    profile, numeric, categorical = SCENARIOS[scenario](np.random.default_rng(41))
    runs = {}
    for name, sizes in SPLITS.items():
        bank = DetectorBank(DetectorSettings(), profile)
        runs[name] = incidents(bank, numeric, categorical, sizes)

    expected = runs.pop("one_batch")
    assert expected, "the scenario must open an incident"
    assert expected[0].records_seen > CHANGE_AT
    for name, got in runs.items():
        assert [(e.type, e.records_seen) for e in got] == [
            (e.type, e.records_seen) for e in expected
        ], name
        assert [e.model_dump() for e in got] == [e.model_dump() for e in expected], name


@pytest.mark.parametrize("scenario", ["mean_shift", "mix_shift", "null_rate"])
def test_the_scenarios_open_then_resolve_their_incident(scenario: str) -> None:
    """The split test above compares a whole life cycle, not only an opening."""
    profile, numeric, categorical = SCENARIOS[scenario](np.random.default_rng(41))
    events = incidents(DetectorBank(DetectorSettings(), profile), numeric, categorical, [5000])

    kinds = [e.type for e in events]
    assert kinds[0] is IncidentEventType.OPENED and kinds[-1] is IncidentEventType.RESOLVED
    assert CHANGE_ENDS < events[-1].records_seen < CHANGE_ENDS + 10_000


@pytest.mark.parametrize("cut", [2_550, 12_345, 30_250, 33_333, 46_000])
def test_snapshot_and_restore_mid_stream_gives_the_incidents_of_an_uninterrupted_run(
    cut: int,
) -> None:
    """Cuts: while "learned" learns its reference, before the change, just after it
    (a pane and the first windows open), while the incidents are open, while they resolve."""
    rng = np.random.default_rng(43)
    mean_profile, numeric, _ = _mean_shift(rng)
    mix_profile, _, categorical = _mix_shift(rng)
    null_profile, nulls, _ = _null_rate(rng)
    numeric["nulls"] = nulls["x"]
    # "learned" has no profile: its reference is learned from its first 5,000 values.
    numeric["learned"] = rng.normal(size=N_LIVE) + (np.arange(N_LIVE) >= CHANGE_AT)
    profile = Profile(
        n_rows=N_TRAIN,
        features={
            "x": mean_profile.features["x"],
            "c": mix_profile.features["c"],
            "nulls": null_profile.features["x"],
        },
    )
    settings = DetectorSettings()
    sizes = [3000] * (N_LIVE // 3000)
    whole = incidents(DetectorBank(settings, profile), numeric, categorical, sizes)

    first = DetectorBank(settings, profile)
    head, *tail = batches(numeric, categorical, [cut, *sizes])
    before = first.run(head).incidents
    state = json.loads(json.dumps(first.snapshot()))
    second = DetectorBank.restore(state, settings, profile)
    after = [e for b in tail for e in second.run(b).incidents]

    if cut == 33_333:
        assert open_features(before) == {"x", "c", "nulls", "learned"}
    assert all(opened(whole, name) for name in ("x", "c", "nulls", "learned"))
    assert [e.model_dump() for e in before + after] == [e.model_dump() for e in whole]
    assert second.records_seen == N_LIVE


def test_a_version_1_snapshot_restores_and_judges_panes_from_there_on() -> None:
    """A bank saved before incidents existed has no pane evidence: it starts one."""
    rng = np.random.default_rng(44)
    profile, numeric, _ = _mean_shift(rng)
    settings = DetectorSettings()
    bank = DetectorBank(settings, profile)
    for batch in batches({k: v[:20_000] for k, v in numeric.items()}, {}, [5000] * 4):
        bank.run(batch)
    state = json.loads(json.dumps(bank.snapshot()))
    state["version"] = 1
    del state["incidents"]
    for entry in state["monitors"].values():
        del entry["state"]["evidence"]

    restored = DetectorBank.restore(state, settings, profile)
    later = [
        e
        for b in batches(numeric, {}, [20_000, *[5000] * 8])
        if b.positions.offsets[0] >= 20_000
        for e in restored.run(b).incidents
    ]

    monitor = restored.monitors["x"]
    assert isinstance(monitor, NumericMonitor) and monitor.evidence is not None
    assert opened(later, "x") and opened(later, "x")[0].records_seen > CHANGE_AT


def test_evidence_state_stays_the_same_size_over_millions_of_values() -> None:
    """5 M values of a numeric feature (0.1 % missing, a shift that comes and goes and one still
    open at the end) and 2 M of a categorical one without a profile (1 % ever new values)."""
    rng = np.random.default_rng(45)
    chunk, window_panes = 100_000, IncidentSettings().window_panes
    banks = {
        "x": DetectorBank(DetectorSettings(), profile_of({"x": rng.normal(size=N_TRAIN)}, {})),
        "c": DetectorBank(DetectorSettings()),  # learns its reference
    }
    ends = {"x": 5_000_000, "c": 2_000_000}
    common = np.array([f"k{i}" for i in range(30)], dtype=object)
    sizes: dict[str, list[tuple[int, int]]] = {"x": [], "c": []}
    for start in range(0, ends["x"], chunk):
        x = rng.normal(size=chunk)
        x[rng.random(chunk) < 0.001] = np.nan
        if start == 1_200_000 or start + chunk == ends["x"]:
            x[-20_000:] += 1.0
        columns: dict[str, tuple[Columns, Columns]] = {"x": ({"x": x}, {})}
        if start < ends["c"]:
            c = common[rng.integers(0, common.size, chunk)]
            fresh = np.flatnonzero(rng.random(chunk) < 0.01)
            c[fresh] = [f"new-{start + i}" for i in fresh.tolist()]
            columns["c"] = ({}, {"c": c})
        for name, (numeric, categorical) in columns.items():
            banks[name].run(make_batch(numeric, categorical, first_offset=start))
            if start + chunk in (1_000_000, ends[name]):
                evidence = banks[name].monitors[name].evidence
                assert evidence is not None
                state = evidence.snapshot()
                sizes[name].append((len(json.dumps(state)), len(state["ring"]["rows"])))

    assert banks["x"].incidents["x"].opened == 2 and banks["x"].incidents["x"].is_open
    for name, [(early_size, early_rows), (late_size, late_rows)] in sizes.items():
        assert early_rows == late_rows == window_panes, name
        assert abs(late_size - early_size) <= 0.03 * early_size, (name, sizes[name])
    categorical_monitor = banks["c"].monitors["c"]
    assert isinstance(categorical_monitor, CategoricalMonitor)
    assert categorical_monitor.evidence is not None
    # Learned from the first 5,000 values: the common ones and some of the ever new.
    assert set(common) <= set(categorical_monitor.evidence.keys)
    assert len(categorical_monitor.evidence.keys) <= 256


def test_a_feature_without_a_profile_learns_its_reference_then_detects_a_one_sigma_shift() -> None:
    rng = np.random.default_rng(46)
    x = rng.normal(200.0, 30.0, N_LIVE)
    x[CHANGE_AT:] += 30.0
    c = COUNTRIES[rng.choice(4, N_LIVE, p=MIX)]
    c[CHANGE_AT:] = COUNTRIES[rng.choice(4, N_LIVE - CHANGE_AT, p=MIX[::-1])]
    bank = DetectorBank(DetectorSettings())  # no profile at all
    events = incidents(bank, {"x": x}, {"c": c}, [4000] * 15)

    numeric_evidence = bank.monitors["x"].evidence
    assert numeric_evidence is not None and numeric_evidence.ready
    assert numeric_evidence.mean == pytest.approx(200.0, abs=3.0)  # type: ignore[attr-defined]
    assert numeric_evidence.std == pytest.approx(30.0, rel=0.05)  # type: ignore[attr-defined]
    assert {e.feature for e in opened(events, "x") + opened(events, "c")} == {"x", "c"}
    (first_x,) = opened(events, "x")
    assert first_x.findings[0].kind is FindingKind.MEAN_SHIFT
    assert abs(first_x.findings[0].onset_at - (CHANGE_AT + 1)) <= 300
    (first_c,) = opened(events, "c")
    assert first_c.findings[0].kind is FindingKind.DISTRIBUTION_SHIFT
    assert abs(first_c.findings[0].onset_at - (CHANGE_AT + 1)) <= 300


# -- each kind where it belongs -------------------------------------------------------------


def _sparse_profile(train: npt.NDArray[np.float64], gap: tuple[float, float]) -> Profile:
    """A profile whose quantile bins include one over ``gap``, where training had 3 values."""
    edges = np.quantile(train, np.arange(1, 20) / 20, method="inverted_cdf")
    edges = np.unique(np.concatenate([edges[(edges < gap[0]) | (edges > gap[1])], gap]))
    search = np.concatenate([[train.min()], edges, [np.nextafter(train.max(), np.inf)]])
    counts = np.bincount(np.searchsorted(search, train, side="right"), minlength=edges.size + 3)
    feature = FeatureProfile(
        kind="numeric",
        count=train.size,
        null_count=0,
        numeric=NumericSummary(
            mean=float(train.mean()),
            std=float(train.std()),
            min=float(train.min()),
            max=float(train.max()),
            bin_edges=edges.tolist(),
            bin_counts=counts.tolist(),
        ),
    )
    return Profile(n_rows=train.size, features={"x": feature})


def _kind_stream(kind: FindingKind, rng: np.random.Generator) -> tuple[Profile, Columns]:
    train = rng.normal(0.0, 1.0, N_TRAIN)
    x = rng.normal(0.0, 1.0, N_LIVE)
    late = np.arange(CHANGE_AT, N_LIVE)
    profile = profile_of({"x": train}, {})
    if kind is FindingKind.OUT_OF_RANGE:
        beyond = late[rng.random(late.size) < 0.03]
        x[beyond] = train.max() + rng.uniform(0.01, 1.0, beyond.size)
    elif kind is FindingKind.SPARSE_SUPPORT:
        gap = (0.5, 1.0)
        kept = train[(train < gap[0]) | (train >= gap[1])]
        train = np.concatenate([kept, [0.6, 0.7, 0.8]])
        profile = _sparse_profile(train, gap)
        x = rng.choice(kept, N_LIVE)  # live data like training, gap and all
        into = late[rng.random(late.size) < 0.08]
        x[into] = rng.uniform(*gap, into.size)
    elif kind is FindingKind.NULL_RATE:
        x[late[rng.random(late.size) < 0.05]] = np.nan
    elif kind is FindingKind.MEAN_SHIFT:
        x[late] += 1.0
    else:  # a change of shape: the spread grows 1.55 times (PSI about 0.28)
        x[late] *= 1.55
    return profile, {"x": x}


FLOOR_OF = {
    FindingKind.MEAN_SHIFT: lambda s, e: abs(e["mean_shift_sigma"]) >= s.mean_shift_floor,
    FindingKind.DISTRIBUTION_SHIFT: lambda s, e: e["psi_excess"] >= s.psi_floor,
    FindingKind.OUT_OF_RANGE: lambda s, e: (
        e["share"] - e["reference_share"] >= s.out_of_range_floor
    ),
    FindingKind.SPARSE_SUPPORT: lambda s, e: e["share"] - e["reference_share"] >= s.sparse_floor,
    FindingKind.NULL_RATE: lambda s, e: (
        abs(e["null_rate"] - e["reference_null_rate"]) >= s.null_rate_floor
    ),
}


@pytest.mark.parametrize(
    "kind",
    [
        FindingKind.OUT_OF_RANGE,
        FindingKind.SPARSE_SUPPORT,
        FindingKind.NULL_RATE,
        FindingKind.MEAN_SHIFT,
        FindingKind.DISTRIBUTION_SHIFT,
    ],
)
def test_each_kind_opens_its_incident_near_the_change(kind: FindingKind) -> None:
    """A sparse region of training is a tiny reference share: values moving into it shift
    the distribution too, whose windows are judged from 500 values, the rates' from 1,000.
    So there ``distribution_shift`` opens the incident and ``sparse_support`` joins it."""
    profile, numeric = _kind_stream(kind, np.random.default_rng(47))
    settings = DetectorSettings()
    events = incidents(DetectorBank(settings, profile), numeric, {}, [5000])

    first = events[0]
    assert first.type is IncidentEventType.OPENED and first.feature == "x"
    assert CHANGE_AT < first.records_seen <= CHANGE_AT + 2000
    assert {e.incident_id for e in events} == {first.incident_id}
    if kind is FindingKind.SPARSE_SUPPORT:
        assert first.findings[0].kind is FindingKind.DISTRIBUTION_SHIFT
        first = next(e for e in events if e.reason == "sparse_support joined")
        assert first.records_seen <= CHANGE_AT + 2000
        finding = first.findings[-1]
    else:
        finding = first.findings[0]
    assert finding.kind is kind
    assert abs(finding.onset_at - (CHANGE_AT + 1)) <= 300
    assert finding.onset_record is not None
    assert finding.onset_record.offset == finding.onset_at - 1
    # The compiled judgement and the reported details agree: evidence and effect both pass.
    assert FLOOR_OF[kind](settings.incidents, finding.effect), finding.effect
    assert finding.value is not None and finding.threshold is not None
    if finding.statistic == "p_value":
        assert finding.value < finding.threshold
    else:
        assert abs(finding.value) >= finding.threshold
