"""Every docstring example of the package runs, under the names it is installed by.

A docstring is the manual (STYLE.md): its examples are tests, so the docs cannot rot. They
run here, one test per module, on the modules as ``driftwarden.stream.*`` and
``driftwarden.detectors.*`` import them, never on second copies named after their paths.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import driftwarden.detectors
import driftwarden.stream


def _modules() -> list[str]:
    names = []
    for package in (driftwarden.detectors, driftwarden.stream):
        names.append(package.__name__)
        prefix = package.__name__ + "."
        names += [info.name for info in pkgutil.walk_packages(package.__path__, prefix)]
    return sorted(names)


MODULES = _modules()


def test_the_walk_finds_every_folder_of_the_package() -> None:
    assert "driftwarden.stream.decoding.scanner.json_scan" in MODULES
    assert "driftwarden.detectors.adwin" in MODULES
    assert len(MODULES) > 60


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_of(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = finder.find(module, name)
    for test in sorted(tests, key=lambda t: t.name):
        runner.run(test, out=lambda text: print(text, end=""))
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
