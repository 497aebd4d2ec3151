"""Looking at a page as a person would: headless Chromium (Debian's ``chromium``) loads a
local HTML file, and we get the DOM after its scripts ran, every console message, and a
screenshot.

Chromium's ``--enable-logging=stderr`` prints each console message (``console.log``,
``console.error`` and uncaught exceptions alike) as an ``INFO:CONSOLE`` line without its
level, so ``console`` holds them all: the report's page writes none, and any is a failure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["BrowserView", "Element", "chromium", "look_at", "parse_dom"]

_CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\] (.*)$")
_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars")
_TIMEOUT_S = 120


def chromium() -> str | None:
    """The Chromium binary on PATH (``chromium`` or ``chromium-browser``), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass(frozen=True)
class BrowserView:
    """What Chromium made of a page: the serialised DOM after scripts ran, its console
    messages, and where the screenshot is."""

    dom: str
    console: list[str]
    screenshot: Path


def _run(binary: str, url: str, extra: list[str], profile: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary,
            *_FLAGS,
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )


def look_at(page: Path, screenshot: Path, width: int = 1280, height: int = 2000) -> BrowserView:
    """Load ``page`` in headless Chromium twice (the DOM, then a ``width`` × ``height``
    screenshot written to ``screenshot``); raises ``RuntimeError`` when Chromium fails."""
    binary = chromium()
    if binary is None:
        raise RuntimeError("no chromium on PATH: apt-get install chromium (make test does)")
    url = page.resolve().as_uri()
    console: list[str] = []
    with tempfile.TemporaryDirectory(prefix="driftwarden-chromium-") as profile:
        dumped = _run(binary, url, ["--dump-dom"], profile)
        shot = _run(
            binary, url, [f"--screenshot={screenshot}", f"--window-size={width},{height}"], profile
        )
    for run in (dumped, shot):
        if run.returncode != 0:
            raise RuntimeError(f"chromium exited {run.returncode}: {run.stderr[-2000:]}")
        console += [m.group(1) for line in run.stderr.splitlines() if (m := _CONSOLE.search(line))]
    if not screenshot.exists():
        raise RuntimeError(f"chromium wrote no screenshot: {shot.stderr[-2000:]}")
    return BrowserView(dumped.stdout, console, screenshot)


@dataclass
class Element:
    """One element of a parsed DOM: tag, attributes, children, text directly inside."""

    tag: str
    attrs: dict[str, str]
    children: list[Element]
    text: str = ""

    def walk(self) -> list[Element]:
        """This element and all below it, in document order."""
        found = [self]
        for child in self.children:
            found += child.walk()
        return found

    def find_all(self, tag: str, **attrs: str) -> list[Element]:
        """Elements below (and including) this one with ``tag`` and these attribute values."""
        return [
            e
            for e in self.walk()
            if e.tag == tag and all(e.attrs.get(k) == v for k, v in attrs.items())
        ]

    def by_id(self, identifier: str) -> Element | None:
        """The first element below with this id."""
        return next((e for e in self.walk() if e.attrs.get("id") == identifier), None)

    def all_text(self) -> str:
        """The text of this element and everything below it."""
        return self.text + "".join(child.all_text() for child in self.children)


_VOID = frozenset({"meta", "br", "img", "input", "link", "hr", "col", "source", "wbr"})


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {}, [])
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, [])
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}, []))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].text += data


def parse_dom(html: str) -> Element:
    """The element tree of ``html`` (stdlib parser, forgiving like a browser's)."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
