#!/usr/bin/env bash
# PostgreSQL server binaries for the sql backend's tests (packages/ferrotrack-backends/tests/
# postgres_server.py starts a throwaway server from them; nothing here starts or enables a
# service). Installs Debian's `postgresql` when no server is found, else does nothing.
set -euo pipefail

found() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/postgres" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

if dir=$(found); then
  echo "postgres.sh: PostgreSQL server present ($dir)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "postgres.sh: no PostgreSQL server under /usr/lib/postgresql/*/bin; run this script as root" \
    "(or: sudo apt-get install postgresql) so the sql backend's tests can start one" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "postgres.sh: installing Debian's postgresql (server binaries for the sql backend's tests)"
# A fresh image has empty package lists: fetch them only then (or when the install fails).
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  apt-get update -qq
fi
if ! apt-get install -y -qq --no-install-recommends postgresql >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
# The package starts a cluster as a service where it can; the tests do not use it.
dir=$(found) || { echo "postgres.sh: postgresql installed but no server binaries found" >&2; exit 1; }
echo "postgres.sh: installed PostgreSQL server ($dir)"
