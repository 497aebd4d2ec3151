"""Building a training-data profile in one streaming pass, and merging partial profiles.

``ProfileBuilder`` absorbs typed chunks (``chunk_typing.TypedChunk``) into one mergeable
accumulator per feature (``feature_accumulators``) and produces the validated
``driftwarden.detectors.profile.Profile``. Memory is bounded by the number of features times the
per-feature bound, whatever the number of rows.

The profile model has no room for the mergeable sketches, so ``save_profile`` writes them
beside it: ``<profile>.sketches`` (JSON; sketches as base64 bytes) and, when row hashes
were collected, ``<profile>.rowhashes`` (``bloom_filter.RowHashFilter``). ``merge_profiles``
reads those sidecars: merging profiles of disjoint data gives the profile of all of it
(exactly for counts, nulls, min, max and categories below the exact limit; moments up to
float rounding; bin edges and counts within the KLL rank error).

The KLL sketch compacts with random coin flips, so two builds of the same data may give
slightly different bin edges and counts, always within ``KLL_RANK_ERROR``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from driftwarden.detectors.feature_batch import Kind
from driftwarden.detectors.profile import FeatureProfile, Profile
from driftwarden.stream.profiling.chunk_typing import TypedChunk
from driftwarden.stream.profiling.feature_accumulators import (
    KLL_K,
    CategoricalAccumulator,
    NumericAccumulator,
)
from driftwarden.stream.sketches.bloom_filter import RowHashFilter

__all__ = [
    "SKETCHES_FORMAT",
    "ProfileBuilder",
    "ProfileFiles",
    "ProfileOptions",
    "load_profile_files",
    "merge_profiles",
    "save_profile",
    "sidecar_paths",
]

SKETCHES_FORMAT = "driftwarden-profile-sketches-v2"
# v1 kept heavy hitters in datasketches' frequent-items sketch; its sidecars still read.
_READABLE_SKETCHES = frozenset({"driftwarden-profile-sketches-v1", SKETCHES_FORMAT})

Accumulator = NumericAccumulator | CategoricalAccumulator


@dataclass(frozen=True, slots=True)
class ProfileOptions:
    """How a profile summarises: quantile ``bins`` per numeric feature, the most frequent
    ``max_categories`` per categorical feature, and the KLL sketch size ``kll_k``.

    >>> ProfileOptions(bins=10)
    ProfileOptions(bins=10, max_categories=200, kll_k=400)
    """

    bins: int = 20
    max_categories: int = 200
    kll_k: int = KLL_K

    def __post_init__(self) -> None:
        if self.bins < 1 or self.max_categories < 1 or self.kll_k < 8:
            raise ValueError("bins and max_categories must be positive and kll_k at least 8")


@dataclass(slots=True)
class _Unknown:
    """A feature seen only as null so far: its kind is not known yet."""

    count: int = 0
    null_count: int = 0

    def add_nulls(self, present: int, nulls: int) -> None:
        self.count += present
        self.null_count += nulls


class ProfileBuilder:
    """Accumulates typed chunks into a ``Profile``; mergeable; saved as a ``.sketches`` doc.

    >>> import numpy as np
    >>> from driftwarden.stream.profiling.chunk_typing import ChunkTyper
    >>> from driftwarden.stream.profiling.readers import RecordChunk
    >>> typer, builder = ChunkTyper(), ProfileBuilder(ProfileOptions(bins=2))
    >>> chunk = RecordChunk(
    ...     path="t.csv", lines=np.arange(2, 6), text=True,
    ...     columns={"x": ("1", "2", "3", ""), "c": ("a", "a", "b", "")},
    ... )
    >>> builder.absorb(typer.type_chunk(chunk))
    >>> p = builder.profile()
    >>> p.n_rows, p.features["x"].numeric.mean, p.features["x"].null_count
    (4, 2.0, 1)
    >>> p.features["c"].categorical.top
    {'a': 2, 'b': 1}
    """

    def __init__(self, options: ProfileOptions | None = None) -> None:
        self.options = options or ProfileOptions()
        self.n_rows = 0
        self.sources: list[str] = []
        self.features: dict[str, Accumulator | _Unknown] = {}

    def _accumulator(self, name: str, kind: Kind) -> Accumulator:
        current = self.features.get(name)
        if isinstance(current, NumericAccumulator | CategoricalAccumulator):
            if _kind_of(current) != kind:
                raise ValueError(
                    f"feature {name!r} is {_kind_of(current)} in one part and {kind} in "
                    f"another; force one kind with --numeric or --categorical"
                )
            return current
        fresh: Accumulator
        if kind == "numeric":
            fresh = NumericAccumulator(self.options.kll_k)
        else:
            fresh = CategoricalAccumulator()
        if current is not None:
            fresh.add_nulls(current.count, current.null_count)
        self.features[name] = fresh
        return fresh

    def absorb(self, chunk: TypedChunk) -> None:
        """Add the rows of a typed chunk."""
        self.n_rows += chunk.n_rows
        if chunk.path not in self.sources:
            self.sources.append(chunk.path)
        for name, values in chunk.numeric.items():
            numeric = self._accumulator(name, "numeric")
            assert isinstance(numeric, NumericAccumulator)
            numeric.update(values[~np.isnan(values)], present=chunk.present_count(name))
        for name in chunk.categorical:
            categorical = self._accumulator(name, "categorical")
            assert isinstance(categorical, CategoricalAccumulator)
            categorical.update(chunk.category_counts(name), present=chunk.present_count(name))
        for name in chunk.all_null:
            present = chunk.present_count(name)
            self.features.setdefault(name, _Unknown()).add_nulls(present, present)

    def merge(self, other: ProfileBuilder) -> None:
        """Absorb a builder of other rows: the result describes the rows of both."""
        self.n_rows += other.n_rows
        self.sources.extend(s for s in other.sources if s not in self.sources)
        for name, theirs in other.features.items():
            if isinstance(theirs, _Unknown):
                self.features.setdefault(name, _Unknown()).add_nulls(
                    theirs.count, theirs.null_count
                )
            else:
                ours = self._accumulator(name, _kind_of(theirs))
                ours.merge(theirs)  # type: ignore[arg-type]

    def distinct_estimates(self) -> dict[str, float | None]:
        """Distinct values per feature (None for non-integer numeric or unknown features)."""
        return {
            name: None if isinstance(acc, _Unknown) else acc.distinct_estimate()
            for name, acc in self.features.items()
        }

    def profile(self) -> Profile:
        """The validated profile of everything absorbed so far."""
        features = {}
        for name, acc in self.features.items():
            if isinstance(acc, NumericAccumulator):
                features[name] = FeatureProfile(
                    kind="numeric",
                    count=acc.count,
                    null_count=acc.null_count,
                    numeric=acc.summary(self.options.bins),
                )
            elif isinstance(acc, CategoricalAccumulator):
                features[name] = FeatureProfile(
                    kind="categorical",
                    count=acc.count,
                    null_count=acc.null_count,
                    categorical=acc.summary(self.options.max_categories),
                )
            else:  # only nulls: a numeric feature without a summary
                features[name] = FeatureProfile(
                    kind="numeric", count=acc.count, null_count=acc.null_count
                )
        return Profile(n_rows=self.n_rows, features=features, source=list(self.sources))

    def to_sketches(self) -> dict[str, Any]:
        """The ``.sketches`` sidecar document (JSON-serialisable)."""
        return {
            "format": SKETCHES_FORMAT,
            "options": asdict(self.options),
            "n_rows": self.n_rows,
            "source": self.sources,
            "features": {
                name: (
                    {"kind": None, "count": acc.count, "null_count": acc.null_count}
                    if isinstance(acc, _Unknown)
                    else acc.to_state()
                )
                for name, acc in self.features.items()
            },
        }

    @classmethod
    def from_sketches(cls, doc: dict[str, Any]) -> ProfileBuilder:
        """Rebuild a builder from ``to_sketches()`` output."""
        if doc.get("format") not in _READABLE_SKETCHES:
            raise ValueError(f"not a {SKETCHES_FORMAT} (or v1) document")
        builder = cls(ProfileOptions(**doc["options"]))
        builder.n_rows = int(doc["n_rows"])
        builder.sources = list(doc["source"])
        for name, state in doc["features"].items():
            if state["kind"] == "numeric":
                builder.features[name] = NumericAccumulator.from_state(state)
            elif state["kind"] == "categorical":
                builder.features[name] = CategoricalAccumulator.from_state(state)
            else:
                builder.features[name] = _Unknown(state["count"], state["null_count"])
        return builder


def _kind_of(acc: Accumulator) -> Kind:
    return "numeric" if isinstance(acc, NumericAccumulator) else "categorical"


def sidecar_paths(profile_path: str | Path) -> tuple[Path, Path]:
    """``(<profile>.sketches, <profile>.rowhashes)``.

    >>> [path.name for path in sidecar_paths("out/train.json")]
    ['train.json.sketches', 'train.json.rowhashes']
    """
    path = Path(profile_path)
    return path.with_name(path.name + ".sketches"), path.with_name(path.name + ".rowhashes")


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def save_profile(
    path: str | Path, builder: ProfileBuilder, rows: RowHashFilter | None = None
) -> Profile:
    """Write the profile JSON and its sidecars (each file replaced atomically).

    ``rows`` (a filter of the rows' hashes) is written as ``<path>.rowhashes``; without it a
    stale ``.rowhashes`` is removed. Returns the profile written.

    >>> import tempfile, pathlib
    >>> builder = ProfileBuilder()
    >>> builder.features["x"] = NumericAccumulator()
    >>> builder.features["x"].update(np.array([1.0, 2.0, 4.0]), present=3)
    >>> builder.n_rows = 3
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = save_profile(pathlib.Path(tmp, "p.json"), builder)
    ...     files = load_profile_files(pathlib.Path(tmp, "p.json"))
    ...     names = sorted(p.name for p in pathlib.Path(tmp).iterdir())
    >>> names, files.profile.features["x"].numeric.max, files.rows is None
    (['p.json', 'p.json.sketches'], 4.0, True)
    """
    profile = builder.profile()
    sketches_path, rows_path = sidecar_paths(path)
    _write_atomically(sketches_path, json.dumps(builder.to_sketches()).encode("utf-8"))
    if rows is not None:
        rows.columns = list(profile.features)
        _write_atomically(rows_path, rows.to_bytes())
    elif rows_path.exists():
        rows_path.unlink()  # a stale filter would describe other rows
    _write_atomically(Path(path), (profile.model_dump_json(indent=2) + "\n").encode("utf-8"))
    return profile


@dataclass(frozen=True, slots=True)
class ProfileFiles:
    """A profile read back with its sidecars (``builder`` is None without ``.sketches``,
    ``rows`` None without ``.rowhashes``); see ``save_profile`` for an example."""

    profile: Profile
    builder: ProfileBuilder | None
    rows: RowHashFilter | None


def load_profile_files(path: str | Path) -> ProfileFiles:
    """Read a profile and whichever sidecars exist; ValueError with a one-line reason.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     bad = pathlib.Path(tmp, "p.json")
    ...     _ = bad.write_text('{"n_rows": 1}')
    ...     try:
    ...         load_profile_files(bad)
    ...     except ValueError as error:
    ...         print(str(error).replace(tmp, "TMP"))
    TMP/p.json: not a driftwarden profile (features: Field required)
    """
    path = Path(path)
    try:
        profile = Profile.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        raise ValueError(f"{path}: not a driftwarden profile ({where}: {first['msg']})") from None
    sketches_path, rows_path = sidecar_paths(path)
    builder = rows = None
    if sketches_path.exists():
        try:
            builder = ProfileBuilder.from_sketches(json.loads(sketches_path.read_bytes()))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{sketches_path}: unreadable sketches ({error})") from None
    if rows_path.exists():
        rows = RowHashFilter.read(rows_path)
    return ProfileFiles(profile, builder, rows)


def merge_profiles(
    paths: Sequence[str | Path], options: ProfileOptions | None = None
) -> tuple[ProfileBuilder, RowHashFilter | None, list[str]]:
    """Merge saved profiles: ``(builder, merged row filter or None, notes for the user)``.

    ``options`` default to the first profile's. Row-hash filters merge only when every
    profile has one over the same features; otherwise the merged profile has none (a note
    says so).

    >>> import tempfile, pathlib
    >>> def part(values):
    ...     builder = ProfileBuilder()
    ...     builder.features["x"] = NumericAccumulator()
    ...     builder.features["x"].update(np.array(values), present=len(values))
    ...     builder.n_rows = len(values)
    ...     return builder
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = [pathlib.Path(tmp, "a.json"), pathlib.Path(tmp, "b.json")]
    ...     _ = save_profile(paths[0], part([1.0, 2.0]))
    ...     _ = save_profile(paths[1], part([3.0, 6.0]))
    ...     merged, rows, notes = merge_profiles(paths)
    >>> summary = merged.profile().features["x"].numeric
    >>> merged.n_rows, summary.mean, summary.max, rows, notes
    (4, 3.0, 6.0, None, [])
    """
    builders, filters, notes = [], [], []
    for path in paths:
        files = load_profile_files(path)
        if files.builder is None:
            raise ValueError(
                f"{sidecar_paths(path)[0]}: missing; merge needs the sidecar that "
                f"'profile build' writes beside the profile"
            )
        builders.append(files.builder)
        filters.append(files.rows)
    merged = ProfileBuilder(options or builders[0].options)
    for builder in builders:
        merged.merge(builder)
    rows: RowHashFilter | None = None
    present = [f for f in filters if f is not None]
    if len(present) == len(filters):
        rows = present[0]
        try:
            for f in present[1:]:
                rows.merge(f)
        except ValueError as error:
            rows = None
            notes.append(f"row hashes not merged: {error}")
    elif present:
        notes.append("row hashes not merged: not every profile has a .rowhashes sidecar")
    return merged, rows, notes
