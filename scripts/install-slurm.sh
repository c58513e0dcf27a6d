#!/usr/bin/env bash
# Install the SLURM daemons and clients (Debian's slurm-wlm) and munge, its authentication
# service, unless sbatch is already on PATH. Used by CI (.ci/run) on a clean Debian 12 machine
# and by scripts/slurm-local-cluster.sh. Needs root (or sudo).
set -euo pipefail
# The daemons live in /usr/sbin, which a non-login root shell (CI, sudo) may lack on PATH.
export PATH=$PATH:/usr/sbin:/sbin

if command -v sbatch >/dev/null && command -v slurmctld >/dev/null \
    && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; refreshing them is cheap compared to the install.
$SUDO apt-get update -qq
# Recommends would pull in slurmdbd's MySQL client and mail tools; the local cluster needs neither.
# The packages' maintainer scripts may try to start the services: on a machine without systemd
# that is harmless (policy-rc.d or invoke-rc.d refuses), and slurm-local-cluster.sh starts its
# own daemons with its own configuration anyway.
$SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
command -v sbatch >/dev/null || { echo "install-slurm.sh: sbatch still missing" >&2; exit 1; }
