#!/usr/bin/env bash
# Install the single-node SLURM cluster that tests/slurm_cluster.py starts for the cluster tests:
# slurmctld, slurmd, the client tools (sbatch, squeue, scancel, ...) and munge.
# Idempotent: does nothing when every binary is already on PATH. Needs root (apt) on Debian/Ubuntu.
# The packages' own services are kept from starting (policy-rc.d) and any that did start are stopped,
# because the test harness runs its own daemons with its own config, ports and munge socket.
set -euo pipefail

# `sinfo --version` needs a slurm.conf, so ask the package database instead.
slurm_version() {
    dpkg-query -W -f '${Package} ${Version}; ' slurmctld slurmd slurm-client munge 2>/dev/null || true
}

binaries=(slurmctld slurmd munged mungekey sbatch squeue scancel scontrol sinfo)
missing=()
for b in "${binaries[@]}"; do
    command -v "$b" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$b" >/dev/null 2>&1 \
        || missing+=("$b")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install_slurm: SLURM and munge already installed ($(slurm_version))"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
    command -v sudo >/dev/null 2>&1 || {
        echo "install_slurm: need root (or sudo) to apt-get install slurmctld slurmd slurm-client munge" \
            "for the SLURM tests (missing: ${missing[*]}); or set NST_SLURM_TESTS=skip to skip them" >&2
        exit 1
    }
else
    sudo=
fi
echo "install_slurm: installing slurmctld slurmd slurm-client munge (apt-get${sudo:+ via sudo}) because" \
    "the SLURM tests start a real single-node cluster and ${missing[*]} are missing"
command -v apt-get >/dev/null 2>&1 || {
    echo "install_slurm: no apt-get here; install slurmctld, slurmd, the slurm client tools and munge" \
        "with this system's package manager" >&2
    exit 1
}

# Keep invoke-rc.d from starting the packaged services during installation; remove our guard after.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    own_policy=1
fi
cleanup() { if [ "$own_policy" -eq 1 ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    slurmctld slurmd slurm-client munge >/dev/null

# Should a packaged daemon have started anyway (a systemd host ignores policy-rc.d for some units),
# stop it so that it cannot hold the ports or the munge socket the harness uses.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    for unit in slurmctld slurmd munge; do
        $sudo systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done
fi

for b in "${binaries[@]}"; do
    PATH="$PATH:/usr/sbin:/sbin" command -v "$b" >/dev/null 2>&1 || {
        echo "install_slurm: $b still missing after installation" >&2
        exit 1
    }
done
echo "install_slurm: installed $(slurm_version)"
