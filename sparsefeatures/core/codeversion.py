"""Code versions of the pipeline's steps: what makes Snakemake rerun a step after a code edit.

Snakemake does not track the Python modules a job imports. Each rule's params therefore carry a
`code` version: a hash of every package module the step can execute, so that an edit reruns exactly
the steps whose results it can change. A hand-kept list of "the modules a step uses" goes stale
(a step calls a function of a module nobody listed); here the list is computed instead. A step is
declared by its entry module(s) (workflow/rules/common.smk): the modules holding what it computes.
Its version hashes the transitive closure of their imports of this package, read statically with
`ast`: `import sparsefeatures.x`, `from sparsefeatures.x import y`, `from . import x`,
`from .x import y`, `from .. import x`, at any depth (several modules import inside functions, to
start fast; those imports count too), each module with the `__init__.py` of its packages, which
Python runs on import. Modules imported by name at run time (importlib) would escape this;
tests/test_codeversion.py checks that no module does that.

Standard library only: workflow/rules/common.smk loads this file from the checkout, whether or not
the package is installed where Snakemake runs.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

# Modules left out of every hash: they read and write files or send progress lines, and compute no
# result. An edit of them reruns nothing. This is safe for the stores because a change of their
# layout bumps store.FORMAT_VERSION, and stores of another version are refused with a message to
# recompute them (a format version the CSV files written by cli.py do not have: an edit that changes
# what they hold must be rerun by hand, `snakemake --forcerun RULE`). codeversion.py (this file)
# computes the versions and no result. Their imports are still followed: a module they import is
# hashed unless it is listed here too. Paths relative to the package folder.
EXEMPT = (
    "core/cli.py",
    "core/codeversion.py",
    "core/progress.py",
    "core/store.py",
    "images/cli.py",
    "sphere/cli.py",
    "tools/summary.py",
)


def _file(package: Path, parts: tuple[str, ...]) -> str | None:
    """The file of module `package.parts...` relative to `package` (posix), or None if none is."""
    path = Path(*parts) if parts else Path()
    if (package / path / "__init__.py").is_file():
        return (path / "__init__.py").as_posix()
    if parts and (package / path.with_suffix(".py")).is_file():
        return path.with_suffix(".py").as_posix()
    return None


def _with_packages(package: Path, parts: tuple[str, ...]) -> set[str]:
    """Module `parts` and the `__init__.py` of each package above it (Python runs them on import);
    empty if `parts` names no module of the package."""
    found = _file(package, parts)
    if found is None:
        return set()
    return {found} | {f for i in range(len(parts)) if (f := _file(package, parts[:i]))}


@functools.cache
def _import_statements(source: bytes) -> tuple[tuple[int, str, tuple[str, ...]], ...]:
    """(level, module, names) of every import statement in `source`, at any depth: `import a.b`
    is (0, "a.b", ()), `from ..a import b, c` is (2, "a", ("b", "c")). Cached: one parse a file
    however many steps import it."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(0, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names)
            found.append((node.level, node.module or "", names))
    return tuple(found)


def imports(package: Path, module: str) -> set[str]:
    """Files of `package` that module file `module` (relative to `package`) imports, anywhere in
    it (functions included), with the `__init__.py` of their packages."""
    name = package.name
    # The package relative imports start from: the module's (of __init__.py, its own).
    here = tuple(Path(module).parts[:-1])
    found: set[str] = set()
    for level, imported, names in _import_statements((package / module).read_bytes()):
        dotted = tuple(imported.split(".")) if imported else ()
        if level:
            if level - 1 > len(here):
                raise ValueError(f"{module}: relative import beyond the package {name}")
            origin = here[: len(here) - (level - 1)] + dotted
        elif dotted[0] == name:
            origin = dotted[1:]
        else:
            continue
        found |= _with_packages(package, origin)
        # `from x import y`: y may be a submodule of x (from . import kernels).
        for alias in names:
            found |= _with_packages(package, (*origin, alias))
    found.discard(module)
    return found


def closure(package: Path, entries: list[str] | tuple[str, ...]) -> set[str]:
    """Files of `package` reachable from the entry modules (dotted names relative to the package,
    e.g. `steps`, `images.runs`) through imports: the entries, what they import, and so on."""
    todo = set()
    for entry in entries:
        files = _with_packages(package, tuple(entry.split(".")))
        if not files:
            raise ValueError(f"no module {package.name}.{entry} in {package}")
        todo |= files
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        seen.add(module)
        todo |= imports(package, module) - seen
    return seen


def code_version(package: str | Path, *entries: str, exempt: tuple[str, ...] = EXEMPT) -> str:
    """Hash of the files in the import closure of `entries` (closure), less the exempt ones: each
    file's path and bytes, in sorted path order. Twelve hex digits."""
    package = Path(package)
    digest = hashlib.sha256()
    for module in sorted(closure(package, entries) - set(exempt)):
        data = (package / module).read_bytes()
        digest.update(f"{module}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:12]
