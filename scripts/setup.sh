#!/usr/bin/env bash
# Creates .venv/ with every workspace package installed editable and the extension
# built in release mode. Cheap when nothing changed: it re-installs Python
# dependencies only when a pyproject.toml changed, and rebuilds Rust only when a crate did.
#
# On a fresh machine the slow parts overlap: the Debian packages (apt) and the test-only
# libraries (pip) install while Rust compiles the extension (CPU). Each step prints its time.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY=.venv/bin/python
export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"
logs=.venv/.setup-logs
mkdir -p "$logs"

started=$SECONDS
took() { echo "setup: $1 ($((SECONDS - started)) s since start)"; }

# Waits for a background step; on failure shows its log and stops.
finish() {
  local pid=$1 label=$2 log=$3
  if ! wait "$pid"; then
    cat "$log" >&2
    echo "setup: $label failed (log above)" >&2
    exit 1
  fi
  took "$label done"
}

# Servers and tools the tests run against (Debian packages), each script installing its own
# when missing; quick when all is there. In the background: apt does not need the CPU much.
(for system in scripts/system/*.sh; do
  [ -e "$system" ] && bash "$system"
done) >"$logs/system.log" 2>&1 &
system_pid=$!

deps_stamp=.venv/.ferrotrack-deps
extras_pid=""
installed_deps=0
if [ ! -f "$deps_stamp" ] || [ -n "$(find pyproject.toml packages tests/plugins scripts/extra-packages \( -name pyproject.toml -o -name '*.txt' \) -newer "$deps_stamp" 2>/dev/null)" ]; then
  echo "setup: installing Python dependencies into .venv/"
  $VPY -m pip install --quiet --upgrade pip rust-just
  $VPY -m pip install --quiet --group dev
  # Runtime dependencies of every package, read from their pyproject.toml files.
  $VPY scripts/package_deps.py | xargs -r $VPY -m pip install --quiet
  took "build tools and runtime dependencies installed"
  # What the tests run against (mlflow, wandb, ...): while Rust compiles, below.
  (for extra in scripts/extra-packages/*.txt; do
    [ -e "$extra" ] && $VPY -m pip install --quiet -r "$extra"
  done) >"$logs/extras.log" 2>&1 &
  extras_pid=$!
  installed_deps=1
  rm -f .venv/.ferrotrack-native
fi

native_stamp=.venv/.ferrotrack-native
if [ ! -f "$native_stamp" ] || [ -n "$(find crates Cargo.toml Cargo.lock packages/ferrotrack-core/pyproject.toml -newer "$native_stamp" -type f 2>/dev/null | head -1)" ]; then
  echo "setup: building the native extension (release)"
  if [ -n "$extras_pid" ]; then
    # Compile only (the extension lands in the source tree, no pip), so that no two pips
    # write .venv at once; the install below then reuses the build.
    (cd packages/ferrotrack-core && maturin develop --release --quiet --skip-install)
    took "native extension compiled"
    finish "$extras_pid" "test libraries (scripts/extra-packages)" "$logs/extras.log"
    extras_pid=""
  fi
  (cd packages/ferrotrack-core && maturin develop --release --quiet)
  touch "$native_stamp"
  took "native extension installed"
fi
if [ -n "$extras_pid" ]; then
  finish "$extras_pid" "test libraries (scripts/extra-packages)" "$logs/extras.log"
fi
[ "$installed_deps" = 1 ] && touch "$deps_stamp"

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
finish "$system_pid" "system packages (scripts/system)" "$logs/system.log"
cat "$logs/system.log"
