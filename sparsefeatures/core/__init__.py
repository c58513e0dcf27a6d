"""What every setting shares: result stores with provenance, the step command-line skeleton,
aggregation of runs, power-law fits, figures, the ReLU network's infinite-width kernels, neuron
masses, code versions. Imports no setting (docs/architecture.md)."""
