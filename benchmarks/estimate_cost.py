"""Cost of running configs: their jobs by kind, and the wall time on this machine and on one GPU.

    python benchmarks/estimate_cost.py CONFIG [CONFIG ...] [--target all|images_all] [--cores 2]
        [--recorded RESULTS_DIR ...] [--remeasure] [--json OUT]

Method (sparsefeatures/tools/cost.py has every formula):
- Jobs: those of Snakemake's own forced dry run of the config and target (in a temporary folder:
  the results are neither read nor written), each priced from its rule and its params (sizes,
  caps, the regime's parameters).
- Time per job on one core, from constants measured here (about a minute, cached in
  benchmarks/results/cost_constants.json; --remeasure redoes it): each kind of job's fixed cost
  (its command line on tiny inputs); kernel regression t_entry (2 n^2 + n n_test) + t_chol n^3;
  teacher data t_unit n W; network training steps x time per step (measured on a grid of n and
  H, interpolated); image training trial steps x (a + b n D h + c n h), stopped at max_wall_s;
  SVC Gram entries x (e + D m) + libsvm's solve s n^p.
- Steps of network runs: `bound` runs every one to its cap (max_steps, and max_wall_s for
  images); `typical` uses the steps that stored runs of the same regime, target and n recorded
  (--recorded, default ./results), else the median fraction of its cap that stored runs of the
  same kind used, else the cap. The output says how many jobs used each basis.
- Wall time: the jobs spread over --cores cores, max(sum / cores, longest job), plus Snakemake's
  start. With one GPU: training jobs one at a time on the GPU, the rest on the same cores; a GPU
  step is an extrapolation (launch floor, memory traffic at 2 TB/s, float64 at 25 TFLOP/s of an
  H100: the GPU_* constants), not a measurement.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, fields
from pathlib import Path

from sparsefeatures.tools import cost

RESULTS = Path(__file__).resolve().parent / "results"
CONSTANTS = RESULTS / "cost_constants.json"


def constants(remeasure: bool) -> cost.CpuConstants:
    """The measured constants: from the cache, or measured now (and cached)."""
    if CONSTANTS.exists() and not remeasure:
        cached = json.loads(CONSTANTS.read_text())
        if set(cached) == {f.name for f in fields(cost.CpuConstants)}:
            return cost.CpuConstants.from_json(cached)
        print(f"{CONSTANTS} was measured for another version of the cost model")
    print(f"measuring this machine's constants (cached in {CONSTANTS}) ...")
    measured = cost.measure(log=lambda line: print("  " + line, flush=True))
    RESULTS.mkdir(parents=True, exist_ok=True)
    CONSTANTS.write_text(json.dumps(asdict(measured), indent=2))
    return measured


BASES = {
    "recorded": "as stored runs of the same regime, target and n recorded",
    "fraction": "at the median fraction of its cap that stored runs of that kind used",
    "cap": "at the cap (no stored run of that kind)",
}


def report(path: str, target: str, result: cost.Estimate, cores: int) -> None:
    """Print one config's jobs and times."""
    dur = cost.duration
    print(f"\n== {path} (snakemake {target}) ==")
    head = f"  {'rule':<24} {'jobs':>6}   {'core-time bound':>15} {'typical':>9}"
    print(head + f"   {'1 GPU bound':>11} {'typical':>9}")
    for rule, count in result.counts.items():
        core = result.core_seconds.get(rule, {"bound": 0.0, "typical": 0.0})
        line = f"  {rule:<24} {count:>6}   {dur(core['bound']):>15} {dur(core['typical']):>9}"
        if rule in result.gpu_seconds:
            gpu = result.gpu_seconds[rule]
            line += f"   {dur(gpu['bound']):>11} {dur(gpu['typical']):>9}"
        print(line)
    total = sum(result.counts.values())
    bound = sum(v["bound"] for v in result.core_seconds.values())
    typical = sum(v["typical"] for v in result.core_seconds.values())
    print(f"  {'total':<24} {total:>6}   {dur(bound):>15} {dur(typical):>9}")
    cpu, gpu = result.wall["cpu"], result.wall["gpu"]
    longest, rule = result.longest["cpu"]
    print(
        f"  wall time, {cores} cores:          bound {dur(cpu['bound'])}, typical "
        f"{dur(cpu['typical'])} (longest job: {dur(longest)}, {rule})"
    )
    if result.gpu_seconds:
        longest, rule = result.longest["gpu"]
        print(
            f"  wall time, 1 GPU + {cores} cores:  bound {dur(gpu['bound'])}, typical "
            f"{dur(gpu['typical'])} (longest GPU job: {dur(longest)}, {rule}; extrapolated)"
        )
        bases = ", ".join(f"{n} {BASES[basis]}" for basis, n in sorted(result.basis.items()))
        print(f"  typical steps of the training jobs: {bases}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("configs", nargs="+", metavar="CONFIG")
    parser.add_argument(
        "--target", default="all", help=f"snakemake target ({' or '.join(cost.TARGETS)}, ...)"
    )
    parser.add_argument("--cores", type=int, default=2, help="cores of the machine (default 2)")
    parser.add_argument(
        "--recorded",
        nargs="*",
        default=["results"],
        metavar="RESULTS_DIR",
        help="results folders whose network runs give `typical` step counts (default ./results)",
    )
    parser.add_argument("--remeasure", action="store_true", help="measure the constants again")
    parser.add_argument("--json", help="also write the estimates to this JSON file")
    args = parser.parse_args(argv)

    measured = constants(args.remeasure)
    recorded = cost.RecordedSteps.scan(args.recorded)
    m = measured.machine
    fractions = ", ".join(f"{k} {v:.2g}" for k, v in sorted(recorded.fraction.items()))
    print(
        f"constants measured {m['measured']} on {m['cpus']} x {m['processor']} (load average "
        f"{m['load_average'][0]:.1f}); typical steps from {recorded.runs} stored runs in "
        f"{', '.join(args.recorded) or 'no folder'} (median fraction of the cap: {fractions or '-'})"
    )
    out = {}
    for path in args.configs:
        jobs = cost.planned_jobs(path, args.target)
        result = cost.estimate(jobs, measured, recorded, args.cores)
        report(path, args.target, result, args.cores)
        out[path] = asdict(result) | {"target": args.target, "cores": args.cores}
    print(
        "\nMethod: jobs of Snakemake's own dry run; each job's time on one "
        "core from constants measured on this machine (benchmarks/estimate_cost.py docstring); "
        "bound = every network run to its cap, typical = recorded steps where stored runs match, "
        "else a fraction of the cap; wall = start + max(sum / cores, longest job) + the "
        "aggregates, fits and plots. GPU columns are an extrapolation (H100 constants in "
        "sparsefeatures/tools/cost.py), not a measurement."
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
