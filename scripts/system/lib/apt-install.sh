# Sourced by scripts/system/*.sh (this folder is not run by the setup's loop).
# apt_install SCRIPT WHY PACKAGE...: installs Debian's PACKAGEs as root, saying WHY; not
# root: says what to run and fails. A fresh image has empty package lists: they are
# fetched only then, or when the install fails (stale lists).
apt_install() {
  local script=$1 why=$2
  shift 2
  if [ "$(id -u)" -ne 0 ]; then
    echo "$script: missing $*; run this script as root (or: sudo apt-get install $*) so $why" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "$script: installing Debian's $* ($why)"
  if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
    apt-get update -qq
  fi
  if ! apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  fi
}
