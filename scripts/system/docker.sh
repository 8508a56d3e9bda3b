#!/usr/bin/env bash
# Docker engine and busybox for the docker run backend's tests (packages/ferrotrack-run/tests/
# docker_engine.py starts a private daemon from them and builds its images FROM scratch with
# busybox, since no registry is reachable; nothing here starts or enables a service).
# Installs Debian's `docker.io` and `busybox-static` when missing, else does nothing.
set -euo pipefail
. "$(dirname "$0")/lib/apt-install.sh"

missing=()
[ -x /usr/bin/docker ] && [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
# busybox-static's binary is what the test images copy (a dynamic busybox would need libc).
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || missing+=(busybox-static)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "docker.sh: Docker engine present ($(/usr/bin/docker --version)), busybox-static present"
  exit 0
fi

apt_install docker.sh "the docker backend's tests can start a daemon and build their images" "${missing[@]}"
[ -x /usr/bin/docker ] && [ -x /usr/sbin/dockerd ] \
  || { echo "docker.sh: docker.io installed but /usr/bin/docker or /usr/sbin/dockerd is missing" >&2; exit 1; }
echo "docker.sh: installed $(/usr/bin/docker --version)"
