#!/usr/bin/env bash
# Slurm and munge for the slurm run backend's tests (packages/ferrotrack-run/tests/
# slurm_cluster.py starts a private single-node cluster from them: its own slurm.conf, munge
# key and socket, slurmctld and slurmd on 127.0.0.1; nothing here starts or enables a service).
# Installs Debian's `slurm-wlm` (slurmctld, slurmd, the client commands) and `munge` when
# missing, else does nothing.
set -euo pipefail

missing=()
for tool in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/bin/scontrol; do
  [ -x "$tool" ] || { missing+=(slurm-wlm); break; }
done
[ -x /usr/sbin/munged ] && [ -x /usr/sbin/mungekey ] || missing+=(munge)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "slurm.sh: Slurm present ($(dpkg-query -W -f='${Version}' slurmctld 2>/dev/null || echo '?')), munge present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "slurm.sh: missing ${missing[*]}; run this script as root (or: sudo apt-get install" \
    "${missing[*]}) so the slurm backend's tests can start a single-node cluster" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "slurm.sh: installing Debian's ${missing[*]} (a single-node cluster for the slurm backend's tests)"
# A fresh image has empty package lists: fetch them only then (or when the install fails).
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  apt-get update -qq
fi
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packages may start munged or slurmd as services where they can; the tests start their own.
for tool in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/sbin/munged; do
  [ -x "$tool" ] || { echo "slurm.sh: slurm-wlm and munge installed but $tool is missing" >&2; exit 1; }
done
echo "slurm.sh: installed Slurm $(dpkg-query -W -f='${Version}' slurmctld) and munge"
