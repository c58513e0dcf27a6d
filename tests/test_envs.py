"""The conda environment for `--sdm conda` pins exactly what the package pins."""

import tomllib

import yaml

from .conftest import REPO


def test_conda_environment_pins_the_package_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    # Snakemake and its executor plugin run the workflow; the jobs' environment does not need them.
    needed = {dep for dep in project["dependencies"] if not dep.startswith("snakemake")}
    env = yaml.safe_load((REPO / "envs/sparsefeatures.yaml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert set(pip) == needed
    python = next(
        item for item in env["dependencies"] if isinstance(item, str) and item.startswith("python=")
    )
    assert project["requires-python"] == ">=3.11" and python == "python=3.11"
