#!/usr/bin/env bash
# Docker engine and busybox for the docker run backend's tests (packages/ferrotrack-run/tests/
# docker_engine.py starts a private daemon from them and builds its images FROM scratch with
# busybox, since no registry is reachable; nothing here starts or enables a service).
# Installs Debian's `docker.io` and `busybox-static` when missing, else does nothing.
set -euo pipefail

missing=()
[ -x /usr/bin/docker ] && [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
# busybox-static's binary is what the test images copy (a dynamic busybox would need libc).
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || missing+=(busybox-static)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "docker.sh: Docker engine present ($(/usr/bin/docker --version)), busybox-static present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "docker.sh: missing ${missing[*]}; run this script as root (or: sudo apt-get install" \
    "${missing[*]}) so the docker backend's tests can start a daemon and build their images" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "docker.sh: installing Debian's ${missing[*]} (engine and image contents for the docker backend's tests)"
# A fresh image has empty package lists: fetch them only then (or when the install fails).
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  apt-get update -qq
fi
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -x /usr/bin/docker ] && [ -x /usr/sbin/dockerd ] \
  || { echo "docker.sh: docker.io installed but /usr/bin/docker or /usr/sbin/dockerd is missing" >&2; exit 1; }
echo "docker.sh: installed $(/usr/bin/docker --version)"
