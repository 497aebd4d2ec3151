"""check-leakage: does a test set repeat the training rows, or give the label away?

``LeakageChecker`` sees the first chunk of each side (``plan``), then every training chunk
(``add_train``), then every test chunk (``add_test``), and ``report()`` gives the findings:

- duplicated rows: test rows equal to a training row on the compared features, after
  normalising types (``row_hash``: ``1``, ``1.0`` and ``"1"`` are equal; null equals
  absent). Compared features: those of the first training chunk that the test side also
  has, minus the label, the keys, ``ignore`` and features that look like identifiers in the
  first training chunk (a row id would make every row unique and hide the copies).
- identifier-like features of the training data (``profile_report.identifier_ratio``).
- with a label: features whose single-feature ROC AUC on the training data is at least the
  threshold (``single_feature_auc``).
- with keys: test rows whose key (the key features together) also occurs in training.

Memory: the training row hashes are a sorted set of 64-bit hashes, 8 bytes per distinct
training row (about twice that while sorting), exact up to a 2**-64 collision chance per
pair; or, with ``store="bloom"``, a ``RowHashFilter`` of about 2 bytes per row whose false
positives (at most ``bloom_fpr``) can only overstate the duplicate share. Keys cost 8 bytes
per distinct training key, the AUC sample ``auc_sample * (features + 2) * 8`` bytes, and
the per-feature accumulators what a profile costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from driftwarden.stream.leakage.single_feature_auc import AucAccumulator
from driftwarden.stream.profiling.chunk_typing import ChunkTyper, TypedChunk
from driftwarden.stream.profiling.profile_builder import ProfileBuilder, ProfileOptions
from driftwarden.stream.profiling.profile_report import identifier_ratio
from driftwarden.stream.profiling.readers import RecordChunk
from driftwarden.stream.profiling.row_hashes import row_hashes
from driftwarden.stream.sketches.bloom_filter import RowHashFilter

__all__ = ["LeakageChecker", "LeakageOptions", "LeakageReport", "LeakageThresholds"]

_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class LeakageThresholds:
    """A check fails when its figure crosses its threshold.

    ``max_duplicate_share``: share of test rows equal to a training row (fails above);
    ``identifier_ratio``: share of distinct values that makes a feature identifier-like
    (fails at or above, with at least ``min_identifier_rows`` values);
    ``max_auc``: single-feature ROC AUC (fails at or above);
    ``max_key_overlap``: share of test rows whose key is in training (fails above).

    >>> LeakageThresholds(max_auc=0.95).max_duplicate_share
    0.01
    """

    max_duplicate_share: float = 0.01
    identifier_ratio: float = 0.95
    min_identifier_rows: int = 100
    max_auc: float = 0.99
    max_key_overlap: float = 0.0


@dataclass(frozen=True, slots=True)
class LeakageOptions:
    """What to compare: ``label`` and ``keys`` features, ``ignore``d features, forced kinds,
    the training-row store (``exact`` or ``bloom``), and the AUC sample size and seed.

    >>> LeakageOptions(label="y", keys=("order_id",)).store
    'exact'
    """

    label: str | None = None
    keys: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    store: Literal["exact", "bloom"] = "exact"
    bloom_fpr: float = 0.001
    auc_sample: int = 100_000
    seed: int = 0


@dataclass(slots=True)
class LeakageReport:
    """The findings; ``failed`` lists the checks that crossed their thresholds.

    ``failed`` names: ``duplicates``, ``identifiers``, ``leaky_features``, ``keys``. See
    ``LeakageChecker`` for an example.
    """

    train_rows: int
    test_rows: int
    compared: list[str]
    excluded: dict[str, str]
    duplicates: dict[str, Any]
    identifiers: list[dict[str, Any]]
    leaky_features: list[dict[str, Any]]
    keys: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the ``--json`` output)."""
        return {
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "compared": self.compared,
            "excluded": self.excluded,
            "duplicates": self.duplicates,
            "identifiers": self.identifiers,
            "leaky_features": self.leaky_features,
            "keys": self.keys,
            "notes": self.notes,
            "failed": self.failed,
        }


class LeakageChecker:
    """Streams a training and a test set through the leakage checks (module docstring).

    >>> import numpy as np
    >>> from driftwarden.stream.profiling.readers import RecordChunk
    >>> def chunk(path, xs, ys):
    ...     return RecordChunk(path=path, lines=np.arange(2, len(xs) + 2), text=True,
    ...                        columns={"x": tuple(xs), "y": tuple(ys)})
    >>> train = chunk("train.csv", ["1", "2", "3", "4"], ["0", "0", "1", "1"])
    >>> test = chunk("test.csv", ["2.0", "9"], ["0", "1"])
    >>> checker = LeakageChecker(LeakageOptions(label="y"))
    >>> checker.plan(train, test)
    >>> _ = checker.add_train(train); _ = checker.add_test(test)
    >>> report = checker.report()
    >>> report.duplicates["rows"], report.duplicates["examples"], report.failed
    (1, ['test.csv:2'], ['duplicates', 'leaky_features'])
    >>> report.leaky_features
    [{'feature': 'x', 'auc': 1.0}]
    """

    def __init__(
        self, options: LeakageOptions | None = None, thresholds: LeakageThresholds | None = None
    ) -> None:
        self.options = options or LeakageOptions()
        self.thresholds = thresholds or LeakageThresholds()
        opts = self.options
        fixed = [opts.label] if opts.label else []
        self.typer = ChunkTyper(
            ignore=opts.ignore, categorical=(*opts.categorical, *fixed, *opts.keys)
        )
        self.builder = ProfileBuilder(ProfileOptions(bins=1, max_categories=1))
        self.compared: list[str] = []
        self.excluded: dict[str, str] = {}
        self.train_rows = self.test_rows = 0
        self._hash_parts: list[npt.NDArray[np.uint64]] = []
        self._hashes = np.empty(0, dtype=np.uint64)
        self._bloom = RowHashFilter(target_fpr=opts.bloom_fpr) if opts.store == "bloom" else None
        self._key_parts: list[npt.NDArray[np.uint64]] = []
        self._keys = np.empty(0, dtype=np.uint64)
        self._auc: AucAccumulator | None = None
        self._test_typer: ChunkTyper | None = None
        self._duplicates = self._key_rows = 0
        self._duplicate_examples: list[str] = []
        self._key_examples: list[str] = []

    def plan(self, train_first: RecordChunk, test_first: RecordChunk | None) -> None:
        """Decide the compared features from the first chunk of each side."""
        opts, typed = self.options, self.typer.type_chunk(train_first)
        test_names = set(test_first.columns) if test_first is not None else set()
        for name in [*typed.numeric, *typed.categorical, *typed.all_null]:
            if name == opts.label:
                self.excluded[name] = "label"
            elif name in opts.keys:
                self.excluded[name] = "key"
            elif name not in test_names:
                self.excluded[name] = "not in test"
            elif self._looks_like_identifier(typed, name):
                self.excluded[name] = "identifier-like"
            else:
                self.compared.append(name)
        for name in opts.keys:
            if name not in train_first.columns:
                raise ValueError(f"key {name!r} is not a column of {train_first.path}")
        if opts.label:
            if opts.label not in train_first.columns:
                raise ValueError(f"label {opts.label!r} is not a column of {train_first.path}")
            fixed_names = (opts.label, *opts.keys)
            features = [n for n in [*typed.numeric, *typed.categorical] if n not in fixed_names]
            self._auc = AucAccumulator(
                numeric=[n for n in features if n in typed.numeric],
                categorical=[n for n in features if n in typed.categorical],
                sample_size=opts.auc_sample,
                seed=opts.seed,
            )
        self._test_typer = ChunkTyper(features=[*self.compared, *opts.keys], categorical=opts.keys)
        self._test_typer.kinds.update(self.typer.kinds)

    def _looks_like_identifier(self, typed: TypedChunk, name: str) -> bool:
        if name in typed.numeric:
            values = typed.numeric[name]
            values = values[~np.isnan(values)]
            if not np.array_equal(values, np.trunc(values)):
                return False
            distinct, non_null = np.unique(values).size, values.size
        else:
            counts = typed.category_counts(name) if name in typed.categorical else {}
            distinct, non_null = len(counts), sum(counts.values())
        limit = self.thresholds
        return non_null >= limit.min_identifier_rows and (
            distinct >= limit.identifier_ratio * non_null
        )

    def add_train(self, chunk: RecordChunk) -> TypedChunk:
        """Absorb a training chunk; returns it typed (its ``bad_rows`` are for the caller)."""
        typed = self.typer.type_chunk(chunk)
        self.builder.absorb(typed)
        self.train_rows += typed.n_rows
        hashes = row_hashes(typed, self.compared)
        if self._bloom is not None:
            self._bloom.add(hashes)
        else:
            self._hash_parts.append(hashes)
            if sum(part.size for part in self._hash_parts) > 4_000_000:
                self._hash_parts = [np.unique(np.concatenate(self._hash_parts))]
        if self.options.keys:
            keyed = self._keyed(typed)
            self._key_parts.append(np.unique(row_hashes(typed, self.options.keys)[keyed]))
        label = self.options.label
        if self._auc is not None and label is not None and label in typed.categorical:
            categorical = {
                n: typed.labels(n) for n in self._auc.categorical if n in typed.categorical
            }
            self._auc.update(typed.labels(label), typed.numeric, categorical)
        return typed

    def _keyed(self, typed: TypedChunk) -> npt.NDArray[np.bool_]:
        keyed = np.zeros(typed.n_rows, dtype=np.bool_)
        for name in self.options.keys:
            if name in typed.categorical:
                labels = typed.labels(name)
                keyed |= np.fromiter((v is not None for v in labels), np.bool_, len(labels))
        return keyed

    def add_test(self, chunk: RecordChunk) -> TypedChunk:
        """Check a test chunk against the training rows seen so far."""
        if self._test_typer is None:
            raise RuntimeError("call plan() before add_test()")
        if self._hash_parts:
            self._hashes = np.unique(np.concatenate([self._hashes, *self._hash_parts]))
            self._hash_parts = []
        if self._key_parts:
            self._keys = np.unique(np.concatenate([self._keys, *self._key_parts]))
            self._key_parts = []
        typed = self._test_typer.type_chunk(chunk)
        self.test_rows += typed.n_rows
        found = self._in_train(row_hashes(typed, self.compared))
        self._duplicates += int(found.sum())
        self._remember(self._duplicate_examples, typed, found)
        if self.options.keys:
            keys = row_hashes(typed, self.options.keys)
            shared = self._keyed(typed) & _member(self._keys, keys)
            self._key_rows += int(shared.sum())
            self._remember(self._key_examples, typed, shared)
        return typed

    def _in_train(self, hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        if self._bloom is not None:
            return self._bloom.contains(hashes)
        return _member(self._hashes, hashes)

    @staticmethod
    def _remember(examples: list[str], typed: TypedChunk, rows: npt.NDArray[np.bool_]) -> None:
        for line in typed.lines[rows][: _EXAMPLES - len(examples)].tolist():
            examples.append(f"{typed.path}:{line}")

    def report(self) -> LeakageReport:
        """The findings so far, with the failed checks."""
        limits, failed = self.thresholds, []
        share = self._duplicates / self.test_rows if self.test_rows else 0.0
        duplicates: dict[str, Any] = {
            "rows": self._duplicates,
            "share": share,
            "threshold": limits.max_duplicate_share,
            "store": self.options.store,
            "examples": self._duplicate_examples,
        }
        if self._bloom is not None:
            duplicates["false_positive_bound"] = self._bloom.false_positive_bound()
        if share > limits.max_duplicate_share:
            failed.append("duplicates")
        identifiers = self._identifiers()
        if identifiers:
            failed.append("identifiers")
        skip = {item["feature"] for item in identifiers}
        leaky, notes = [], []
        if self._auc is not None:
            notes.extend(self._auc.notes)
            for name, auc in self._auc.results().items():
                if auc >= limits.max_auc and name not in skip:
                    leaky.append({"feature": name, "auc": round(auc, 6)})
            if leaky:
                failed.append("leaky_features")
        keys = None
        if self.options.keys:
            key_share = self._key_rows / self.test_rows if self.test_rows else 0.0
            keys = {
                "features": list(self.options.keys),
                "rows": self._key_rows,
                "share": key_share,
                "threshold": limits.max_key_overlap,
                "examples": self._key_examples,
            }
            if key_share > limits.max_key_overlap:
                failed.append("keys")
        return LeakageReport(
            train_rows=self.train_rows,
            test_rows=self.test_rows,
            compared=self.compared,
            excluded=self.excluded,
            duplicates=duplicates,
            identifiers=identifiers,
            leaky_features=leaky,
            keys=keys,
            notes=notes,
            failed=failed,
        )

    def _identifiers(self) -> list[dict[str, Any]]:
        limits, found = self.thresholds, []
        profile = self.builder.profile()
        distinct = self.builder.distinct_estimates()
        for name, feature in profile.features.items():
            if name == self.options.label or name in self.options.keys:
                continue
            ratio = identifier_ratio(
                feature, distinct.get(name) if feature.kind == "numeric" else None
            )
            non_null = feature.count - feature.null_count
            if ratio is not None and non_null >= limits.min_identifier_rows:
                if ratio >= limits.identifier_ratio:
                    found.append({"feature": name, "distinct_ratio": round(ratio, 4)})
        return found


def _member(store: npt.NDArray[np.uint64], hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    if not store.size:
        return np.zeros(hashes.size, dtype=np.bool_)
    at = np.minimum(np.searchsorted(store, hashes), store.size - 1)
    return store[at] == hashes
