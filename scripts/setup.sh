#!/usr/bin/env bash
# Creates .venv/ with every workspace package installed editable and the extension
# built in release mode. Cheap when nothing changed: it re-installs Python
# dependencies only when a pyproject.toml changed, and rebuilds Rust only when a crate did.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY=.venv/bin/python
export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"

# Servers and tools the tests run against (Debian packages), each script installing its own
# when missing; they print what they did and are quick when all is there.
for system in scripts/system/*.sh; do
  [ -e "$system" ] && bash "$system"
done

deps_stamp=.venv/.ferrotrack-deps
if [ ! -f "$deps_stamp" ] || [ -n "$(find pyproject.toml packages tests/plugins scripts/extra-packages \( -name pyproject.toml -o -name '*.txt' \) -newer "$deps_stamp" 2>/dev/null)" ]; then
  echo "setup: installing Python dependencies into .venv/"
  $VPY -m pip install --quiet --upgrade pip rust-just
  $VPY -m pip install --quiet --group dev
  # Runtime dependencies of every package, read from their pyproject.toml files.
  $VPY scripts/package_deps.py | xargs -r $VPY -m pip install --quiet
  for extra in scripts/extra-packages/*.txt; do
    [ -e "$extra" ] && $VPY -m pip install --quiet -r "$extra"
  done
  touch "$deps_stamp"
  rm -f .venv/.ferrotrack-native
fi

native_stamp=.venv/.ferrotrack-native
if [ ! -f "$native_stamp" ] || [ -n "$(find crates Cargo.toml Cargo.lock packages/ferrotrack-core/pyproject.toml -newer "$native_stamp" -type f 2>/dev/null | head -1)" ]; then
  echo "setup: building the native extension (release)"
  (cd packages/ferrotrack-core && maturin develop --release --quiet)
  touch "$native_stamp"
fi

# Pure-Python packages (and test plugins) as editable installs, once.
for pkg in packages/*/ tests/plugins/*/; do
  [ -f "$pkg/pyproject.toml" ] || continue
  [ "$pkg" = "packages/ferrotrack-core/" ] && continue
  stamp=".venv/.ferrotrack-$(basename "$pkg")"
  if [ ! -f "$stamp" ] || [ "$pkg/pyproject.toml" -nt "$stamp" ]; then
    $VPY -m pip install --quiet --no-deps -e "$pkg"
    touch "$stamp"
  fi
done
