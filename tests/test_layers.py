"""The package's layers (docs/architecture.md): the core imports no setting, no setting imports
another, and no module of the pipeline imports the tools."""

from pathlib import Path

import pytest

from sparsefeatures.core import codeversion

PACKAGE = Path(__file__).resolve().parents[1] / "sparsefeatures"
MODULES = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))
SETTINGS = ("sphere", "images")
# What each part of the package may import (besides itself and the package's __init__.py).
ALLOWED = {
    "core": {"core"},
    "sphere": {"core", "sphere"},
    "images": {"core", "images"},
    "tools": {"core", "sphere", "images", "tools"},
}


def part(module: str) -> str:
    return module.split("/")[0] if "/" in module else "__init__.py"


@pytest.mark.parametrize("module", [m for m in MODULES if "/" in m])
def test_a_module_imports_only_its_layer_and_those_below(module):
    imported = {part(m) for m in codeversion.imports(PACKAGE, module)} - {"__init__.py"}
    assert imported <= ALLOWED[part(module)], f"{module} imports {sorted(imported)}"


def test_every_module_belongs_to_a_layer():
    assert {part(m) for m in MODULES} == set(ALLOWED) | {"__init__.py"}
