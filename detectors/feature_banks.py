"""One ``DetectorBank`` per feature, fed that feature's chunks from every input partition.

This is stage two of the service (and what ``replay`` runs): each feature has one detector
state however many partitions its records arrive on, so a drift raises one incident, not one
per partition. A bank sees a feature's chunks in the order they arrive; each chunk is a
whole batch of one input partition (``feature_split.split_by_feature``).

With ``dedupe``, records already counted are dropped: a chunk delivered twice (stage one
retried it after a crash) is skipped, and one that overlaps what was counted keeps only its
new tail. The mark is the next unseen offset per (feature, source, partition), so each record
reaches its feature's detectors exactly once whatever stage one re-sends.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.bank import BankOutput, DetectorBank, feature_limit_event
from driftwarden.detectors.feature_batch import FeatureBatch
from driftwarden.detectors.feature_split import Piece, merge_by_time, tail
from driftwarden.detectors.profile import Profile
from driftwarden.detectors.settings import DetectorSettings
from driftwarden.detectors.snapshots import check_snapshot

__all__ = ["FeatureBanks", "merge_outputs"]

_SNAPSHOT_KIND = "FeatureBanks"
_SNAPSHOT_VERSION = 1
_NOTHING = BankOutput([], [])
_NO_STAMPS = np.empty(0, dtype=np.int64)

Mark = tuple[str, str, int]
"""(feature, source, partition): whose next unseen offset a mark holds."""


def merge_outputs(outputs: list[BankOutput]) -> BankOutput:
    """Several features' outputs for the same records as one, each list ordered by record."""
    return BankOutput(
        sorted((e for o in outputs for e in o.evidence), key=lambda e: (e.index, e.feature)),
        sorted((e for o in outputs for e in o.incidents), key=lambda e: (e.index, e.feature)),
    )


def _shifted(output: BankOutput, start: int) -> BankOutput:
    """``output`` of a batch's tail from ``start``, indexed into the whole batch."""
    if not start:
        return output
    return BankOutput(
        [e.model_copy(update={"index": e.index + start}) for e in output.evidence],
        [e.model_copy(update={"index": e.index + start}) for e in output.incidents],
    )


class FeatureBanks:
    """The detector state of a set of features, one ``DetectorBank`` each.

    A feature gets its bank when a chunk first holds it, counting from that record on, or at
    once when the profile has it (so a profiled feature that never arrives is reported
    missing). Each bank's schema
    reference is the profile's entry for its feature alone: a field the profile lacks is
    novel once, in its own bank, not once per partition. At most ``settings.max_features``
    banks are kept; the first feature past the cap raises ``feature.limit_reached``.

    Memory: ``max_features`` × the per-feature bound of ``DetectorBank``, plus one mark per
    (feature, input partition).

    >>> from driftwarden.detectors.feature_batch import SourcePositions
    >>> def chunk(first, n=1_000):
    ...     return FeatureBatch(
    ...         n, {"x": np.zeros(n)}, {}, {"x": np.ones(n, dtype=bool)},
    ...         {"x": frozenset({"number"})}, SourcePositions(("t",), np.zeros(n, np.int32),
    ...         np.zeros(n, np.int32), np.arange(first, first + n)),
    ...     )
    >>> banks = FeatureBanks(DetectorSettings(), dedupe=True)
    >>> _ = banks.run("x", chunk(0)); _ = banks.run("x", chunk(500)); _ = banks.run("x", chunk(0))
    >>> banks.records_seen()
    {'x': 1500}
    """

    def __init__(
        self, settings: DetectorSettings, profile: Profile | None = None, dedupe: bool = False
    ) -> None:
        self.settings = settings
        self.profile = profile
        self.dedupe = dedupe
        self.banks: dict[str, DetectorBank] = {}
        self.marks: dict[Mark, int] = {}
        self.untracked_features = 0
        self._limit_reported = False

    def run(self, feature: str, batch: FeatureBatch) -> BankOutput:
        """Run ``feature``'s bank over its chunk ``batch``; what it gives, by record."""
        stamps = np.zeros(batch.n_records, dtype=np.int64)
        return self.run_chunks(feature, [(batch, stamps)])[0]

    def run_chunks(
        self, feature: str, chunks: list[Piece]
    ) -> tuple[BankOutput, npt.NDArray[np.int64]]:
        """Run ``feature``'s bank over several of its chunks (with their records'
        timestamps) as one batch; returns what it gives and the timestamp of each record of
        that batch (the output's ``index`` points into it).

        Chunks of one partition keep their order; chunks of several partitions are merged
        by event time (``merge_by_time``), so a consumer's fetch runs do not reorder a
        feature's stream more than the chunks' time spans overlap.
        """
        if feature in self.settings.ignore:
            return _NOTHING, _NO_STAMPS
        streams: dict[Mark | None, list[Piece]] = {}
        ends: dict[Mark, int] = {}
        for batch, stamps in chunks:
            mark = self._mark(feature, batch) if self.dedupe and batch.n_records else None
            if mark is not None:
                seen = ends.get(mark, self.marks.get(mark))
                if seen is not None:
                    start = int(np.searchsorted(batch.positions.offsets, seen))
                    batch, stamps = tail(batch, start), stamps[start:]
                if batch.n_records:
                    ends[mark] = int(batch.positions.offsets[-1]) + 1
            if batch.n_records:
                streams.setdefault(mark, []).append((batch, stamps))
        if not streams:
            return _NOTHING, _NO_STAMPS
        pieces = list(streams.values())
        # One partition's chunks run one after the other (a bank decides alike however a
        # stream is cut); several partitions' are merged by time first.
        sequence = pieces[0] if len(pieces) == 1 else [merge_by_time(pieces, feature)]
        outputs, base = [], 0
        for batch, _stamps in sequence:
            outputs.append(_shifted(self._run_one(feature, batch), base))
            base += batch.n_records
        self.marks.update(ends)
        stamps = sequence[0][1] if len(sequence) == 1 else np.concatenate([s for _, s in sequence])
        return BankOutput(
            [e for output in outputs for e in output.evidence],
            [e for output in outputs for e in output.incidents],
        ), stamps

    def _run_one(self, feature: str, batch: FeatureBatch) -> BankOutput:
        bank = self.banks.get(feature)
        if bank is None:
            if not self._wanted(feature, batch):
                return _NOTHING
            if len(self.banks) >= self.settings.max_features:
                return self._refuse(feature, batch)
            bank = self.banks[feature] = DetectorBank(self.settings, self._profile_of(feature))
            if self.profile is None or feature not in self.profile.features:
                # A field the profile lacks is counted from its first record, wherever the
                # batch holding it began.
                start = int(np.argmax(batch.present[feature]))
                return _shifted(bank.run(tail(batch, start)), start)
        return bank.run(batch)

    def records_seen(self) -> dict[str, int]:
        """Records each feature's bank has counted."""
        return {name: bank.records_seen for name, bank in self.banks.items()}

    def statistics(self) -> dict[str, dict[str, float]]:
        """The latest statistics of every feature (``DetectorBank.statistics``)."""
        out: dict[str, dict[str, float]] = {}
        for bank in self.banks.values():
            out.update(bank.statistics())
        return out

    def update_settings(self, settings: DetectorSettings) -> None:
        """New thresholds for every bank from its next chunk (``DetectorBank.update_settings``)."""
        self.settings = settings
        for bank in self.banks.values():
            bank.update_settings(settings)

    def _wanted(self, feature: str, batch: FeatureBatch) -> bool:
        if self.profile is not None and feature in self.profile.features:
            return True
        present = batch.present.get(feature)
        return present is not None and bool(present.any())

    def _profile_of(self, feature: str) -> Profile | None:
        """The profile narrowed to ``feature`` (no entry: the feature is novel)."""
        if self.profile is None:
            return None
        entry = self.profile.features.get(feature)
        return self.profile.model_copy(update={"features": {feature: entry} if entry else {}})

    def _refuse(self, feature: str, batch: FeatureBatch) -> BankOutput:
        self.untracked_features += 1
        if self._limit_reported:
            return _NOTHING
        self._limit_reported = True
        event = feature_limit_event(feature, self.settings.max_features, batch, 0)
        return BankOutput([event], [])

    @staticmethod
    def _mark(feature: str, batch: FeatureBatch) -> Mark | None:
        """The mark of a chunk, which holds records of one source partition (stage one cuts
        it so); None for a batch whose ends are of different partitions."""
        positions = batch.positions
        ids, partitions = positions.source_ids, positions.partitions
        if len(positions.sources) != 1 or partitions[0] != partitions[-1]:
            return None
        return (feature, positions.sources[int(ids[0])], int(partitions[0]))

    def snapshot(self) -> dict[str, Any]:
        """Every bank and mark, JSON-serialisable (settings and profile excluded)."""
        return {
            "kind": _SNAPSHOT_KIND,
            "version": _SNAPSHOT_VERSION,
            "banks": {name: bank.snapshot() for name, bank in sorted(self.banks.items())},
            "marks": [[*mark, offset] for mark, offset in sorted(self.marks.items())],
            "untracked_features": self.untracked_features,
            "limit_reported": self._limit_reported,
        }

    @classmethod
    def restore(
        cls,
        state: dict[str, Any],
        settings: DetectorSettings,
        profile: Profile | None = None,
        dedupe: bool = False,
    ) -> FeatureBanks:
        """Rebuild from ``snapshot()``; it makes exactly the same future decisions."""
        check_snapshot(state, _SNAPSHOT_KIND, _SNAPSHOT_VERSION)
        banks = cls(settings, profile, dedupe)
        banks.banks = {
            name: DetectorBank.restore(saved, settings, banks._profile_of(name))
            for name, saved in state["banks"].items()
        }
        banks.marks = {(f, s, int(p)): int(o) for f, s, p, o in state["marks"]}
        banks.untracked_features = state["untracked_features"]
        banks._limit_reported = state["limit_reported"]
        return banks
