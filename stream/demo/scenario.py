"""The demo's scenario: generated loan applications and a script of data pitfalls.

``build_training_profile`` profiles a seeded training set of loan applications with the
project's ``ProfileBuilder`` (the same path as ``driftwarden profile build``).
``make_scenario`` writes the production stream: JSON records (features under
``"features"``, plus ``request_id`` and ``model_version``), with each pitfall injected at a
known record number (= Kafka offset on a fresh single-partition topic). ``score`` judges the
events the service published against that script: which event caught each pitfall and how
many records after its injection, and which events are false alarms (on a feature, or at
a record, where nothing was injected).

Records are numbered from 0; pitfalls start at fixed fractions of the stream, so any
``n_records >= MIN_RECORDS`` keeps their order and spacing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from driftwarden.detectors.profile import Profile
from driftwarden.stream.cloudevents import short_type
from driftwarden.stream.profiling.chunk_typing import TypedChunk
from driftwarden.stream.profiling.profile_builder import ProfileBuilder, save_profile

__all__ = [
    "MIN_RECORDS",
    "Catch",
    "DemoScore",
    "Pitfall",
    "Scenario",
    "build_training_profile",
    "loan_applications",
    "make_scenario",
    "score",
]

MIN_RECORDS = 40_000
MODEL_VERSION = "credit-risk-v7"
PURPOSES = np.array(
    ["car", "home", "education", "medical", "debt_consolidation", "business"], dtype=object
)
STATES = np.array(["CA", "TX", "NY", "FL", "IL", "PA", "OH", "GA", "WA", "MA"], dtype=object)
EMPLOYMENT = np.array(["salaried", "self_employed", "contract", "retired"], dtype=object)
CHANNELS = np.array(["web", "mobile", "branch", "broker"], dtype=object)
REFERRALS = np.array(["friend", "partner", "ads"], dtype=object)

Columns = tuple[dict[str, npt.NDArray[np.float64]], dict[str, npt.NDArray[np.object_]]]


def loan_applications(n: int, rng: np.random.Generator) -> Columns:
    """``n`` loan applications as columns: ``(numeric, categorical)``, nothing injected.

    >>> numeric, categorical = loan_applications(3, np.random.default_rng(0))
    >>> sorted(numeric)
    ['age', 'amount', 'credit_score', 'debt_ratio', 'income', 'term_months']
    >>> sorted(categorical)
    ['channel', 'employment', 'purpose', 'state']
    >>> numeric["age"].tolist(), categorical["purpose"].tolist()
    ([55.0, 51.0, 33.0], ['business', 'medical', 'medical'])
    """
    numeric: dict[str, npt.NDArray[np.float64]] = {
        "amount": np.round(rng.lognormal(np.log(15_000), 0.6, n), 2),
        "income": np.round(rng.lognormal(np.log(55_000), 0.35, n), 2),
        "age": np.clip(rng.normal(41, 11, n), 18, 75).round(),
        "term_months": rng.choice([12.0, 24.0, 36.0, 48.0, 60.0], n, p=[0.1, 0.2, 0.4, 0.2, 0.1]),
        "credit_score": np.clip(rng.normal(680, 60, n), 300, 850).round(),
        "debt_ratio": np.round(rng.beta(4, 8, n), 4),
    }
    categorical: dict[str, npt.NDArray[np.object_]] = {
        "purpose": rng.choice(PURPOSES, n, p=[0.3, 0.2, 0.1, 0.1, 0.2, 0.1]),
        "state": rng.choice(STATES, n),
        "employment": rng.choice(EMPLOYMENT, n, p=[0.6, 0.2, 0.15, 0.05]),
        "channel": rng.choice(CHANNELS, n, p=[0.4, 0.35, 0.15, 0.1]),
    }
    return numeric, categorical


def build_training_profile(path: Path, n_rows: int = 50_000, seed: int = 7) -> Profile:
    """Profile ``n_rows`` seeded training applications with ``ProfileBuilder``; write it
    (and its ``.sketches`` sidecar) to ``path`` and return it.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     profile = build_training_profile(Path(tmp) / "training.json", n_rows=2000)
    >>> profile.n_rows, profile.features["age"].numeric.max, profile.features["state"].kind
    (2000, 75.0, 'categorical')
    """
    numeric, categorical = loan_applications(n_rows, np.random.default_rng(seed))
    builder = ProfileBuilder()
    builder.absorb(
        TypedChunk(
            path=f"generated:loan-applications(seed={seed})",
            lines=np.arange(1, n_rows + 1, dtype=np.int64),
            numeric=numeric,
            categorical=dict(categorical),
            text=False,
        )
    )
    return save_profile(path, builder)


@dataclass(frozen=True, slots=True)
class Pitfall:
    """One injected data problem: from record ``start`` on, ``features`` are affected.

    ``catches`` are the finding kinds (of an incident on one of ``features``) any of which
    detects it; a pitfall with ``malformed > 0`` is caught by the DLQ instead (its records
    must all land there). Events it causes point at records from ``explains_from`` on
    (``start`` unless said).

    >>> shift = Pitfall("mean shift", "income ×1.3", ("income",), 8000,
    ...                 frozenset({"mean_shift"}))
    >>> shift.explains_from is None, shift.malformed
    (True, 0)
    """

    name: str
    description: str
    features: tuple[str, ...]
    start: int
    catches: frozenset[str] = frozenset()
    malformed: int = 0
    explains_from: int | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """The production stream (``payloads``, one per Kafka record) and its pitfall script.

    >>> burst = Pitfall("malformed burst", "2 bad records", (), 1, malformed=2)
    >>> Scenario([b"{}", b"{", b"[]"], (burst,)).malformed
    2
    """

    payloads: list[bytes]
    pitfalls: tuple[Pitfall, ...]

    @property
    def malformed(self) -> int:
        """Records that must land in the DLQ."""
        return sum(p.malformed for p in self.pitfalls)


def _malformed_burst(rng: np.random.Generator, count: int) -> list[bytes]:
    """Bad JSON, NaN literals, wrong types (``amount`` a string, ``employment`` an object)
    and non-objects, in a seeded order."""
    kinds = [
        b'{"request_id": "app-x", "features": {"amount": 12000, "income": ',
        b'{"request_id": "app-x", "features": {"amount": 9000.0, "income": NaN}}',
        b'{"request_id": "app-x", "features": {"amount": "12k", "income": 50000}}',
        b'{"request_id": "app-x", "features": {"employment": {"type": "salaried"}}}',
        b'["app-x", 12000, 50000]',
    ]
    return [kinds[i] for i in rng.integers(0, len(kinds), count)]


_BURST = 60
_DRIFT = frozenset({"mean_shift", "distribution_shift"})


def _script(at: list[int], batch_records: int) -> tuple[Pitfall, ...]:
    """The pitfalls, starting at the record numbers ``at`` (what ``_inject`` does there)."""
    return (
        Pitfall("mean shift", "income ×1.3 (+0.8σ)", ("income",), at[0], _DRIFT),
        Pitfall("variance change", "debt_ratio spread ×2", ("debt_ratio",), at[1], _DRIFT),
        Pitfall(
            "gradual drift",
            f"credit_score −75 (−1.25σ), linearly over {at[5] - at[2]:,} records",
            ("credit_score",),
            at[2],
            _DRIFT,
        ),
        Pitfall(
            "novel category",
            "purpose='crypto' in 4 %",
            ("purpose",),
            at[3],
            frozenset({"novel_category"}),
        ),
        Pitfall(
            "novel field",
            "referral_code appears",
            ("referral_code",),
            at[4],
            frozenset({"novel_field"}),
        ),
        Pitfall(
            "field disappears",
            "channel no longer sent",
            ("channel",),
            at[5],
            frozenset({"missing_field"}),
        ),
        Pitfall(
            "out-of-range values",
            "age 90–129 in 3 % (training max 75)",
            ("age",),
            at[6],
            frozenset({"out_of_range"}),
        ),
        Pitfall(
            "malformed burst",
            f"{_BURST} records: bad JSON, NaN, wrong types, non-objects",
            ("amount", "employment"),
            at[7],
            malformed=_BURST,
            explains_from=at[7] - batch_records,
        ),
    )


def _inject(columns: Columns, at: list[int], rng: np.random.Generator) -> None:
    """The value changes of ``_script`` (fields appearing and vanishing are in ``_encode``)."""
    numeric, categorical = columns
    n = len(numeric["income"])
    idx = np.arange(n)
    income, debt = numeric["income"], numeric["debt_ratio"]
    income[at[0] :] = np.round(income[at[0] :] * 1.3, 2)
    debt[at[1] :] = np.round(np.clip(0.333 + 2.0 * (debt[at[1] :] - 0.333), 0.0, 1.0), 4)
    ramp = np.clip((idx - at[2]) / (at[5] - at[2]), 0.0, 1.0)
    numeric["credit_score"] = np.round(numeric["credit_score"] - 75.0 * ramp)
    crypto = (idx >= at[3]) & (rng.random(n) < 0.04)
    categorical["purpose"][crypto] = "crypto"
    too_old = (idx >= at[6]) & (rng.random(n) < 0.03)
    numeric["age"][too_old] = rng.integers(90, 130, int(too_old.sum()))


def _encode(columns: Columns, at: list[int], rng: np.random.Generator) -> list[bytes]:
    """One JSON record per row; ``referral_code`` from ``at[4]`` on, ``channel`` until
    ``at[5]``; the malformed burst replaces the records from ``at[7]`` on."""
    numeric, categorical = columns
    referral = rng.choice(REFERRALS, len(numeric["income"]))
    names = [*numeric, *categorical]
    rows = zip(*(v.tolist() for v in numeric.values()), *categorical.values(), strict=True)
    encode = msgspec.json.Encoder().encode
    payloads = []
    for i, row in enumerate(rows):
        features: dict[str, Any] = dict(zip(names, row, strict=True))
        if i >= at[4]:
            features["referral_code"] = referral[i]
        if i >= at[5]:
            del features["channel"]
        record = {"request_id": f"app-{i:07d}", "model_version": MODEL_VERSION}
        payloads.append(encode({**record, "features": features}))
    payloads[at[7] : at[7] + _BURST] = _malformed_burst(rng, _BURST)
    return payloads


def make_scenario(n_records: int = 80_000, seed: int = 11, batch_records: int = 5000) -> Scenario:
    """The production stream of ``n_records`` records with eight pitfalls injected, each at
    a tenth of the stream (the first at ``n_records // 10``).

    ``batch_records`` is the service's ``kafka.consume_batch``: a wrong-typed value makes
    ``feature.type_changed`` point at the field's first record in the consumed batch (the
    schema tracker sees types per batch), up to that many records before the burst.

    >>> scenario = make_scenario(MIN_RECORDS, seed=1)
    >>> len(scenario.payloads), scenario.malformed
    (40000, 60)
    >>> [(p.name, p.start) for p in scenario.pitfalls][:3]
    [('mean shift', 4000), ('variance change', 8000), ('gradual drift', 12000)]
    """
    if n_records < MIN_RECORDS:
        raise ValueError(f"the demo needs at least {MIN_RECORDS} records, got {n_records}")
    at = [n_records * k // 10 for k in range(1, 9)]
    rng = np.random.default_rng(seed)
    columns = loan_applications(n_records, rng)
    _inject(columns, at, rng)
    return Scenario(_encode(columns, at, rng), _script(at, batch_records))


@dataclass(frozen=True, slots=True)
class Catch:
    """How one pitfall was caught: the finding kind of the first incident event that shows
    it (None: missed), its feature, detector and record, the records between injection and
    detection, and the other events the pitfall caused. For the malformed burst, ``dlq`` is
    how many records reached the DLQ.

    >>> novel = Pitfall("novel field", "x appears", ("x",), 100, frozenset({"novel_field"}))
    >>> catch = Catch(novel, "novel_field", "x", "schema", offset=100)
    >>> catch.caught, catch.delay, Catch(novel).caught
    (True, 0, False)
    """

    pitfall: Pitfall
    event_type: str | None = None
    feature: str | None = None
    detector: str | None = None
    offset: int | None = None
    related: int = 0
    dlq: int | None = None

    @property
    def caught(self) -> bool:
        """Whether the pitfall was detected (all malformed records in the DLQ for a burst)."""
        if self.pitfall.malformed:
            return self.dlq == self.pitfall.malformed
        return self.event_type is not None

    @property
    def delay(self) -> int | None:
        """Records from the injection to the detecting record (None when missed)."""
        return None if self.offset is None else self.offset - self.pitfall.start


@dataclass(frozen=True, slots=True)
class DemoScore:
    """Every pitfall's ``Catch`` and the false alarms (events nothing injected explains).

    >>> burst = Pitfall("malformed burst", "60 bad records", (), 500, malformed=60)
    >>> DemoScore([Catch(burst, dlq=60)]).ok, DemoScore([Catch(burst, dlq=59)]).ok
    (True, False)
    """

    catches: list[Catch]
    false_alarms: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every pitfall caught and no false alarm."""
        return all(c.caught for c in self.catches) and not self.false_alarms


def _explains(pitfall: Pitfall, feature: str, offset: int) -> bool:
    start = pitfall.start if pitfall.explains_from is None else pitfall.explains_from
    return feature in pitfall.features and offset >= start


def _caught_by(pitfall: Pitfall, envelope: dict[str, Any]) -> dict[str, Any] | None:
    """The finding of an incident event whose kind catches ``pitfall``, if any."""
    if not short_type(envelope["type"]).startswith("incident."):
        return None
    for finding in envelope["data"].get("findings") or []:
        if finding.get("kind") in pitfall.catches and finding.get("status") == "active":
            return dict(finding)
    return None


def score(scenario: Scenario, events: list[dict[str, Any]], dlq_records: int) -> DemoScore:
    """Judge CloudEvents envelopes (as published on the alerts topic) against the script.

    An event explained by a pitfall (its feature, at or after its start) counts for it; the
    first incident event (lowest offset) with an active finding of a kind in ``catches`` is
    the catch. Any other event is a false alarm.

    >>> scenario = make_scenario(MIN_RECORDS, seed=1)
    >>> def event(kind, feature, offset):
    ...     return {"type": "driftwarden.incident.opened.v1", "subject": feature,
    ...             "data": {"feature": feature, "record": {"offset": offset}, "findings": [
    ...                 {"kind": kind, "detector": "d", "status": "active"}]}}
    >>> result = score(scenario, [event("mean_shift", "income", 4500),
    ...                           event("mean_shift", "state", 100)], dlq_records=60)
    >>> result.catches[0].delay, result.catches[-1].caught, len(result.false_alarms), result.ok
    (500, True, 1, False)
    """
    ordered = sorted(events, key=lambda e: int(e["data"]["record"]["offset"]))
    catches: list[Catch] = []
    explained: set[int] = set()
    for pitfall in scenario.pitfalls:
        first: dict[str, Any] | None = None
        found: dict[str, Any] = {}
        related = 0
        for i, envelope in enumerate(ordered):
            data = envelope["data"]
            if not _explains(pitfall, data["feature"], int(data["record"]["offset"])):
                continue
            explained.add(i)
            finding = _caught_by(pitfall, envelope) if first is None else None
            if finding is not None:
                first, found = envelope, finding
            else:
                related += 1
        if first is None:
            catches.append(
                Catch(pitfall, related=related, dlq=dlq_records if pitfall.malformed else None)
            )
            continue
        data = first["data"]
        catches.append(
            Catch(
                pitfall,
                event_type=str(found["kind"]),
                feature=data["feature"],
                detector=found.get("detector"),
                offset=int(data["record"]["offset"]),
                related=related,
            )
        )
    false_alarms = [e for i, e in enumerate(ordered) if i not in explained]
    return DemoScore(catches, false_alarms)
