"""CategoricalEvidence: pane-by-pane judgement of a categorical feature against its reference,
the categorical counterpart of ``NumericEvidence`` (read that module first).

Values are coded by the reference's categories (sorted), with one code for every value
outside them; panes count each code. At each pane's end the trailing windows are tested for:

- ``distribution_shift``: PSI and the two-sample chi-square of the window's category counts
  against the reference's (its categories plus the training values outside them), the
  chi-square divided by the VIF; effect: the PSI in excess of sampling noise. Windows hold at
  least 10 values per category and 500 in all.
- ``null_rate``: share of missing records against the reference's.
- ``novel_category``: never fires here (``CategoricalDrift`` reports novel values by name);
  it is *clean* when the share of values outside the reference, beyond training's own, is
  under ``resolve_fraction`` × ``novel_share_floor``.

The VIF comes from a stay-or-redraw chain (``dependence.sameness_autocorrelation``): how much
more often a value repeats the previous one than independent draws would. Without a profile
the first ``window_panes × pane_records`` values form the reference (at most 256 categories,
the rest counted outside).

Memory bound: the ``PaneRing`` (``window_panes`` rows of 6 + categories + 1 floats), the
reference's categories, and while learning the counts of at most ``window_panes ×
pane_records`` values.
"""

from __future__ import annotations

from collections import Counter
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from driftwarden.detectors.dependence import (
    indicator_autocorrelation,
    sameness_autocorrelation,
    variance_inflation,
)
from driftwarden.detectors.feature_batch import SourcePositions
from driftwarden.detectors.findings import (
    FindingDetail,
    FindingKind,
    KindVerdicts,
    PaneVerdicts,
    best_split,
)
from driftwarden.detectors.pane_judgement import CATEGORICAL_KINDS, judge_categorical
from driftwarden.detectors.pane_kernels import (
    C_MISS_PAIRS,
    C_MISSING,
    C_PAIRS,
    C_RECORDS,
    C_SAME,
    C_VALUES,
    CATEGORICAL_COLUMNS,
    fill_categorical_panes,
)
from driftwarden.detectors.pane_ring import PaneHistory
from driftwarden.detectors.pane_stream import PaneStream
from driftwarden.detectors.settings import IncidentSettings
from driftwarden.detectors.window_tests import (
    distribution_splits,
    distribution_test,
    rate_splits,
    rate_test,
)

__all__ = ["CategoricalEvidence"]

_MAX_LEARNED = 256
_MIN_VALUES = 500.0
_MIN_PER_CATEGORY = 10.0
# Runs of a repeated category (sessions) leave the chi-square divided by the VIF with a
# heavier tail than its nominal one while few independent values stand behind it: a count
# is a sum of geometric run lengths. Measured on chains of 12 categories repeating the
# previous value with probability 0.8: p < 1e-5 in 0.075 % of 500-value windows (55
# independent values), and a p < 1e-7 in a 2,000-value window (222) within 10 M records.
# With 25 per category such a feature is judged on windows of 5,000 values, where the
# PSI floor is far out in the noise's tail as well.
_MIN_EFFECTIVE_PER_CATEGORY = 25.0
_MIN_PANES = 10
_MIN_RATE_RECORDS = 1000.0
_TOP = 5
_Floats = npt.NDArray[np.float64]


class CategoricalEvidence:
    """See the module docstring. ``assess`` takes each batch's object column of the feature.

    >>> from driftwarden.detectors.feature_batch import SourcePositions
    >>> rng = np.random.default_rng(2)
    >>> labels = np.array(["a", "b", "c"], dtype=object)
    >>> evidence = CategoricalEvidence(IncidentSettings(), {"a": 500, "b": 300, "c": 200})
    >>> stream = np.concatenate([labels[rng.choice(3, 20_000, p=[.5, .3, .2])],
    ...                          labels[rng.choice(3, 2_000, p=[.2, .3, .5])]])
    >>> verdicts = evidence.assess(stream, 0, SourcePositions.sequential("f", stream.size), 0)
    >>> firing = verdicts.kinds[FindingKind.DISTRIBUTION_SHIFT].firing
    >>> int(verdicts.ends[int(np.argmax(firing))])  # the mix changes at 20,000
    20499
    """

    def __init__(
        self,
        settings: IncidentSettings,
        reference: dict[str, int] | None = None,
        other_count: int = 0,
        null_rate: float | None = None,
    ) -> None:
        self.settings = settings
        self.panes = PaneStream(settings, CATEGORICAL_COLUMNS, carry=2)
        self.keys: list[str] = []
        self.ref_counts = np.zeros(0)
        self.null_rate = 0.0
        self._codes: dict[Any, int] = {}
        self._learning: Counter[str] | None = None
        self._learn_values = 0
        self._learn_records = 0
        self._learn_missing = 0
        self._fixed_null_rate = null_rate
        if reference:
            self._adopt(reference, other_count, null_rate or 0.0)
        else:
            self._learning = Counter()

    @property
    def ready(self) -> bool:
        """Whether the reference is known."""
        return self._learning is None

    def _adopt(self, reference: dict[str, int], other_count: int, null_rate: float) -> None:
        self.keys = sorted(reference)
        self.ref_counts = np.array(
            [reference[k] for k in self.keys] + [other_count], dtype=np.float64
        )
        self.null_rate = float(null_rate)
        self._codes = {key: code for code, key in enumerate(self.keys)}
        self._codes[None] = -1
        self._learning = None
        self.panes.resize(CATEGORICAL_COLUMNS + len(self.keys) + 1)
        self._ref_other = other_count / float(self.ref_counts.sum())
        informative = self.ref_counts > 0
        self._informative = np.flatnonzero(informative).astype(np.intp)

    def _learn(self, values: npt.NDArray[np.object_]) -> int:
        """Count values until the reference is complete; return where it stopped."""
        assert self._learning is not None
        needed = self.panes.pane * self.panes.capacity - self._learn_values
        present = np.flatnonzero(values != None)  # noqa: E711 (elementwise on an array)
        taken = present[:needed]
        self._learning.update(map(str, values[taken].tolist()))
        self._learn_values += taken.size
        stop = values.size if taken.size < needed else int(taken[-1]) + 1
        self._learn_records += stop
        self._learn_missing += stop - taken.size
        if taken.size < needed:
            return stop
        common = dict(self._learning.most_common(_MAX_LEARNED))
        other = self._learn_values - sum(common.values())
        null_rate = self._fixed_null_rate
        if null_rate is None:
            null_rate = self._learn_missing / max(self._learn_records, 1)
        self._adopt(common, other, null_rate)
        return stop

    def apply(self, settings: IncidentSettings) -> None:
        """New thresholds and floors from the next pane on (pane size and window are kept)."""
        self.settings = self.panes.apply(settings)

    def codes(self, values: npt.NDArray[np.object_]) -> npt.NDArray[np.int32] | None:
        """Each value's index in ``keys`` (``len(keys)`` outside them, -1 when missing), or
        None while the reference is being learned."""
        if self._learning is not None:
            return None
        items = values.tolist()
        return np.fromiter(
            map(self._codes.get, items, repeat(len(self.keys))), np.int32, len(items)
        )

    def assess(
        self,
        values: npt.NDArray[np.object_],
        base: int,
        positions: SourcePositions,
        offset: int,
        watching: bool = True,
        codes: npt.NDArray[np.int32] | None = None,
    ) -> PaneVerdicts | None:
        """Feed a batch's column; as ``NumericEvidence.assess``. ``codes``: ``codes(values)``
        when the caller has them already."""
        start = 0 if self._learning is None else self._learn(values)
        if self._learning is not None or start >= values.size:
            return None
        if codes is None or start:
            codes = self.codes(values[start:])
        coded = codes
        assert coded is not None
        pane = self.panes.pane

        def fill(
            n_before: int, row: npt.NDArray[np.float64], carry: npt.NDArray[np.float64]
        ) -> tuple[int, npt.NDArray[np.float64]]:
            return fill_categorical_panes(coded, pane, n_before, row, carry)

        closed = self.panes.close(fill, start, base, positions, offset)
        if closed is None:
            return None
        history, ends = closed
        return self._verdicts(history, ends, watching)

    def _verdicts(
        self, history: PaneHistory, ends: npt.NDArray[np.intp], watching: bool
    ) -> PaneVerdicts:
        verdicts, clean = self.panes.judge(
            judge_categorical,
            CATEGORICAL_KINDS,
            history,
            ends,
            watching,
            self._judge_arguments,
            self._describe,
            self._summary,
        )
        never = np.zeros(ends.size, dtype=np.bool_)
        verdicts.kinds[FindingKind.NOVEL_CATEGORY] = KindVerdicts(
            never, np.zeros(ends.size), clean[:, 2], _no_detail
        )
        return verdicts

    def _judge_arguments(self) -> tuple[Any, ...]:
        """The arguments of ``judge_categorical`` after the history's, for these settings."""
        s = self.settings
        reference = self.ref_counts[self._informative]
        worth = float(self.ref_counts.sum())
        return (
            self.panes.capacity,
            self.panes.spans,
            self.panes.strides,
            self._informative,
            reference / reference.sum(),
            reference.sum() / reference,
            worth,
            self.null_rate,
            self._ref_other,
            np.array([s.psi_floor, s.null_rate_floor, s.novel_share_floor]),
            s.z_threshold,
            self.panes.chi2_critical(self._informative.size - 1),
            s.resolve_fraction,
            s.effect_margin,
            max(_MIN_VALUES, _MIN_PER_CATEGORY * self._informative.size),
            _MIN_EFFECTIVE_PER_CATEGORY * self._informative.size,
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
        g = history.first_new + j
        longest = history.sums(np.array([g]), self.panes.capacity)
        window = history.sums(np.array([g]), self.panes.spans[int(span_index[j])])
        lo = history.oldest(g)
        cumulative = history.prefix(lo, g)
        records = window[:, C_RECORDS]
        if kind == FindingKind.NULL_RATE:
            rho = indicator_autocorrelation(
                longest[:, C_RECORDS], longest[:, C_MISSING], longest[:, C_MISS_PAIRS]
            )
            vif = variance_inflation(rho, records)
            rate, _, z = rate_test(window[:, C_MISSING], records, self.null_rate, vif)
            test = ("null_rate", "z", float(z[0]), s.z_threshold)
            effect = {"null_rate": float(rate[0]), "reference_null_rate": self.null_rate}
            split = rate_splits(cumulative[:, C_RECORDS], cumulative[:, C_MISSING])
        else:
            counts = longest[:, CATEGORICAL_COLUMNS:]
            shares = counts / np.maximum(longest[:, C_VALUES], 1.0)[:, None]
            rho = sameness_autocorrelation(
                longest[:, C_PAIRS], longest[:, C_SAME], (shares * shares).sum(axis=1)
            )
            n = window[:, C_VALUES]
            live = window[:, CATEGORICAL_COLUMNS:][:, self._informative]
            psi, excess, p_value = distribution_test(
                self.ref_counts[self._informative],
                float(self.ref_counts.sum()),
                live,
                variance_inflation(rho, n),
            )
            test = ("categorical", "p_value", float(p_value[0]), s.p_value_threshold)
            effect = {"psi": float(psi[0]), "psi_excess": float(excess[0])}
            split = distribution_splits(cumulative[:, CATEGORICAL_COLUMNS:])
        effect["window_records"] = float(records[0])
        return FindingDetail(*test, effect, best_split(split, lo + 1), float(strength[j]))

    def _summary(self, history: PaneHistory, h: int) -> dict[str, Any]:
        window = history.sums(np.array([h]), self.panes.capacity)[0]
        counts = window[CATEGORICAL_COLUMNS:]
        n = max(float(window[C_VALUES]), 1.0)
        ref_total = float(self.ref_counts.sum())
        names = [*self.keys, "(other)"]
        order = np.argsort(-counts, kind="stable")[:_TOP]
        psi, _, _ = distribution_test(
            self.ref_counts[self._informative],
            ref_total,
            counts[None, self._informative],
            np.ones(1),
        )
        return {
            "reference": {
                "top": [
                    [names[i], float(self.ref_counts[i]) / ref_total]
                    for i in np.argsort(-self.ref_counts, kind="stable")[:_TOP].tolist()
                ],
                "null_rate": self.null_rate,
            },
            "live": {
                "records": int(window[C_RECORDS]),
                "top": [
                    [names[i], float(counts[i]) / n, float(self.ref_counts[i]) / ref_total]
                    for i in order.tolist()
                ],
                "outside_share": float(counts[-1]) / n,
                "psi": float(psi[0]),
                "null_rate": float(window[C_MISSING]) / max(float(window[C_RECORDS]), 1.0),
            },
        }

    def latest_summary(self) -> dict[str, Any]:
        """The live-vs-reference summary of the latest kept pane's window (empty before one)."""
        return self.panes.latest(self._summary) if self._learning is None else {}

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state (settings excluded)."""
        return {
            **self.panes.snapshot(),
            "reference": None
            if self._learning is not None
            else {
                "keys": self.keys,
                "counts": self.ref_counts.tolist(),
                "null_rate": self.null_rate,
            },
            "learning": None
            if self._learning is None
            else {
                "counts": dict(sorted(self._learning.items())),
                "values": self._learn_values,
                "records": self._learn_records,
                "missing": self._learn_missing,
                "null_rate": self._fixed_null_rate,
            },
        }

    @classmethod
    def restore(cls, state: dict[str, Any], settings: IncidentSettings) -> CategoricalEvidence:
        """Inverse of ``snapshot``; the pane size and window are the snapshot's."""
        settings = PaneStream.settings_of(state, settings)
        ref = state["reference"]
        if ref is None:
            learning = state["learning"]
            evidence = cls(settings, None, null_rate=learning["null_rate"])
            evidence._learning = Counter(learning["counts"])
            evidence._learn_values = int(learning["values"])
            evidence._learn_records = int(learning["records"])
            evidence._learn_missing = int(learning["missing"])
        else:
            counts = ref["counts"]
            evidence = cls(
                settings,
                dict(zip(ref["keys"], counts[:-1], strict=True)),
                int(counts[-1]),
                ref["null_rate"],
            )
        evidence.panes.restore(state)
        return evidence


def _no_detail(j: int) -> FindingDetail:
    raise LookupError("novel categories are reported by CategoricalDrift, not by panes")
