"""The compiled fast path of the pane evidence: for every new pane and every window span, the
same tests as ``window_tests`` (there in numpy, for the details of a firing pane), reduced to
what the incident state machine needs: per pane and kind, whether it fires, in which span its
effect is largest in floors, that strength, and whether the longest window is clean.

Kinds are columns of the outputs, in the order of ``NUMERIC_KINDS`` / ``CATEGORICAL_KINDS``.
A span is tested at the panes whose number (counted from the feature's first pane) is a
multiple of its stride (``findings.strides``: every pane for short spans, every tenth for a
window of 50 panes, which moves little from one pane to the next); the longest span is also
computed at every pane for ``clean`` when asked. A chi-square test passes when the statistic
divided by the VIF exceeds the critical value of ``p_value_threshold`` (computed once by the
caller): the same decision as its p-value.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from driftwarden.detectors.findings import FindingKind
from driftwarden.detectors.pane_kernels import (
    C_MISS_PAIRS,
    C_MISSING,
    C_PAIRS,
    C_RECORDS,
    C_SAME,
    C_VALUES,
    CATEGORICAL_COLUMNS,
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
)
from driftwarden.detectors.window_kernels import (
    column_sum,
    distribution_counts,
    indicator_rho,
    inflation,
    lag1,
    note_firing,
    prefix_sums,
    psi_of,
    rate_passes,
)

__all__ = ["CATEGORICAL_KINDS", "NUMERIC_KINDS", "Judged", "judge_categorical", "judge_numeric"]

Judged = tuple[
    npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_]
]
"""What a judge returns: (fire, span index, strength, clean), one row per new pane."""

NUMERIC_KINDS = (
    FindingKind.MEAN_SHIFT,
    FindingKind.DISTRIBUTION_SHIFT,
    FindingKind.OUT_OF_RANGE,
    FindingKind.SPARSE_SUPPORT,
    FindingKind.NULL_RATE,
)
CATEGORICAL_KINDS = (FindingKind.DISTRIBUTION_SHIFT, FindingKind.NULL_RATE)
# The dependence is measured over the longest window ending at every fifth pane (counted from
# the feature's first) and used for the four panes after it: it moves slowly.
_RHO_EVERY = 5


@numba.njit(cache=True)
def judge_numeric(
    rows: npt.NDArray[np.float64],
    first_new: int,
    first_number: int,
    capacity: int,
    spans: npt.NDArray[np.int64],
    strides: npt.NDArray[np.int64],
    drift_bins: npt.NDArray[np.intp],
    drift_group: npt.NDArray[np.intp],
    ref_share: npt.NDArray[np.float64],
    inverse_share: npt.NDArray[np.float64],
    worth: float,
    sparse_bins: npt.NDArray[np.intp],
    reference_rates: npt.NDArray[np.float64],
    floors: npt.NDArray[np.float64],
    z_threshold: float,
    chi2_critical: float,
    resolve_fraction: float,
    margin: float,
    pane: int,
    min_distribution: float,
    min_effective: float,
    min_rates: float,
    min_panes: int,
    with_clean: bool,
) -> tuple[
    npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_]
]:
    """Verdicts of the new panes of a numeric history: ``(fire, span index, strength, clean)``
    with one row per new pane and one column per kind of ``NUMERIC_KINDS``. ``rows`` are the
    history's pane rows.

    ``reference_rates``: out-of-range, sparse and null shares of the reference; ``floors``:
    mean shift, PSI excess, out-of-range, sparse, null rate. Without ``with_clean`` the
    distribution's ``clean`` column is left False (its PSI costs a logarithm per bin, and
    only an open finding needs it). An effect must clear its floor by ``margin`` standard
    errors: the floors are about the change, not about one noisy window's estimate of it.
    Nothing is judged before the ``min_panes``-th pane, and a
    distribution only in windows of ``min_distribution`` values worth ``min_effective``
    independent ones: the chi-square's tail is only as good as its effective counts.
    """
    cumulative = prefix_sums(rows)
    n_panes = rows.shape[0]
    n_new = n_panes - first_new
    n_kinds = 5
    fire = np.zeros((n_new, n_kinds), dtype=np.bool_)
    scale = np.zeros((n_new, n_kinds), dtype=np.int64)
    strength = np.zeros((n_new, n_kinds), dtype=np.float64)
    clean = np.zeros((n_new, n_kinds), dtype=np.bool_)
    n_groups = ref_share.size
    live = np.zeros(n_groups, dtype=np.float64)
    dof = n_groups - 1
    last_bin = NUMERIC_COLUMNS + int(drift_bins.max()) if drift_bins.size else NUMERIC_COLUMNS
    ref_out, ref_sparse, ref_null = reference_rates[0], reference_rates[1], reference_rates[2]
    rho_anchor, rho, rho_missing = -1, 0.0, 0.0
    for j in range(n_new):
        if first_number + j + 1 < min_panes:
            continue  # too few panes yet for a stable estimate of the dependence
        end = first_new + j + 1
        anchor = end - (first_number + j) % _RHO_EVERY
        if anchor < 1:
            anchor = end
        if anchor != rho_anchor:
            rho_anchor = anchor
            low = max(anchor - capacity, 0)
            n = cumulative[anchor, FINITE] - cumulative[low, FINITE]
            rho = max(
                lag1(
                    n,
                    column_sum(rows, low, anchor, SUM_Z),
                    column_sum(rows, low, anchor, SUM_Z2),
                    cumulative[anchor, PAIRS] - cumulative[low, PAIRS],
                    column_sum(rows, low, anchor, CROSS_Z),
                ),
                lag1(
                    n,
                    cumulative[anchor, SUM_B] - cumulative[low, SUM_B],
                    cumulative[anchor, SUM_B2] - cumulative[low, SUM_B2],
                    cumulative[anchor, PAIRS] - cumulative[low, PAIRS],
                    cumulative[anchor, CROSS_B] - cumulative[low, CROSS_B],
                ),
            )
            rho_missing = indicator_rho(
                cumulative[anchor, RECORDS] - cumulative[low, RECORDS],
                cumulative[anchor, MISSING] - cumulative[low, MISSING],
                cumulative[anchor, MISS_PAIRS] - cumulative[low, MISS_PAIRS],
            )
        for s in range(spans.size):
            last = s == spans.size - 1
            due = (first_number + j) % strides[s] == 0
            if not (due or (last and with_clean)):
                continue
            # Each test looks at its effect first, and only where that reaches the floor
            # (or cleanliness is asked) at its evidence: most windows stop at the effect.
            start = max(end - spans[s], 0)
            n = cumulative[end, FINITE] - cumulative[start, FINITE]
            records = cumulative[end, RECORDS] - cumulative[start, RECORDS]
            vif = inflation(rho, n)
            # mean shift
            d = column_sum(rows, start, end, SUM_Z) / n if n > 0.0 else 0.0
            if last:
                clean[j, 0] = abs(d) <= resolve_fraction * floors[0]
            if due and n >= pane / 2 and abs(d) >= floors[0]:
                variance = column_sum(rows, start, end, SUM_Z2) / n - d * d
                error = math.sqrt(max(variance, 1.0) * vif / n)
                passes = abs(d) >= z_threshold * error and abs(d) - margin * error >= floors[0]
                note_firing(fire, scale, strength, j, 0, s, passes, abs(d), floors[0])
            # distribution: its PSI only where the chi-square passes or cleanliness is asked
            tested = due and n >= min_distribution and n / vif >= min_effective
            if tested or (last and with_clean):
                counted, chi2 = distribution_counts(
                    cumulative,
                    end,
                    start,
                    NUMERIC_COLUMNS,
                    drift_bins,
                    drift_group,
                    n_groups,
                    ref_share,
                    inverse_share,
                    worth,
                    live,
                )
                passes = tested and chi2 / vif > chi2_critical
                if passes or (last and with_clean):
                    psi = psi_of(live, counted, ref_share)
                    excess = psi - dof * (vif / max(counted, 1.0) + 1.0 / worth)
                    spread = math.sqrt(2.0 * dof) * vif / max(counted, 1.0)
                    passes = passes and excess - margin * spread >= floors[1]
                    note_firing(fire, scale, strength, j, 1, s, passes, excess, floors[1])
                    if last:
                        clean[j, 1] = excess <= resolve_fraction * floors[1]
            if records < min_rates and not last:
                continue
            rated = due and n >= min_rates
            size = max(n, 1.0)
            # out of range and sparse support
            outside = (cumulative[end, NUMERIC_COLUMNS] - cumulative[start, NUMERIC_COLUMNS]) + (
                cumulative[end, last_bin] - cumulative[start, last_bin]
            )
            change = outside / size - ref_out
            if last:
                clean[j, 2] = change <= resolve_fraction * floors[2]
            if rated and change >= floors[2]:
                passes = rate_passes(outside, n, ref_out, vif, z_threshold, margin, floors[2])
                note_firing(fire, scale, strength, j, 2, s, passes, change, floors[2])
            sparse = 0.0
            for b in sparse_bins:
                sparse += (
                    cumulative[end, NUMERIC_COLUMNS + b] - cumulative[start, NUMERIC_COLUMNS + b]
                )
            change = sparse / size - ref_sparse
            if last:
                clean[j, 3] = change <= resolve_fraction * floors[3]
            if rated and change >= floors[3]:
                passes = rate_passes(sparse, n, ref_sparse, vif, z_threshold, margin, floors[3])
                note_firing(fire, scale, strength, j, 3, s, passes, change, floors[3])
            # null rate
            missing = cumulative[end, MISSING] - cumulative[start, MISSING]
            change = abs(missing / max(records, 1.0) - ref_null)
            if last:
                clean[j, 4] = change <= resolve_fraction * floors[4]
            if due and records >= min_rates and change >= floors[4]:
                passes = rate_passes(
                    missing,
                    records,
                    ref_null,
                    inflation(rho_missing, records),
                    z_threshold,
                    margin,
                    floors[4],
                )
                note_firing(fire, scale, strength, j, 4, s, passes, change, floors[4])
    return fire, scale, strength, clean


@numba.njit(cache=True)
def judge_categorical(
    rows: npt.NDArray[np.float64],
    first_new: int,
    first_number: int,
    capacity: int,
    spans: npt.NDArray[np.int64],
    strides: npt.NDArray[np.int64],
    informative: npt.NDArray[np.intp],
    ref_share: npt.NDArray[np.float64],
    inverse_share: npt.NDArray[np.float64],
    worth: float,
    ref_null: float,
    ref_outside: float,
    floors: npt.NDArray[np.float64],
    z_threshold: float,
    chi2_critical: float,
    resolve_fraction: float,
    margin: float,
    min_distribution: float,
    min_effective: float,
    min_rates: float,
    min_panes: int,
    with_clean: bool,
) -> tuple[
    npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_]
]:
    """As ``judge_numeric`` for a categorical history, kinds ``CATEGORICAL_KINDS``; ``floors``:
    PSI excess, null rate, novel share. A third ``clean`` column says whether the share of
    values outside the reference, beyond ``ref_outside``, is under the resolve threshold."""
    cumulative = prefix_sums(rows)
    n_panes = rows.shape[0]
    n_new = n_panes - first_new
    fire = np.zeros((n_new, 2), dtype=np.bool_)
    scale = np.zeros((n_new, 2), dtype=np.int64)
    strength = np.zeros((n_new, 2), dtype=np.float64)
    clean = np.zeros((n_new, 3), dtype=np.bool_)
    last_column = cumulative.shape[1] - 1
    rho_anchor, rho, rho_missing = -1, 0.0, 0.0
    n_groups = ref_share.size
    groups = np.arange(n_groups)
    live = np.zeros(n_groups, dtype=np.float64)
    dof = n_groups - 1
    for j in range(n_new):
        if first_number + j + 1 < min_panes:
            continue  # too few panes yet for a stable estimate of the dependence
        end = first_new + j + 1
        low = max(end - capacity, 0)
        values = max(cumulative[end, C_VALUES] - cumulative[low, C_VALUES], 1.0)
        outside = (cumulative[end, last_column] - cumulative[low, last_column]) / values
        clean[j, 2] = outside - ref_outside <= resolve_fraction * floors[2]
        anchor = end - (first_number + j) % _RHO_EVERY
        if anchor < 1:
            anchor = end
        if anchor != rho_anchor:
            rho_anchor = anchor
            low = max(anchor - capacity, 0)
            values = max(cumulative[anchor, C_VALUES] - cumulative[low, C_VALUES], 1.0)
            collision = 0.0
            for c in range(CATEGORICAL_COLUMNS, cumulative.shape[1]):
                share = (cumulative[anchor, c] - cumulative[low, c]) / values
                collision += share * share
            pairs = cumulative[anchor, C_PAIRS] - cumulative[low, C_PAIRS]
            rho = 0.0
            if pairs > 0.0 and collision < 1.0:
                same = (cumulative[anchor, C_SAME] - cumulative[low, C_SAME]) / pairs
                rho = min(max((same - collision) / (1.0 - collision), -1.0), 1.0)
            rho_missing = indicator_rho(
                cumulative[anchor, C_RECORDS] - cumulative[low, C_RECORDS],
                cumulative[anchor, C_MISSING] - cumulative[low, C_MISSING],
                cumulative[anchor, C_MISS_PAIRS] - cumulative[low, C_MISS_PAIRS],
            )
        for s in range(spans.size):
            last = s == spans.size - 1
            due = (first_number + j) % strides[s] == 0
            if not (due or (last and with_clean)):
                continue
            start = max(end - spans[s], 0)
            n = cumulative[end, C_VALUES] - cumulative[start, C_VALUES]
            records = cumulative[end, C_RECORDS] - cumulative[start, C_RECORDS]
            vif = inflation(rho, n)
            tested = due and n >= min_distribution and n / vif >= min_effective
            if tested or (last and with_clean):
                counted, chi2 = distribution_counts(
                    cumulative,
                    end,
                    start,
                    CATEGORICAL_COLUMNS,
                    informative,
                    groups,
                    n_groups,
                    ref_share,
                    inverse_share,
                    worth,
                    live,
                )
                passes = tested and chi2 / vif > chi2_critical
                if passes or (last and with_clean):
                    psi = psi_of(live, counted, ref_share)
                    excess = psi - dof * (vif / max(counted, 1.0) + 1.0 / worth)
                    spread = math.sqrt(2.0 * dof) * vif / max(counted, 1.0)
                    passes = passes and excess - margin * spread >= floors[0]
                    note_firing(fire, scale, strength, j, 0, s, passes, excess, floors[0])
                    if last:
                        clean[j, 0] = excess <= resolve_fraction * floors[0]
            if records < min_rates and not last:
                continue
            missing = cumulative[end, C_MISSING] - cumulative[start, C_MISSING]
            change = abs(missing / max(records, 1.0) - ref_null)
            if last:
                clean[j, 1] = change <= resolve_fraction * floors[1]
            if due and records >= min_rates and change >= floors[1]:
                passes = rate_passes(
                    missing,
                    records,
                    ref_null,
                    inflation(rho_missing, records),
                    z_threshold,
                    margin,
                    floors[1],
                )
                note_firing(fire, scale, strength, j, 1, s, passes, change, floors[1])
    return fire, scale, strength, clean
