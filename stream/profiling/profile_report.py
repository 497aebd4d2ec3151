"""What a profile says, feature by feature, and where the training data is too thin.

``profile_warnings`` lists the "not enough data" findings of a profile:

- ``all_null``: the feature never has a value;
- ``few_samples``: fewer than ``min_samples`` non-null values;
- ``sparse_bins``: quantile bins holding fewer than ``min_bin_count`` values;
- ``rare_categories``: listed categories seen fewer than ``min_category_count`` times;
- ``constant``: a single value (a numeric min equal to its max, or one category);
- ``identifier_like``: almost one distinct value per row (share of distinct values at least
  ``identifier_ratio``, with at least ``min_samples`` values): a row id, an e-mail, a
  timestamp. Categorical features use the profile's distinct estimate; numeric ones need
  the distinct count of the ``.sketches`` sidecar and are only judged when every value is
  an integer (a continuous measurement is naturally unique per row).

``render_profile`` prints the per-feature table and the warnings with ``rich`` (plain text
when the output is not a terminal); ``profile_report_json`` is the same as a JSON document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from driftwarden.detectors.profile import FeatureProfile, Profile

__all__ = [
    "ProfileWarning",
    "WarningThresholds",
    "feature_rows",
    "identifier_ratio",
    "profile_report_json",
    "profile_warnings",
    "render_profile",
]


@dataclass(frozen=True, slots=True)
class WarningThresholds:
    """Thresholds of the "not enough data" warnings (see the module docstring).

    >>> WarningThresholds(min_samples=30).min_bin_count
    10
    """

    min_samples: int = 100
    min_bin_count: int = 10
    min_category_count: int = 10
    identifier_ratio: float = 0.95


@dataclass(frozen=True, slots=True)
class ProfileWarning:
    """One finding: the feature, a stable ``code`` and a sentence for people.

    >>> ProfileWarning("x", "all_null", "no values: the feature is always null").code
    'all_null'
    """

    feature: str
    code: str
    message: str


def _g(value: float) -> str:
    return f"{value:.6g}"


def identifier_ratio(feature: FeatureProfile, distinct: float | None = None) -> float | None:
    """Share of distinct values among the non-null values (None when it cannot be told).

    ``distinct`` overrides the profile's own estimate (numeric features have none).

    >>> from driftwarden.detectors.profile import CategoricalSummary
    >>> f = FeatureProfile(kind="categorical", count=200, null_count=0,
    ...                    categorical=CategoricalSummary(top={}, other_count=200,
    ...                                                   complete=False, distinct_estimate=196.0))
    >>> identifier_ratio(f)
    0.98
    """
    non_null = feature.count - feature.null_count
    if distinct is None and feature.categorical is not None:
        distinct = feature.categorical.distinct_estimate
    if non_null <= 0 or distinct is None:
        return None
    return min(1.0, distinct / non_null)


def profile_warnings(
    profile: Profile,
    thresholds: WarningThresholds | None = None,
    distinct: Mapping[str, float | None] | None = None,
) -> list[ProfileWarning]:
    """The "not enough data" warnings of ``profile``, feature by feature.

    ``distinct`` maps features to distinct-value counts (from the ``.sketches`` sidecar).

    >>> from driftwarden.detectors.profile import NumericSummary
    >>> p = Profile(n_rows=50, features={"x": FeatureProfile(
    ...     kind="numeric", count=50, null_count=0, numeric=NumericSummary(
    ...         mean=1.0, std=0.0, min=1.0, max=1.0, bin_edges=[], bin_counts=[0, 50, 0]))})
    >>> [w.code for w in profile_warnings(p)]
    ['few_samples', 'constant']
    """
    limits = thresholds or WarningThresholds()
    found: list[ProfileWarning] = []
    for name, feature in profile.features.items():
        found.extend(_feature_warnings(name, feature, limits, (distinct or {}).get(name)))
    return found


def _feature_warnings(
    name: str, feature: FeatureProfile, limits: WarningThresholds, distinct: float | None
) -> list[ProfileWarning]:
    non_null = feature.count - feature.null_count
    if non_null == 0:
        return [ProfileWarning(name, "all_null", "no values: the feature is always null")]
    found = []
    if non_null < limits.min_samples:
        found.append(
            ProfileWarning(
                name, "few_samples", f"only {non_null} non-null values (< {limits.min_samples})"
            )
        )
    numeric, categorical = feature.numeric, feature.categorical
    ratio = identifier_ratio(feature, distinct)
    identifier = (
        ratio is not None and non_null >= limits.min_samples and ratio >= limits.identifier_ratio
    )
    if numeric is not None:
        inner = numeric.bin_counts[1:-1]
        sparse = sum(1 for n in inner if n < limits.min_bin_count)
        if sparse:
            found.append(
                ProfileWarning(
                    name,
                    "sparse_bins",
                    f"{sparse} of {len(inner)} bins hold fewer than {limits.min_bin_count} "
                    f"values: drift and support checks there rest on little data",
                )
            )
        if numeric.min == numeric.max:
            found.append(ProfileWarning(name, "constant", f"constant: always {_g(numeric.min)}"))
    if categorical is not None:
        rare = [label for label, n in categorical.top.items() if n < limits.min_category_count]
        if rare and not identifier:  # an identifier's values are all rare: one warning says it
            shown = ", ".join(repr(label) for label in rare[:3])
            found.append(
                ProfileWarning(
                    name,
                    "rare_categories",
                    f"{len(rare)} categories seen fewer than {limits.min_category_count} "
                    f"times (e.g. {shown})",
                )
            )
        if len(categorical.top) == 1 and categorical.other_count == 0:
            only = next(iter(categorical.top))
            found.append(ProfileWarning(name, "constant", f"constant: always {only!r}"))
    if identifier:
        found.append(
            ProfileWarning(
                name,
                "identifier_like",
                f"looks like an identifier: {ratio or 0.0:.1%} of its values are distinct "
                f"(--ignore it, or --key it in check-leakage)",
            )
        )
    return found


def feature_rows(profile: Profile) -> list[dict[str, Any]]:
    """One dict per feature: name, kind, count, nulls, centre/spread or top categories, range.

    >>> from driftwarden.detectors.profile import CategoricalSummary
    >>> p = Profile(n_rows=4, features={"c": FeatureProfile(
    ...     kind="categorical", count=4, null_count=1,
    ...     categorical=CategoricalSummary(top={"FR": 2, "DE": 1}, distinct_estimate=2.0))})
    >>> feature_rows(p)
    [{'feature': 'c', 'kind': 'categorical', 'count': 4, 'null_count': 1, 'null_rate': 0.25, \
'top': {'FR': 2, 'DE': 1}, 'distinct': 2.0, 'complete': True}]
    """
    rows = []
    for name, feature in profile.features.items():
        row: dict[str, Any] = {
            "feature": name,
            "kind": feature.kind,
            "count": feature.count,
            "null_count": feature.null_count,
            "null_rate": feature.null_rate,
        }
        if feature.numeric is not None:
            summary = feature.numeric
            row.update(mean=summary.mean, std=summary.std, min=summary.min, max=summary.max)
        if feature.categorical is not None:
            cats = feature.categorical
            row.update(
                top=dict(list(cats.top.items())[:5]),
                distinct=cats.distinct_estimate,
                complete=cats.complete,
            )
        rows.append(row)
    return rows


def profile_report_json(profile: Profile, warnings: list[ProfileWarning]) -> dict[str, Any]:
    """The ``profile show --json`` document.

    >>> report = profile_report_json(Profile(n_rows=0, features={}), [])
    >>> report["n_rows"], report["features"], report["warnings"]
    (0, [], [])
    """
    return {
        "format_version": profile.format_version,
        "n_rows": profile.n_rows,
        "source": profile.source,
        "features": feature_rows(profile),
        "warnings": [asdict(warning) for warning in warnings],
    }


def _summary_cells(row: dict[str, Any]) -> tuple[str, str]:
    if "mean" in row:
        return f"{_g(row['mean'])} ± {_g(row['std'])}", f"{_g(row['min'])} … {_g(row['max'])}"
    if "top" in row:
        non_null = max(row["count"] - row["null_count"], 1)
        top = ", ".join(f"{label} {n / non_null:.0%}" for label, n in list(row["top"].items())[:3])
        distinct = row["distinct"]
        shown = "?" if distinct is None else f"{distinct:,.0f}"
        return top, f"{shown} distinct" + ("" if row["complete"] else " (top listed)")
    return "—", "—"


def render_profile(
    profile: Profile, warnings: list[ProfileWarning], console: Console | None = None
) -> None:
    """Print the per-feature table and the warnings (on ``console``, else stdout).

    >>> from driftwarden.detectors.profile import NumericSummary
    >>> p = Profile(n_rows=3, features={"x": FeatureProfile(
    ...     kind="numeric", count=3, null_count=0, numeric=NumericSummary(
    ...         mean=2.0, std=1.0, min=1.0, max=3.0, bin_edges=[], bin_counts=[0, 3, 0]))})
    >>> import io
    >>> console = Console(width=100, record=True, file=io.StringIO())
    >>> render_profile(p, profile_warnings(p), console)
    >>> text = console.export_text()
    >>> "2 ± 1" in text, "1 … 3" in text, "x: few_samples: only 3 non-null values" in text
    (True, True, True)
    """
    out = console or Console()
    source = ", ".join(profile.source) or "unknown source"
    table = Table(
        title=escape(f"{profile.n_rows:,} rows, {len(profile.features)} features ({source})")
    )
    for column, justify in (
        ("feature", "left"),
        ("kind", "left"),
        ("count", "right"),
        ("nulls", "right"),
        ("mean ± std / top categories", "left"),
        ("range / distinct", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    flagged = {warning.feature for warning in warnings}
    for row in feature_rows(profile):
        centre, spread = _summary_cells(row)
        name = escape(row["feature"])
        if row["feature"] in flagged:
            name = f"[yellow]{name}[/yellow]"
        nulls = f"{row['null_count']:,} ({row['null_rate']:.1%})"
        table.add_row(name, row["kind"], f"{row['count']:,}", nulls, escape(centre), escape(spread))
    out.print(table)
    if not warnings:
        out.print("No warnings.")
        return
    out.print(f"[bold]{len(warnings)} warning(s):[/bold]")
    for warning in warnings:
        out.print(
            f"  {escape(warning.feature)}: [yellow]{warning.code}[/yellow]: "
            f"{escape(warning.message)}"
        )
