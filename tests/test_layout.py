"""The package's layout: imports only point down, the live path never reaches training-file
code, and the wheel lists every folder. docs/architecture.md draws the layers.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FOLDERS = {"driftwarden.detectors": REPO / "detectors", "driftwarden.stream": REPO / "stream"}

# A module may import its own part, or a part on a lower layer; nothing else.
LAYERS: dict[str, int] = {
    "driftwarden.detectors": 0,
    "driftwarden.stream.sketches": 1,
    "driftwarden.stream.cloudevents": 1,
    "driftwarden.stream.config": 2,
    "driftwarden.stream.decoding": 3,
    "driftwarden.stream.profiling": 3,
    "driftwarden.stream.ops": 4,
    "driftwarden.stream.leakage": 4,
    "driftwarden.stream.service": 5,
    "driftwarden.stream.replay": 5,
    "driftwarden.stream.report": 6,
    "driftwarden.stream.demo": 7,
    "driftwarden.stream.commands": 8,
    "driftwarden.stream.cli": 9,
    "driftwarden.stream": 10,  # the package's own __init__, which imports nothing
}
# The live path (consume, decode, detect, publish) never loads training-file readers, the
# profile builder or the leakage checks, not even through another module.
LIVE = ("driftwarden.stream.service", "driftwarden.stream.decoding", "driftwarden.stream.ops")
OFFLINE = ("driftwarden.stream.profiling", "driftwarden.stream.leakage")


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every driftwarden module ``name`` imports (top level or inside a function)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            # ``from package import module`` imports the module
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        for target in dict.fromkeys(targets):
            if target.startswith("driftwarden."):
                yield target, node.lineno


def _part(module: str) -> str:
    matches = [
        part
        for part in LAYERS
        if module == part or (module.startswith(part + ".") and part != "driftwarden.stream")
    ]
    assert matches, f"{module} is on no layer: add its folder to LAYERS"
    return max(matches, key=len)


def _upward_imports(modules: dict[str, Path]) -> list[str]:
    wrong = []
    for name, path in modules.items():
        mine = _part(name)
        for target, line in _imports(name, path):
            theirs = _part(target)
            if theirs != mine and LAYERS[theirs] >= LAYERS[mine]:
                wrong.append(f"{path.name}:{line}: {name} ({mine}) imports {target}")
    return wrong


def test_every_module_is_on_a_layer_and_imports_only_point_down() -> None:
    assert _upward_imports(MODULES) == []


def test_the_check_catches_an_import_that_points_up(tmp_path: Path) -> None:
    # The decoder importing a training-file reader, as the old tree's decoder did.
    bad = tmp_path / "decoder.py"
    bad.write_text("from driftwarden.stream.commands.profile import run\n")
    wrong = _upward_imports({"driftwarden.stream.decoding.decoder": bad})
    assert len(wrong) == 1 and "imports driftwarden.stream.commands.profile" in wrong[0]


def _reach(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in MODULES:
            continue
        seen.add(name)
        todo += [target for target, _ in _imports(name, MODULES[name])]
    return seen


@pytest.mark.parametrize("live", LIVE)
def test_the_live_path_never_reaches_training_file_code(live: str) -> None:
    starts = [name for name in MODULES if name == live or name.startswith(live + ".")]
    reached = set().union(*(_reach(name) for name in starts))
    assert sorted(name for name in reached if name.startswith(OFFLINE)) == []


def test_the_wheel_lists_every_folder_of_the_package() -> None:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = sorted(name for name, path in MODULES.items() if path.name == "__init__.py")
    assert sorted(setuptools["packages"]) == folders
    assert setuptools["package-dir"] == {
        "driftwarden.detectors": "detectors",
        "driftwarden.stream": "stream",
    }


def test_every_folder_says_what_it_holds_in_its_docstring() -> None:
    for path in MODULES.values():
        if path.name == "__init__.py":
            doc = ast.get_docstring(ast.parse(path.read_text()))
            assert doc and len(doc) > 80, f"{path.relative_to(REPO)} needs a docstring"


def test_the_wheel_installs_nothing_but_the_driftwarden_namespace(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("driftwarden-*.whl")
    tops = {name.split("/", 1)[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"driftwarden"}
    names = zipfile.ZipFile(wheel).namelist()
    assert "driftwarden/stream/decoding/scanner/json_scan.py" in names
    assert "driftwarden/detectors/adwin.py" in names
    assert not any(name.startswith("driftwarden/__init__") for name in names)  # a namespace
