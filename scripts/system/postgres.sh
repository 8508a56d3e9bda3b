#!/usr/bin/env bash
# PostgreSQL server binaries for the sql backend's tests (packages/ferrotrack-backends/tests/
# postgres_server.py starts a throwaway server from them; nothing here starts or enables a
# service). Installs Debian's `postgresql` when no server is found, else does nothing.
set -euo pipefail
. "$(dirname "$0")/lib/apt-install.sh"

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

apt_install postgres.sh "the sql backend's tests can start a PostgreSQL server" postgresql
# The package starts a cluster as a service where it can; the tests do not use it.
dir=$(found) || { echo "postgres.sh: postgresql installed but no server binaries found" >&2; exit 1; }
echo "postgres.sh: installed PostgreSQL server ($dir)"
