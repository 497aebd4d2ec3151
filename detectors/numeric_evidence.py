"""NumericEvidence: pane-by-pane judgement of a numeric feature against its reference, with
practical-effect floors and tests corrected for serial dependence.

The feature's records are cut into panes of ``pane_records`` (``pane_kernels``); at each
pane's end the trailing windows of ``scales(window_panes)`` panes are tested for five kinds
of finding. A kind *fires* in a window when its test passes **and** its effect reaches its
floor (``IncidentSettings``); it is *clean* when the longest window's effect is under
``resolve_fraction`` × the floor.

- ``mean_shift``: the window's mean in training standard deviations ``d`` (values clipped at
  ±``clip``); ``z = d / sqrt(s² · VIF / n)`` against ``z_threshold``; effect ``|d|``.
- ``distribution_shift``: PSI and the two-sample chi-square over the reference's drift bins
  (``HistogramReference``), the chi-square divided by the VIF; effect: the PSI in excess of
  sampling noise (``window_tests.distribution_test``); windows of at least 20 values per bin.
- ``out_of_range``: share of values beyond the training minimum or maximum.
- ``sparse_support``: share of values in quantile bins where training had fewer than
  ``sparse_min_count`` values.
- ``null_rate``: share of missing records against the reference's.

Rates need windows of at least 1,000 records. The VIF (``dependence.variance_inflation``)
comes from the lag-1 autocorrelation over the longest window, the larger of the values' and
of their bin ranks' (the ranks see the dependence of a skewed feature that its raw values
understate); for missing values, from the chain of missing records.

Without a profile, the first ``window_panes × pane_records`` finite values form the reference
(20 quantile bins, their mean and standard deviation; the null rate of their records).

Memory bound: the ``PaneRing`` (``window_panes`` rows of 11 + bins floats), one open pane row,
and while learning at most ``window_panes × pane_records`` buffered values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.dependence import (
    indicator_autocorrelation,
    lag1_autocorrelation,
    variance_inflation,
)
from driftwarden.detectors.feature_batch import SourcePositions
from driftwarden.detectors.findings import (
    FindingDetail,
    FindingKind,
    PaneVerdicts,
    best_split,
)
from driftwarden.detectors.histogram_reference import HistogramReference, exact_samples_worth
from driftwarden.detectors.pane_judgement import NUMERIC_KINDS, judge_numeric
from driftwarden.detectors.pane_kernels import (
    CROSS_B,
    CROSS_Z,
    FINITE,
    MISS_PAIRS,
    MISSING,
    NUMERIC_COLUMNS,
    PAIRS,
    RECORDS,
    SUM_B,
    SUM_B2,
    SUM_Z,
    SUM_Z2,
    fill_numeric_panes,
)
from driftwarden.detectors.pane_ring import PaneHistory
from driftwarden.detectors.pane_stream import PaneStream
from driftwarden.detectors.settings import IncidentSettings
from driftwarden.detectors.window_tests import (
    distribution_splits,
    distribution_test,
    mean_splits,
    mean_test,
    rate_splits,
    rate_test,
)

__all__ = ["NumericEvidence"]

_LEARNED_BINS = 20
_MIN_RATE_RECORDS = 1000.0
_MIN_PER_BIN = 20.0
# The chi-square needs this many independent values per bin (n / VIF); the VIF of bin
# indicators is at most the values' (see ``dependence``), so five suffice here.
_MIN_EFFECTIVE_PER_BIN = 5.0
_MIN_PANES = 10
_Floats = npt.NDArray[np.float64]


class NumericEvidence:
    """See the module docstring. ``assess`` takes each batch's column of the feature.

    >>> from driftwarden.detectors.feature_batch import SourcePositions
    >>> rng = np.random.default_rng(1)
    >>> evidence = NumericEvidence(IncidentSettings())
    >>> stream = np.concatenate([rng.normal(0, 1, 20_000), rng.normal(1, 1, 1_000)])
    >>> verdicts = evidence.assess(stream, 0, SourcePositions.sequential("f", stream.size), 0)
    >>> firing = verdicts.kinds[FindingKind.MEAN_SHIFT].firing
    >>> first = int(np.argmax(firing)); int(verdicts.ends[first])  # the shift starts at 20,000
    20099
    """

    def __init__(
        self,
        settings: IncidentSettings,
        reference: HistogramReference | None = None,
        mean: float | None = None,
        std: float | None = None,
        null_rate: float | None = None,
        rank_error: float = 0.0,
        clip: float = 5.0,
    ) -> None:
        self.settings = settings
        self.panes = PaneStream(settings, NUMERIC_COLUMNS, carry=3)
        self.clip = clip
        self.rank_error = rank_error
        self.reference: HistogramReference | None = None
        self.mean = 0.0
        self.std = 1.0
        self.null_rate = 0.0
        self._buffer = np.empty(0, dtype=np.float64)
        self._learn_records = 0
        self._learn_missing = 0
        if reference is not None and mean is not None and std is not None:
            self._adopt(reference, mean, std, null_rate or 0.0)
        else:
            self._buffer = np.empty(self.panes.pane * self.panes.capacity, dtype=np.float64)
            self._n_buffered = 0
            self._fixed_null_rate = null_rate

    @property
    def ready(self) -> bool:
        """Whether the reference is known."""
        return self.reference is not None

    def _adopt(
        self, reference: HistogramReference, mean: float, std: float, null_rate: float
    ) -> None:
        self.reference = reference
        self.mean = float(mean)
        self.std = float(std) if std and std > 0 and math.isfinite(std) else 1.0
        self.null_rate = float(null_rate)
        self.panes.resize(NUMERIC_COLUMNS + reference.counts.size)
        self._buffer = np.empty(0, dtype=np.float64)
        ref_drift = reference.drift_counts.astype(np.float64)
        total = float(ref_drift.sum())
        self._ref_drift = ref_drift
        self._ref_worth = exact_samples_worth(total, ref_drift.size, self.rank_error)
        full = reference.counts.astype(np.float64)
        self._ref_out = float(full[0] + full[-1]) / float(full.sum())
        sparse = np.flatnonzero(full < self.settings.sparse_min_count)
        self._sparse_bins = sparse[(sparse > 0) & (sparse < full.size - 1)].astype(np.intp)
        self._ref_sparse = float(full[self._sparse_bins].sum()) / float(full.sum())
        self._ref_share = ref_drift / total
        self._drift_bins = np.arange(full.size, dtype=np.intp)
        groups = np.searchsorted(reference.drift_starts, self._drift_bins, side="right") - 1
        self._drift_group = groups.astype(np.intp)

    def _learn(self, values: _Floats) -> int:
        """Buffer finite values until the reference is complete; return where it stopped."""
        finite_at = np.flatnonzero(~np.isnan(values))
        room = self._buffer.size - self._n_buffered
        taken = min(room, finite_at.size)
        self._buffer[self._n_buffered : self._n_buffered + taken] = values[finite_at[:taken]]
        self._n_buffered += taken
        if self._n_buffered < self._buffer.size:
            self._learn_records += values.size
            self._learn_missing += values.size - taken
            return values.size
        stop = int(finite_at[taken - 1]) + 1
        self._learn_records += stop
        self._learn_missing += stop - taken
        sample = self._buffer
        null_rate = self._fixed_null_rate
        if null_rate is None:
            null_rate = self._learn_missing / max(self._learn_records, 1)
        self._adopt(
            HistogramReference.from_values(sample, _LEARNED_BINS),
            float(sample.mean()),
            float(sample.std()),
            null_rate,
        )
        return stop

    def apply(self, settings: IncidentSettings) -> None:
        """New thresholds and floors from the next pane on (pane size and window are kept)."""
        self.settings = self.panes.apply(settings)

    def assess(
        self,
        values: _Floats,
        base: int,
        positions: SourcePositions,
        offset: int,
        watching: bool = True,
    ) -> PaneVerdicts | None:
        """Feed a batch's column; ``values[i]`` is the bank's record ``base + i`` and the
        batch's record ``offset + i``. Return the verdicts of the panes it closed, if any.
        ``watching=False`` (no open incident) spares the distribution's cleanliness until a
        pane fires."""
        start = 0 if self.reference is not None else self._learn(values)
        reference = self.reference
        if reference is None or start >= values.size:
            return None
        lookup = reference.lookup
        values = np.ascontiguousarray(values[start:], dtype=np.float64)
        standard = (self.mean, 1.0 / self.std, self.clip)
        edges = (lookup.origin, lookup.scale, lookup.first_bins)
        pane = self.panes.pane

        def fill(
            n_before: int, row: _Floats, carry: _Floats
        ) -> tuple[int, npt.NDArray[np.float64]]:
            return fill_numeric_panes(
                values, lookup.search_edges, edges, standard, pane, n_before, row, carry
            )

        closed = self.panes.close(fill, start, base, positions, offset)
        if closed is None:
            return None
        history, ends = closed
        return self._verdicts(history, ends, watching)

    # -- judgement -------------------------------------------------------------------------

    def _verdicts(
        self, history: PaneHistory, ends: npt.NDArray[np.intp], watching: bool
    ) -> PaneVerdicts:
        verdicts, _ = self.panes.judge(
            judge_numeric,
            NUMERIC_KINDS,
            history,
            ends,
            watching,
            self._judge_arguments,
            self._describe,
            self._summary,
        )
        return verdicts

    def _judge_arguments(self) -> tuple[Any, ...]:
        """The arguments of ``judge_numeric`` after the history's, for these settings."""
        s = self.settings
        return (
            self.panes.capacity,
            self.panes.spans,
            self.panes.strides,
            self._drift_bins,
            self._drift_group,
            self._ref_share,
            1.0 / self._ref_share,
            self._ref_worth,
            self._sparse_bins,
            np.array([self._ref_out, self._ref_sparse, self.null_rate]),
            np.array(
                [
                    s.mean_shift_floor,
                    s.psi_floor,
                    s.out_of_range_floor,
                    s.sparse_floor,
                    s.null_rate_floor,
                ]
            ),
            s.z_threshold,
            self.panes.chi2_critical(self._ref_drift.size - 1),
            s.resolve_fraction,
            s.effect_margin,
            self.panes.pane,
            _MIN_PER_BIN * self._ref_drift.size,
            _MIN_EFFECTIVE_PER_BIN * self._ref_drift.size,
            _MIN_RATE_RECORDS,
            min(self.panes.capacity, _MIN_PANES),
        )

    def _describe(
        self,
        kind: FindingKind,
        history: PaneHistory,
        span_index: npt.NDArray[np.int64],
        strength: _Floats,
        j: int,
    ) -> FindingDetail:
        """The details of new pane ``j``'s strongest window for ``kind`` (numpy, once)."""
        s = self.settings
        g = np.array([history.first_new + j])
        longest = history.sums(g, self.panes.capacity)
        window = history.sums(g, self.panes.spans[int(span_index[j])])
        n, records = window[:, FINITE], window[:, RECORDS]
        rho = np.maximum(
            lag1_autocorrelation(*(longest[:, c] for c in (FINITE, SUM_Z, SUM_Z2, PAIRS, CROSS_Z))),
            lag1_autocorrelation(*(longest[:, c] for c in (FINITE, SUM_B, SUM_B2, PAIRS, CROSS_B))),
        )
        vif = variance_inflation(rho, n)
        bins = window[:, NUMERIC_COLUMNS:]
        effect: dict[str, float]
        if kind == FindingKind.MEAN_SHIFT:
            d, _, z = mean_test(n, window[:, SUM_Z], window[:, SUM_Z2], vif)
            test = ("mean_test", "z", float(z[0]), s.z_threshold)
            effect = {"mean_shift_sigma": float(d[0])}
        elif kind == FindingKind.DISTRIBUTION_SHIFT:
            assert self.reference is not None
            live = np.add.reduceat(bins, self.reference.drift_starts, axis=1)
            psi, excess, p_value = distribution_test(self._ref_drift, self._ref_worth, live, vif)
            test = ("histogram", "p_value", float(p_value[0]), s.p_value_threshold)
            effect = {"psi": float(psi[0]), "psi_excess": float(excess[0])}
        elif kind == FindingKind.NULL_RATE:
            vif = variance_inflation(
                indicator_autocorrelation(
                    longest[:, RECORDS], longest[:, MISSING], longest[:, MISS_PAIRS]
                ),
                records,
            )
            rate, _, z = rate_test(window[:, MISSING], records, self.null_rate, vif)
            test = ("null_rate", "z", float(z[0]), s.z_threshold)
            effect = {"null_rate": float(rate[0]), "reference_null_rate": self.null_rate}
        else:
            outside = kind == FindingKind.OUT_OF_RANGE
            count = bins[:, 0] + bins[:, -1] if outside else bins[:, self._sparse_bins].sum(axis=1)
            ref_rate = self._ref_out if outside else self._ref_sparse
            rate, _, z = rate_test(count, n, ref_rate, vif)
            test = ("histogram", "z", float(z[0]), s.z_threshold)
            effect = {"share": float(rate[0]), "reference_share": ref_rate}
        effect["window_records"] = float(records[0])
        return FindingDetail(
            *test, effect, self._onset(kind, history, int(g[0])), float(strength[j])
        )

    def _onset(self, kind: FindingKind, history: PaneHistory, g: int) -> int:
        lo = history.oldest(g)
        cumulative = history.prefix(lo, g)
        if kind == FindingKind.MEAN_SHIFT:
            statistic = mean_splits(cumulative[:, FINITE], cumulative[:, SUM_Z])
        elif kind == FindingKind.DISTRIBUTION_SHIFT:
            statistic = distribution_splits(cumulative[:, NUMERIC_COLUMNS:])
        elif kind == FindingKind.NULL_RATE:
            statistic = rate_splits(cumulative[:, RECORDS], cumulative[:, MISSING])
        else:
            bins = cumulative[:, NUMERIC_COLUMNS:]
            count = (
                bins[:, 0] + bins[:, -1]
                if kind == FindingKind.OUT_OF_RANGE
                else bins[:, self._sparse_bins].sum(axis=1)
            )
            statistic = rate_splits(cumulative[:, FINITE], count)
        return best_split(statistic, lo + 1)

    def _summary(self, history: PaneHistory, h: int) -> dict[str, Any]:
        assert self.reference is not None
        window = history.sums(np.array([h]), self.panes.capacity)
        n = window[:, FINITE]
        d, variance, _ = mean_test(n, window[:, SUM_Z], window[:, SUM_Z2], np.ones(1))
        live = np.add.reduceat(window[:, NUMERIC_COLUMNS:], self.reference.drift_starts, axis=1)
        psi, _, _ = distribution_test(self._ref_drift, self._ref_worth, live, np.ones(1))
        bins = window[0, NUMERIC_COLUMNS:]
        finite = max(float(n[0]), 1.0)
        records = max(float(window[0, RECORDS]), 1.0)
        return {
            "reference": {
                "mean": self.mean,
                "std": self.std,
                "min": self.reference.ref_min,
                "max": self.reference.ref_max,
                "null_rate": self.null_rate,
            },
            "live": {
                "records": int(window[0, RECORDS]),
                "mean": self.mean + float(d[0]) * self.std,
                "std": math.sqrt(float(variance[0])) * self.std,
                "mean_shift_sigma": float(d[0]),
                "std_ratio": math.sqrt(float(variance[0])),
                "psi": float(psi[0]),
                "null_rate": float(window[0, MISSING]) / records,
                "out_of_range_rate": float(bins[0] + bins[-1]) / finite,
            },
        }

    # -- state -----------------------------------------------------------------------------

    def latest_summary(self) -> dict[str, Any]:
        """The live-vs-reference summary of the latest kept pane's window (empty before one)."""
        return self.panes.latest(self._summary) if self.reference is not None else {}

    def latest_bin_counts(self) -> list[int]:
        """Live counts of the latest kept pane's window in the reference's full bins
        (underflow, quantile bins, overflow), for the HTML report; empty before one."""
        if self.reference is None:
            return []

        def counts(history: PaneHistory, h: int) -> dict[str, Any]:
            window = history.sums(np.array([h]), self.panes.capacity)[0, NUMERIC_COLUMNS:]
            return {"counts": [int(c) for c in window.tolist()]}

        return list(self.panes.latest(counts).get("counts", []))

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state (settings excluded)."""
        reference = self.reference
        return {
            **self.panes.snapshot(),
            "reference": None
            if reference is None
            else {
                "edges": reference.edges.tolist(),
                "counts": reference.counts.tolist(),
                "min": reference.ref_min,
                "max": reference.ref_max,
                "mean": self.mean,
                "std": self.std,
                "null_rate": self.null_rate,
                "rank_error": self.rank_error,
            },
            "learning": None
            if reference is not None
            else {
                "values": self._buffer[: self._n_buffered].tolist(),
                "records": self._learn_records,
                "missing": self._learn_missing,
                "null_rate": self._fixed_null_rate,
            },
            "clip": self.clip,
        }

    @classmethod
    def restore(cls, state: dict[str, Any], settings: IncidentSettings) -> NumericEvidence:
        """Inverse of ``snapshot``; the pane size and window are the snapshot's."""
        settings = PaneStream.settings_of(state, settings)
        ref = state["reference"]
        if ref is None:
            learning = state["learning"]
            evidence = cls(settings, null_rate=learning["null_rate"], clip=state["clip"])
            values = np.array(learning["values"], dtype=np.float64)
            evidence._buffer[: values.size] = values
            evidence._n_buffered = int(values.size)
            evidence._learn_records = int(learning["records"])
            evidence._learn_missing = int(learning["missing"])
        else:
            evidence = cls(
                settings,
                HistogramReference.from_profile(
                    ref["edges"], ref["counts"], ref["min"], ref["max"]
                ),
                ref["mean"],
                ref["std"],
                ref["null_rate"],
                ref["rank_error"],
                state["clip"],
            )
        evidence.panes.restore(state)
        return evidence
