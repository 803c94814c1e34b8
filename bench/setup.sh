#!/usr/bin/env bash
# Installs the peer (nginx + Nchan) for the side-by-side scenarios, without
# starting Debian's own nginx service: the bench starts its own on loopback.
set -euo pipefail
if [ -f /usr/share/nginx/modules-available/mod-http-nchan.conf ] || [ -f /usr/lib/nginx/modules/ngx_nchan_module.so ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends nginx libnginx-mod-nchan >/dev/null
# Debian may have started its own nginx on :80; the bench needs none of it.
if [ -f /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
  $SUDO nginx -s quit || true
fi
