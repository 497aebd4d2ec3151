"""DetectorBank: the right events on the right features, state round trips, reloads, caps."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from driftwarden.detectors.bank import DetectorBank
from driftwarden.detectors.events import DriftEvent, EventType
from driftwarden.detectors.feature_batch import FeatureBatch, SourcePositions
from driftwarden.detectors.findings import FindingKind
from driftwarden.detectors.incidents import IncidentEvent, IncidentEventType
from driftwarden.detectors.settings import DetectorSettings
from driftwarden.stream.decoding.decoder import Decoder
from tests.bank_data import make_batch, profile_of, split_batches

N_TRAIN = 50_000
N_LIVE = 60_000
CHANGE_AT = 30_000


def _training(rng: np.random.Generator) -> tuple[dict, dict]:
    numeric = {
        "amount": rng.lognormal(3.0, 1.0, N_TRAIN),
        "age": rng.normal(40.0, 12.0, N_TRAIN),
        "latency_ms": rng.normal(250.0, 40.0, N_TRAIN),
        "score": rng.normal(0.0, 1.0, N_TRAIN),
    }
    categorical = {
        "country": rng.choice(np.array(["FR", "DE", "ES", "IT"], dtype=object), N_TRAIN),
        "device": rng.choice(np.array(["ios", "android", "web"], dtype=object), N_TRAIN),
    }
    return numeric, categorical


def _live(rng: np.random.Generator) -> tuple[dict, dict]:
    """Stationary live data, except: age shifts by 0.5σ, country gains a novel 'BR' at 5 %."""
    numeric = {
        "amount": rng.lognormal(3.0, 1.0, N_LIVE),
        "age": rng.normal(40.0, 12.0, N_LIVE),
        "latency_ms": rng.normal(250.0, 40.0, N_LIVE),
        "score": rng.normal(0.0, 1.0, N_LIVE),
    }
    numeric["age"][CHANGE_AT:] += 6.0
    countries = np.array(["FR", "DE", "ES", "IT", "BR"], dtype=object)
    country = rng.choice(countries[:4], N_LIVE)
    late = rng.choice(countries, N_LIVE - CHANGE_AT, p=[0.2375, 0.2375, 0.2375, 0.2375, 0.05])
    country[CHANGE_AT:] = late
    categorical = {
        "country": country,
        "device": rng.choice(np.array(["ios", "android", "web"], dtype=object), N_LIVE),
    }
    return numeric, categorical


# The tumbling HistogramDrift and NullRate detectors are off by default (the pane evidence
# of incidents supersedes them); the tests of their events turn them on.
WINDOWED_ON = {"histogram": {"enabled": True}, "null_rate": {"enabled": True}}
CATEGORICAL_NULL_RATE_ON = {"null_rate": {"enabled": True}}


def _run(bank: DetectorBank, numeric: dict, categorical: dict, size: int) -> list[DriftEvent]:
    return [e for b in split_batches(numeric, categorical, size) for e in bank.process(b)]


def _incidents(
    bank: DetectorBank, numeric: dict, categorical: dict, size: int
) -> list[IncidentEvent]:
    return [e for b in split_batches(numeric, categorical, size) for e in bank.run(b).incidents]


@pytest.fixture(scope="module")
def scenario() -> tuple:
    rng = np.random.default_rng(2026)
    train = _training(rng)
    live = _live(rng)
    return profile_of(*train), live


def test_bank_flags_the_changed_features_and_only_them(scenario: tuple) -> None:
    profile, (numeric, categorical) = scenario
    bank = DetectorBank(DetectorSettings(numeric=WINDOWED_ON), profile)
    events = _run(bank, numeric, categorical, 4096)

    detected = {(e.feature, e.type) for e in events}
    assert ("age", EventType.DRIFT_DETECTED) in detected
    assert ("country", EventType.CATEGORY_NOVEL) in detected
    assert {e.feature for e in events} <= {"age", "country"}
    age_detectors = {e.detector for e in events if e.feature == "age"}
    assert {"adwin", "page_hinkley", "histogram"} <= age_detectors
    novel = next(e for e in events if e.type is EventType.CATEGORY_NOVEL)
    assert novel.live["value"] == "BR"
    assert all(e.record.offset >= CHANGE_AT for e in events)
    first_age = min(e.record.offset for e in events if e.feature == "age")
    assert first_age - CHANGE_AT < 1000


def test_bank_opens_incidents_on_the_changed_features_and_only_them(scenario: tuple) -> None:
    profile, (numeric, categorical) = scenario
    bank = DetectorBank(DetectorSettings(), profile)
    incidents = _incidents(bank, numeric, categorical, 4096)

    opened = {e.feature: e for e in incidents if e.type is IncidentEventType.OPENED}
    assert set(opened) == {"age", "country"}
    assert {e.feature for e in incidents} == {"age", "country"}
    assert opened["age"].findings[0].kind in {
        FindingKind.MEAN_SHIFT,
        FindingKind.DISTRIBUTION_SHIFT,
    }
    assert opened["country"].findings[0].kind is FindingKind.NOVEL_CATEGORY
    assert opened["country"].findings[0].detail["values"] == ["BR"]
    for event in opened.values():
        assert CHANGE_AT < event.findings[0].onset_at <= event.records_seen < CHANGE_AT + 1000
        assert event.record.offset == event.records_seen - 1
    # Neither change stops: nothing resolves.
    assert all(e.type is not IncidentEventType.RESOLVED for e in incidents)


def test_events_carry_statistic_threshold_and_source_position(scenario: tuple) -> None:
    profile, (numeric, categorical) = scenario
    bank = DetectorBank(DetectorSettings(numeric=WINDOWED_ON), profile)
    events = _run(bank, numeric, categorical, 10_000)
    histogram = next(e for e in events if e.detector == "histogram")
    assert histogram.statistic in {"psi", "js", "p_value"}
    assert histogram.value is not None and histogram.threshold is not None
    assert histogram.record.source == "features"
    assert histogram.records_seen == histogram.record.offset + 1
    assert histogram.reference["mean"] == pytest.approx(40.0, abs=0.5)


SETTINGS_CASES = {
    "defaults": DetectorSettings(),
    "windowed_detectors_on": DetectorSettings(
        numeric=WINDOWED_ON, categorical=CATEGORICAL_NULL_RATE_ON
    ),
}


def _outputs(bank: DetectorBank, batches: list[FeatureBatch]) -> list[str]:
    """The events of the batches, then their incidents, each in order, as JSON."""
    outputs = [bank.run(b) for b in batches]
    return [e.model_dump_json() for o in outputs for e in o.evidence] + [
        e.model_dump_json() for o in outputs for e in o.incidents
    ]


@pytest.mark.parametrize("case", sorted(SETTINGS_CASES))
def test_identical_events_whatever_the_batch_size(scenario: tuple, case: str) -> None:
    """A replay cuts the stream differently; its events must be the same, field for field."""
    profile, (numeric, categorical) = scenario
    by_size = []
    for size in (1000, 7919, 30_000):
        bank = DetectorBank(SETTINGS_CASES[case], profile)
        by_size.append(_outputs(bank, list(split_batches(numeric, categorical, size))))
    detectors = {json.loads(e).get("detector") for e in by_size[0]}  # incidents have none
    assert ("histogram" in detectors) == (case != "defaults")
    assert any('"incident.opened"' in e for e in by_size[0])
    assert by_size[0] == by_size[1] == by_size[2]


@pytest.mark.parametrize("case", sorted(SETTINGS_CASES))
def test_snapshot_restore_mid_stream_gives_the_same_events(scenario: tuple, case: str) -> None:
    profile, (numeric, categorical) = scenario
    settings = SETTINGS_CASES[case]
    batches = list(split_batches(numeric, categorical, 5000))
    whole = _outputs(DetectorBank(settings, profile), batches)

    first = DetectorBank(settings, profile)
    before = [first.run(b) for b in batches[:7]]
    state = json.loads(json.dumps(first.snapshot()))
    second = DetectorBank.restore(state, settings, profile)
    after = [second.run(b) for b in batches[7:]]

    outputs = before + after
    assert [e.model_dump_json() for o in outputs for e in o.evidence] + [
        e.model_dump_json() for o in outputs for e in o.incidents
    ] == whole
    assert any(o.incidents for o in before)  # restored with incidents open
    assert second.records_seen == N_LIVE


def test_restore_reads_a_snapshot_written_before_the_bank_named_its_kind(scenario: tuple) -> None:
    profile, (numeric, categorical) = scenario
    settings = DetectorSettings()
    bank = DetectorBank(settings, profile)
    for batch in list(split_batches(numeric, categorical, 5000))[:3]:
        bank.process(batch)
    state = json.loads(json.dumps(bank.snapshot()))
    del state["kind"]

    assert DetectorBank.restore(state, settings, profile).snapshot() == bank.snapshot()


@pytest.mark.parametrize(
    ("state", "found"),
    [
        ({"kind": "SchemaTracker", "version": 1}, "found kind 'SchemaTracker' version 1"),
        ({"kind": "DetectorBank", "version": 9}, "found kind 'DetectorBank' version 9"),
        ([], "found a list, not a dict"),
    ],
)
def test_restore_rejects_a_foreign_or_newer_snapshot_saying_what_it_found(
    state: object, found: str
) -> None:
    with pytest.raises(ValueError) as raised:
        DetectorBank.restore(state, DetectorSettings())  # type: ignore[arg-type]

    assert str(raised.value) == (
        f"cannot restore DetectorBank: expected kind 'DetectorBank' version 1 or 2, {found}"
    )


def test_new_thresholds_apply_from_the_next_batch_and_keep_state(scenario: tuple) -> None:
    profile, (numeric, categorical) = scenario
    bank = DetectorBank(DetectorSettings(numeric=WINDOWED_ON), profile)
    batches = list(split_batches(numeric, categorical, 5000))
    for b in batches[:4]:
        bank.process(b)
    seen_before = bank.values_seen
    strict = DetectorSettings(
        numeric={**WINDOWED_ON, "histogram": {"enabled": True, "psi_threshold": 1e-9}}
    )
    bank.update_settings(strict)
    assert bank.values_seen == seen_before
    events = bank.process(batches[4])
    flagged = {e.feature for e in events if e.detector == "histogram"}
    assert {"amount", "latency_ms", "score"} <= flagged


def test_feature_cap_is_an_event_not_a_crash() -> None:
    rng = np.random.default_rng(5)
    columns = {f"f{i}": rng.normal(size=2000) for i in range(8)}
    bank = DetectorBank(DetectorSettings(max_features=5))
    events = bank.process(make_batch(columns, {}))
    limit = [e for e in events if e.type is EventType.FEATURE_LIMIT_REACHED]
    assert len(limit) == 1
    assert len(bank.monitors) == 5
    assert bank.untracked_features == 3


def test_ignored_features_get_no_detector_and_no_event() -> None:
    rng = np.random.default_rng(6)
    x = np.concatenate([rng.normal(0, 1, 20_000), rng.normal(5, 1, 20_000)])
    bank = DetectorBank(DetectorSettings(ignore=["request_id"]))
    events = bank.process(make_batch({"request_id": x, "y": rng.normal(size=x.size)}, {}))
    assert "request_id" not in bank.monitors
    assert all(e.feature != "request_id" for e in events)


def test_thresholds_are_scale_free(scenario: tuple) -> None:
    rng = np.random.default_rng(9)
    x = np.concatenate([rng.normal(0, 1, 30_000), rng.normal(0.5, 1, 30_000)])

    def detections(scale: float, offset: float) -> list[tuple[str, int]]:
        bank = DetectorBank(DetectorSettings(), profile_of({"x": rng_ref * scale + offset}, {}))
        events = _run(bank, {"x": x * scale + offset}, {}, 6000)
        return [(e.detector, e.record.offset) for e in events if e.detector != "histogram"]

    rng_ref = np.random.default_rng(10).normal(0, 1, N_TRAIN)
    base = detections(1.0, 0.0)
    assert base, "a 0.5σ shift must be detected"
    assert detections(1e-3, 7.0) == base
    assert detections(5e4, -1e6) == base


def test_unknown_override_key_is_rejected_with_its_path() -> None:
    with pytest.raises(ValidationError) as info:
        DetectorSettings.model_validate({"numeric": {"adwin": {"deltaa": 0.1}}})
    assert "numeric.adwin.deltaa" in str(info.value)


def test_detections_and_resolutions_do_not_depend_on_batch_boundaries() -> None:
    """Resolutions due mid-batch come before later detections, whatever the split."""
    rng = np.random.default_rng(17)
    segments = [rng.normal(mean, 1.0, 3000) for mean in (0, 1.5, 1.5, 0, 0, 2.0, -1.0, 0)]
    x = np.concatenate(segments)
    settings = DetectorSettings(resolve_after_records=1500, cooldown_records=0)
    profile = profile_of({"x": rng.normal(0, 1, 50_000)}, {})
    runs = []
    for size in (97, 1000, 2999, x.size):
        bank = DetectorBank(settings, profile)
        runs.append([e.model_dump_json() for e in _run(bank, {"x": x}, {}, size)])
    resolved = [e for e in runs[0] if '"drift.resolved"' in e]
    assert resolved, "the scenario must resolve drift at least once"
    assert runs[0] == runs[1] == runs[2] == runs[3]


def test_a_feature_appearing_mid_stream_gives_the_same_events_whatever_the_split() -> None:
    rng = np.random.default_rng(23)
    n, appears = 40_000, 12_345
    promo = np.full(n, None, dtype=object)
    promo[appears:] = rng.choice(np.array(["A", "B"], dtype=object), n - appears)
    promo[appears + 20_000 :: 3] = None  # its null rate then jumps
    xs = rng.normal(size=n)
    runs = []
    for size in (1000, 4321, n):
        bank = DetectorBank(DetectorSettings(categorical=CATEGORICAL_NULL_RATE_ON))
        events = []
        for batch in _promo_batches(xs, promo, appears, size):
            events += [e.model_dump_json() for e in bank.process(batch)]
        runs.append(events)
    assert any('"null_rate"' in e for e in runs[0])
    assert runs[0] == runs[1] == runs[2]


def test_incidents_of_a_feature_appearing_mid_stream_do_not_depend_on_the_split() -> None:
    rng = np.random.default_rng(23)
    n, appears, jump = 40_000, 12_345, 32_345
    promo = np.full(n, None, dtype=object)
    promo[appears:] = rng.choice(np.array(["A", "B"], dtype=object), n - appears)
    promo[jump::3] = None  # its null rate then jumps
    xs = rng.normal(size=n)
    # No feature.missing while promo has not arrived yet: only the pane evidence counts here.
    settings = DetectorSettings(schema={"missing_grace": n})
    runs = []
    for size in (1000, 4321, n):
        bank = DetectorBank(settings)
        batches = _promo_batches(xs, promo, appears, size)
        runs.append([e.model_dump() for b in batches for e in bank.run(b).incidents])
    null_rate = [
        e
        for e in runs[0]
        if e["type"] == "incident.opened" and e["findings"][0]["kind"] == "null_rate"
    ]
    assert null_rate and jump < null_rate[0]["records_seen"] < jump + 1000
    assert runs[0] == runs[1] == runs[2]


def _promo_batches(
    xs: np.ndarray, promo: np.ndarray, appears: int, size: int
) -> list[FeatureBatch]:
    """Batches of ``size`` records where ``promo`` is absent before record ``appears``."""
    n, batches = xs.size, []
    for start in range(0, n, size):
        stop = min(start + size, n)
        present = np.arange(start, stop) >= appears
        categorical = {"promo": promo[start:stop]} if present.any() else {}
        batches.append(
            FeatureBatch(
                stop - start,
                {"x": xs[start:stop]},
                categorical,
                {"x": np.ones(stop - start, dtype=bool), "promo": present},
                {"x": frozenset({"number"}), "promo": frozenset({"string", "null"})},
                SourcePositions.sequential("features", stop - start, start),
            )
        )
    return batches


def test_type_change_events_from_decoded_payloads_do_not_depend_on_the_batch_size() -> None:
    """A numeric feature starts arriving as strings at record 1000 (every third record from
    there): those records go to the DLQ, and the event points at the next accepted record,
    whether record 1000 opens a batch (500), closes one (7, 1001) or is inside one (3000)."""
    rng = np.random.default_rng(31)
    n, changes_at = 3000, 1000
    amounts = rng.normal(50.0, 10.0, n)
    countries = rng.choice(["FR", "DE", "ES"], n)
    payloads = [
        json.dumps(
            {
                "amount": f"{amount:.2f}"
                if i >= changes_at and (i - changes_at) % 3 == 0
                else amount,
                "country": str(country),
            }
        ).encode()
        for i, (amount, country) in enumerate(zip(amounts, countries, strict=True))
    ]
    profile = profile_of(
        {"amount": rng.normal(50.0, 10.0, N_TRAIN)},
        {"country": rng.choice(np.array(["FR", "DE", "ES"], dtype=object), N_TRAIN)},
    )
    by_size = []
    for size in (7, 500, 1001, n):
        decoder = Decoder(kinds={"amount": "numeric", "country": "categorical"})
        bank = DetectorBank(DetectorSettings(), profile)
        events = []
        for start in range(0, n, size):
            chunk = payloads[start : start + size]
            result = decoder.decode(
                chunk, SourcePositions.sequential("payments", len(chunk), start)
            )
            assert result.batch is not None
            events += bank.process(result.batch)
        by_size.append(
            [e.model_dump_json() for e in events if e.type is EventType.FEATURE_TYPE_CHANGED]
        )
    assert by_size[0] == by_size[1] == by_size[2] == by_size[3]
    event = json.loads(by_size[0][0])
    assert len(by_size[0]) == 1 and event["detail"]["observed_type"] == "string"
    assert event["record"]["offset"] == changes_at + 1 and event["records_seen"] == changes_at + 1


def test_nulls_of_a_decoded_categorical_feature_raise_its_null_rate() -> None:
    """The bank skips looking for None in a categorical column the decoder saw complete;
    nulls the decoder saw (scanned in compiled code here) must still be counted."""
    rng = np.random.default_rng(5)
    n, jump = 30_000, 15_000
    devices = rng.choice(["ios", "android", "web"], n).tolist()
    payloads = [
        json.dumps({"x": float(x), "device": None if i >= jump and i % 4 == 0 else device})
        .replace(" ", "")
        .encode()
        for i, (x, device) in enumerate(zip(rng.normal(size=n), devices, strict=True))
    ]
    for settings in (DetectorSettings(categorical=CATEGORICAL_NULL_RATE_ON), DetectorSettings()):
        decoder = Decoder(kinds={"x": "numeric", "device": "categorical"})
        bank = DetectorBank(settings)
        events, incidents = [], []
        for start in range(0, n, 5000):
            chunk = payloads[start : start + 5000]
            result = decoder.decode(chunk, SourcePositions.sequential("t", len(chunk), start))
            assert result.batch is not None
            output = bank.run(result.batch)
            events += output.evidence
            incidents += output.incidents
        null_events = [e for e in events if e.feature == "device" and e.detector == "null_rate"]
        if settings.categorical.null_rate.enabled:
            assert null_events and all(e.record.offset >= jump for e in null_events)
        else:  # by default the pane evidence sees them: a null_rate incident opens
            assert not null_events
            (opened,) = [e for e in incidents if e.type is IncidentEventType.OPENED]
            assert (opened.feature, opened.findings[0].kind) == ("device", FindingKind.NULL_RATE)
            assert jump < opened.findings[0].onset_at <= opened.records_seen < jump + 1000
