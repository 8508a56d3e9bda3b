#!/usr/bin/env bash
# Slurm and munge for the slurm run backend's tests (packages/ferrotrack-run/tests/
# slurm_cluster.py starts a private single-node cluster from them: its own slurm.conf, munge
# key and socket, slurmctld and slurmd on 127.0.0.1; nothing here starts or enables a service).
# Installs Debian's `slurm-wlm` (slurmctld, slurmd, the client commands) and `munge` when
# missing, else does nothing.
set -euo pipefail
. "$(dirname "$0")/lib/apt-install.sh"

missing=()
for tool in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/bin/scontrol; do
  [ -x "$tool" ] || { missing+=(slurm-wlm); break; }
done
[ -x /usr/sbin/munged ] && [ -x /usr/sbin/mungekey ] || missing+=(munge)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "slurm.sh: Slurm present ($(dpkg-query -W -f='${Version}' slurmctld 2>/dev/null || echo '?')), munge present"
  exit 0
fi

apt_install slurm.sh "the slurm backend's tests can start a single-node cluster" "${missing[@]}"
# The packages may start munged or slurmd as services where they can; the tests start their own.
for tool in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/sbin/munged; do
  [ -x "$tool" ] || { echo "slurm.sh: slurm-wlm and munge installed but $tool is missing" >&2; exit 1; }
done
echo "slurm.sh: installed Slurm $(dpkg-query -W -f='${Version}' slurmctld) and munge"
