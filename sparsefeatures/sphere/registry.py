"""The sphere setting's regime kinds: what each brings, and the resources its run jobs need.

A regime of the config (`sphere.regimes.NAME`) has a `kind`; each kind is one module
`sparsefeatures/sphere/kinds/<kind>.py` providing
- `spec_from_config(entry)`: its settings as a frozen dataclass, the one place their defaults live
  (the schema's `<kind>_regime` block repeats them for users; tests check they agree);
- `VARIABLES`: name -> (description, units) of the scalars its runs store beyond
  runs.COMMON_VARIABLES (test_mse, train_mse, wall_time); the aggregate has one array per name;
- `run(entry, context)`: fit one training set and score it (an xarray Dataset of scalars, plus any
  arrays); a numerical failure raises runs.RunFailed, recorded as a failed run;
- `theory(entry, d, nu_t, runs, fit)`: (beta_theory, what it rests on) for exponents.csv.
This file holds one record per kind: the Snakemake rules (one run rule per kind, made in a loop),
the CLI, the aggregate, the exponents and atoms tables and the cost estimate all read it.

Adding a kind: its module, its record here, and its block in workflow/schemas/config.schema.yaml.

Standard library only: Snakemake reads it to make the rules, whether or not the package's
dependencies are installed where it runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class RegimeKind:
    """A regime kind and the resources of its run jobs."""

    name: str  # the config's `kind`, and the module sparsefeatures.sphere.kinds.<name>
    counts_atoms: bool  # its runs store n_atoms: they get the atoms table and figure
    runtime: int  # cluster time limit of a run job in minutes
    gpu: bool = False  # trains on `training.device`: one GPU per job when that is cuda
    checkpoints: bool = False  # long runs checkpoint to results/checkpoints and resume
    group: str | None = None  # Snakemake job group: short jobs bundled into one cluster job

    @property
    def module(self) -> str:
        """The kind's module, relative to the package (as core.codeversion names modules)."""
        return f"sphere.kinds.{self.name}"

    def load(self):
        """The kind's module (imported only by the steps that need it: it may import torch)."""
        return importlib.import_module(f"sparsefeatures.{self.module}")


KINDS = {
    kind.name: kind
    for kind in (
        RegimeKind("kernel", counts_atoms=False, runtime=30, group="kernel"),
        RegimeKind("network", counts_atoms=True, runtime=120, gpu=True, checkpoints=True),
        # A solve takes ~10 min at d = 3, n = 1024 and grows like n^2.4-3 (README).
        RegimeKind("sparse", counts_atoms=True, runtime=240),
    )
}


def kind_of(entry: dict) -> RegimeKind:
    """The kind of a config regime entry; an unknown kind is an error that names the known ones."""
    try:
        return KINDS[entry["kind"]]
    except KeyError:
        raise ValueError(
            f"unknown regime kind {entry.get('kind')!r}; expected one of {sorted(KINDS)}"
        ) from None
