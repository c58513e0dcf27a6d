"""The static import graph behind the steps' code versions (sparsefeatures/codeversion.py), on a
tiny fake package, and what it assumes of the real one. What an edit of each real module reruns
through Snakemake is tested in tests/test_incremental.py."""

import ast
import textwrap
from pathlib import Path

import pytest

from sparsefeatures.core import codeversion

from .conftest import REPO

PACKAGE = REPO / "sparsefeatures"

# A fake package `pkg` (the package's name is its folder's): every kind of import, and a cycle.
FAKE = {
    "__init__.py": "",
    "a.py": "from . import b\nfrom .c import helper\nimport json\n",
    "b.py": "import numpy as np\n\n\ndef f():\n    from . import lazy  # a function-level import\n",
    "c.py": "from .a import something  # a cycle: a -> c -> a\n\ndef helper():\n    pass\n",
    "lazy.py": "",
    "absolute.py": "import pkg.sub.deep\nfrom pkg import c\n",
    "sub/__init__.py": '"""a package"""\n',
    "sub/deep.py": "from .. import b\nfrom ..c import helper\nfrom . import leaf\n",
    "sub/leaf.py": "from pkg.sub import NAME  # a name of the package, not a module\n",
    "sub/other.py": "from pkg import sub\n",
    "io.py": "from . import lazy\n",
    "unused.py": "from . import a\n",
}


@pytest.fixture
def pkg(tmp_path) -> Path:
    root = tmp_path / "pkg"
    for name, text in FAKE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


def test_relative_and_function_level_imports_and_a_cycle(pkg):
    assert codeversion.closure(pkg, ["a"]) == {"__init__.py", "a.py", "b.py", "c.py", "lazy.py"}
    assert codeversion.closure(pkg, ["c"]) == codeversion.closure(pkg, ["a"])
    assert codeversion.closure(pkg, ["lazy"]) == {"__init__.py", "lazy.py"}


def test_absolute_imports_and_packages(pkg):
    sub = {"__init__.py", "sub/__init__.py"}
    deep = sub | {"sub/deep.py", "sub/leaf.py", "b.py", "c.py", "a.py", "lazy.py"}
    assert codeversion.closure(pkg, ["absolute"]) == deep | {"absolute.py"}
    assert codeversion.closure(pkg, ["sub.deep"]) == deep
    assert codeversion.closure(pkg, ["sub.leaf"]) == sub | {"sub/leaf.py"}
    assert codeversion.closure(pkg, ["sub.other"]) == sub | {"sub/other.py"}
    assert codeversion.closure(pkg, ["sub"]) == sub
    assert codeversion.closure(pkg, ["lazy", "sub.leaf"]) == sub | {"sub/leaf.py", "lazy.py"}
    with pytest.raises(ValueError, match="no module pkg.missing"):
        codeversion.closure(pkg, ["missing"])


def test_version_follows_the_closures_contents_and_nothing_else(pkg):
    version = codeversion.code_version(pkg, "a", exempt=("io.py",))
    assert version == codeversion.code_version(str(pkg), "a", exempt=("io.py",))
    assert len(version) == 12 and int(version, 16) >= 0
    (pkg / "unused.py").write_text("# outside the closure\n")
    assert codeversion.code_version(pkg, "a", exempt=("io.py",)) == version
    (pkg / "lazy.py").write_text("# a comment\n")  # imported in a function of b.py
    assert codeversion.code_version(pkg, "a", exempt=("io.py",)) != version


def test_exempt_modules_are_not_hashed_but_what_they_import_is(pkg):
    version = codeversion.code_version(pkg, "io", exempt=("io.py",))
    (pkg / "io.py").write_text("from . import lazy\n# an edit\n")
    assert codeversion.code_version(pkg, "io", exempt=("io.py",)) == version
    (pkg / "lazy.py").write_text("# an edit\n")
    assert codeversion.code_version(pkg, "io", exempt=("io.py",)) != version


def test_version_hashes_paths_too(tmp_path):
    """Two packages with the same bytes under other file names have other versions."""
    for name, module in (("one", "x"), ("two", "y")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
        (tmp_path / name / f"{module}.py").write_text("A = 1\n")
    assert codeversion.code_version(tmp_path / "one", "x") != codeversion.code_version(
        tmp_path / "two", "y"
    )


def test_the_exempt_modules_exist():
    """A renamed I/O module would otherwise silently leave the list (and be hashed)."""
    for module in codeversion.EXEMPT:
        assert (PACKAGE / module).is_file(), module


# The one module that imports by name: the sphere's registry loads each regime kind's module, and
# workflow/rules/common.smk lists every kind's module among the entries of the steps that dispatch
# through it (tests/test_incremental.py checks those steps rerun when a kind's module changes).
IMPORTS_BY_NAME = {"sphere/registry.py"}


def test_no_other_module_of_the_package_imports_by_name_at_run_time():
    """importlib.import_module or __import__ would hide an import from the static graph."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).as_posix() in IMPORTS_BY_NAME:
            continue
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                assert name not in ("import_module", "__import__"), f"{path}:{node.lineno}"
