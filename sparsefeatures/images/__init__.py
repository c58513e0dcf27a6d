"""Image setting of Petrini et al. (NeurIPS 2022): data sets, deformations, networks, kernel SVCs.

- `registry`: one record per data set (MNIST, Fashion-MNIST, CIFAR-10, scikit-learn's 8x8 digits):
  its image shape, files, reader, system locations and downloads.
- `files`: where a data set's files are found (data_dir, system package, cache) or downloaded,
  checksums verified; `formats`: the strict IDX and CIFAR readers.
- `task`: the paper's preprocessing and the balanced, nested, seeded parity task.
- `diffeo`: the random smooth deformations and the relative stability R_f of Petrini et al. (2021).
- `training`: the fully connected softplus network trained by gradient flow with the alpha-trick.
- `svc`: the kernel baselines, scikit-learn's SVC on the NTK / RFK Gram matrix.
"""
