#!/usr/bin/env bash
# `apt-get install` of the given Debian packages without starting any service they ship: the
# test suite runs its own daemons (containerd, Prometheus) with per-run paths and loopback ports,
# and a system-wide one would hold the same ports and state. policy-rc.d exists only for the
# install, and only if the machine had none. Needs root. Exits with apt-get's status.
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: apt-install-no-services.sh PACKAGE[=VERSION]..." >&2; exit 2; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1; fi
rc=0
apt-get install -y -qq --no-install-recommends "$@" >/dev/null || rc=$?
[ "$created_policy" = 1 ] && rm -f "$policy"
exit "$rc"
