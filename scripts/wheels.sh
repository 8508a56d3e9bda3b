#!/usr/bin/env bash
# Builds a wheel of every distribution in packages/ into OUT (default dist/):
# ferrotrack-core with maturin (release), every other package with a pyproject.toml as a
# pure-Python wheel. Usage: scripts/wheels.sh [OUT]
#
# The core build reuses target/ from `just setup` (`maturin develop --release`): maturin is
# given the same interpreter (.venv/bin/python) as develop, because pyo3 rebuilds itself and
# everything above it (~80 s here) whenever the interpreter path it was built for changes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)"
venv="$root/.venv"
export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH"

echo "wheels: ferrotrack-core (maturin, release) -> $out"
(cd "$root/packages/ferrotrack-core" &&
  "$venv/bin/maturin" build --release --quiet -i "$venv/bin/python" --out "$out")

# Pure-Python packages are built from a copy: setuptools writes build/ and *.egg-info/ into
# the source folder it builds, and packages/ belongs to the people editing it.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for pkg in "$root"/packages/*/; do
  name="$(basename "$pkg")"
  [ "$name" = "ferrotrack-core" ] && continue
  [ -f "$pkg/pyproject.toml" ] || continue
  echo "wheels: $name (pure Python) -> $out"
  tar -C "$pkg" --exclude=build --exclude='*.egg-info' --exclude=__pycache__ -cf - . |
    (mkdir -p "$scratch/$name" && tar -C "$scratch/$name" -xf -)
  # An isolated build: the package's own build requirements, not whatever .venv has.
  "$venv/bin/python" -m pip wheel --quiet --no-deps -w "$out" "$scratch/$name"
done
ls -1 "$out"
