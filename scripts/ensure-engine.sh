#!/usr/bin/env bash
# Makes sure the tools the test suite drives are here and a Docker Engine answers:
# installs Debian's docker.io (and the browser, compose, the test LMS's Django and
# the nginx edge) when missing, starts dockerd in the background when no engine
# answers, and waits for its socket.
set -euo pipefail

DOCKER=/usr/bin/docker
SOCKET=/var/run/docker.sock
need=()
[ -x "$DOCKER" ] && command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v busybox >/dev/null || need+=(busybox-static)
# The test LMS (test/lms) runs on Debian's Python, not whatever python3 is first on PATH;
# python3-cryptography is only a Recommends of python3-jwt, and RS256 needs it.
/usr/bin/python3 -c 'import django' 2>/dev/null || need+=(python3-django)
/usr/bin/python3 -c 'import rest_framework' 2>/dev/null || need+=(python3-djangorestframework)
/usr/bin/python3 -c 'import rest_framework_simplejwt' 2>/dev/null || need+=(python3-djangorestframework-simplejwt)
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || need+=(python3-cryptography)
[ -x /usr/sbin/nginx ] || need+=(nginx-light)

if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-engine: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! "$DOCKER" info >/dev/null 2>&1; then
  echo "ensure-engine: starting dockerd" >&2
  mkdir -p /var/log
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    [ -S "$SOCKET" ] && "$DOCKER" info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! "$DOCKER" info >/dev/null 2>&1; then
    echo "ensure-engine: the Docker Engine did not come up; last lines of /var/log/dockerd.log:" >&2
    tail -20 /var/log/dockerd.log >&2 || true
    exit 1
  fi
fi
echo "ensure-engine: engine $("$DOCKER" version --format '{{.Server.Version}}') ready" >&2
