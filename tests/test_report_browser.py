"""The demo's HTML report, looked at in headless Chromium: it loads with no console message,
its script runs, the planted drifts come first and their charts hold both distributions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from driftwarden.stream.demo.report import write_demo_report
from driftwarden.stream.demo.runner import DemoOptions
from tests.browser import BrowserView, Element, chromium, look_at, parse_dom

# What the demo's scenario plants (stream/demo/scenario.py), by feature.
VALUE_DRIFTS = {"income", "debt_ratio", "credit_score", "age", "purpose"}
PLANTED = VALUE_DRIFTS | {"channel", "referral_code"}
BURST = {"amount", "employment"}  # type changes from the malformed burst
UNTOUCHED = {"state", "term_months"}


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BrowserView, Element]:
    if chromium() is None:
        pytest.fail("no chromium on PATH: `make test` installs it (apt-get install chromium)")
    folder = tmp_path_factory.mktemp("report")
    page = write_demo_report(DemoOptions(), folder / "demo-report.html")
    view = look_at(page, folder / "demo-report.png")
    return page, view, parse_dom(view.dom)


def _panels(dom: Element) -> list[Element]:
    return [e for e in dom.walk() if e.tag == "article" and "feature" in e.attrs.get("class", "")]


def _drawn(group: Element | None) -> bool:
    """A chart series with at least one path of several segments."""
    if group is None:
        return False
    return any(
        len(re.findall(r"[LlHhVvCc]", path.attrs.get("d", ""))) >= 3
        for path in group.find_all("path")
    )


def test_demo_report_loads_with_no_console_message_and_its_script_runs(
    demo_page: tuple[Path, BrowserView, Element],
) -> None:
    _, view, dom = demo_page
    assert view.console == []
    body = dom.find_all("body")[0]
    assert body.attrs.get("data-ready") == "1", "the page's script did not run to its end"
    assert body.attrs.get("data-panels") == str(len(_panels(dom)))
    assert view.screenshot.stat().st_size > 50_000  # a page was painted, not a blank one


def test_demo_report_fetches_nothing_when_viewed(
    demo_page: tuple[Path, BrowserView, Element],
) -> None:
    page, _, dom = demo_page
    for element in dom.walk():
        for name in ("src", "href", "xlink:href"):
            value = element.attrs.get(name, "")
            assert not re.match(r"(https?:)?//", value), (element.tag, name, value)
    assert "@import" not in page.read_text(encoding="utf-8")


def test_demo_report_puts_the_planted_drifts_first_with_both_distributions_drawn(
    demo_page: tuple[Path, BrowserView, Element],
) -> None:
    _, _, dom = demo_page
    panels = _panels(dom)
    order = [panel.attrs["data-feature"] for panel in panels]
    assert order[0] in PLANTED, order
    assert panels[0].attrs["data-severity"] == "critical"
    assert set(order) == PLANTED | BURST | UNTOUCHED
    last_planted = max(order.index(name) for name in VALUE_DRIFTS)
    assert last_planted < min(order.index(name) for name in UNTOUCHED), order
    for panel in panels:
        name, key = panel.attrs["data-feature"], panel.attrs["id"]
        if name in VALUE_DRIFTS:
            assert _drawn(panel.by_id(f"{key}-reference")), f"{name}: no training series"
            assert _drawn(panel.by_id(f"{key}-live")), f"{name}: no live series"
            assert _drawn(panel.by_id(f"{key}-psi")), f"{name}: no timeline"
            assert panel.find_all("ul", **{"class": "incidents"}), f"{name}: no incident listed"


def test_demo_report_tells_how_and_when_each_planted_drift_happened(
    demo_page: tuple[Path, BrowserView, Element],
) -> None:
    _, _, dom = demo_page
    stories = {
        panel.attrs["data-feature"]: panel.all_text()
        for panel in _panels(dom)
        if panel.attrs["data-feature"] in PLANTED
    }
    assert "mean_shift" in stories["income"] and "began near record 8," in stories["income"]
    assert "crypto (new)" in stories["purpose"]
    assert "out_of_range" in stories["age"]
    assert "missing_field" in stories["channel"]
    assert "Not in the training profile" in stories["referral_code"]
    rows = {
        row.attrs["data-feature"]: row.all_text()
        for row in dom.find_all("tr")
        if "data-feature" in row.attrs
    }
    assert set(rows) == PLANTED | BURST | UNTOUCHED
    assert all("no incident" in rows[name] for name in UNTOUCHED)
    assert all("drift" in rows[name] for name in VALUE_DRIFTS)


def test_browser_check_reports_a_page_whose_script_fails(tmp_path: Path) -> None:
    if chromium() is None:
        pytest.fail("no chromium on PATH: `make test` installs it (apt-get install chromium)")
    page = tmp_path / "broken.html"
    page.write_text(
        '<!doctype html><body data-ready="0"><p>x</p><script>'
        'document.body.dataset.half = "1"; no_such_function(); '
        'document.body.dataset.ready = "1";</script></body>',
        encoding="utf-8",
    )
    view = look_at(page, tmp_path / "broken.png", 400, 300)
    body = parse_dom(view.dom).find_all("body")[0]
    assert body.attrs.get("data-half") == "1" and body.attrs.get("data-ready") == "0"
    assert any("no_such_function" in message for message in view.console), view.console
