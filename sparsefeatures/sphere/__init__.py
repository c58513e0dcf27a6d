"""Setting (i) of Petrini et al. (NeurIPS 2022): regression of targets on the sphere S^{d-1}.

- `data`: points, targets (constant, Gaussian random fields from |t|^a teachers), smoothness.
- `registry` and `kinds/`: the regime kinds (kernel, network, sparse) and what each brings.
- `network`, `sparse`: the numerics of trained networks and of their convex limit.
- `measures`, `theory`: atoms and rotation stability; the theory's exponents.
- `steps`, `cli`, `plots`: the pipeline's steps, their command line, the figures.
"""
