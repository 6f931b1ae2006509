#!/usr/bin/env bash
# Prometheus and promtool at the version pinned in test/cluster/versions.env, from Debian's
# `prometheus` package (both binaries come in it, built at one version). Installed only when
# missing or at another version, so a machine that has it pays nothing. Needs root (apt-get);
# without root it says what to run and exits 1. The package's service is never started: the
# tests run their own Prometheus on a loopback port with a temporary data directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
. "$here/../cluster/versions.env"
installed="$(dpkg-query -W -f='${Version}' prometheus 2>/dev/null || true)"
if [ "$installed" = "$PROMETHEUS_DEB_VERSION" ] && [ -x /usr/bin/promtool ] && [ -x /usr/bin/prometheus ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "[prometheus] Debian package prometheus=$PROMETHEUS_DEB_VERSION is not installed (found: ${installed:-none}); run \`bash test/bootstrap.sh\` as root" >&2
  exit 1
fi
echo "[prometheus] installing Debian package prometheus=$PROMETHEUS_DEB_VERSION"
t0=$(date +%s)
# The package's service must not start a system-wide Prometheus on :9090.
rc=0
bash "$here/../cluster/apt-install-no-services.sh" "prometheus=$PROMETHEUS_DEB_VERSION" || rc=$?
if [ "$rc" != 0 ]; then
  echo "[prometheus] apt-get install prometheus=$PROMETHEUS_DEB_VERSION failed ($rc); apt-cache policy prometheus says:" >&2
  apt-cache policy prometheus >&2 || true
  echo "[prometheus] if Debian now serves another revision, set PROMETHEUS_DEB_VERSION (and PROMETHEUS_VERSION) in test/cluster/versions.env" >&2
  exit "$rc"
fi
echo "[prometheus] installed in $(($(date +%s) - t0))s: $(promtool --version 2>&1 | head -1)"
