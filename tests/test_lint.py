"""Static checks of the repository: ruff (lint and format, configured in pyproject.toml) and
Snakemake's linter on the Snakefile with the default config. Each test fails with the tool's
report, so that the finding can be read from the test output."""

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, SNAKEMAKE

RUFF = Path(sys.executable).parent / "ruff"


def tool(*cmd: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize(
    "check", [["check", "--no-cache"], ["format", "--check", "--no-cache"]], ids=["lint", "format"]
)
def test_ruff_reports_nothing(check):
    """`ruff check` and `ruff format --check` on the whole repository, with its configuration."""
    if not RUFF.exists():
        pytest.fail(f"ruff not found next to {sys.executable}: install the `test` extra")
    result = tool(RUFF, *check, ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakemake_lint_reports_nothing(tmp_path):
    """`snakemake --lint` on the Snakefile and every included rule file, with the default config
    (run in a scratch directory, so that it writes nothing into the repository)."""
    result = tool(
        SNAKEMAKE,
        "--lint",
        "--snakefile",
        REPO / "Snakefile",
        "--configfile",
        REPO / "config.yaml",
        "--directory",
        tmp_path,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Lints for" not in output, output
