#!/usr/bin/env bash
# Headless Chromium for the web UI's browser tests (packages/ferrotrack-ui/tests drive it with
# Playwright, pointed at this executable: Playwright's own browser download is not reachable).
# Installs Debian's `chromium` when no browser is found, else does nothing.
set -euo pipefail
. "$(dirname "$0")/lib/apt-install.sh"

if command -v chromium >/dev/null 2>&1; then
  echo "chromium.sh: chromium present ($(command -v chromium))"
  exit 0
fi

apt_install chromium.sh "the web UI's tests open its pages in a real browser" chromium
command -v chromium >/dev/null 2>&1 || { echo "chromium.sh: chromium installed but not on PATH" >&2; exit 1; }
echo "chromium.sh: installed chromium ($(command -v chromium))"
