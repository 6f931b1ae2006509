#!/usr/bin/env bash
# Debian packages the node mode needs (test/cluster/README.md, "Node mode"): the container
# runtime, the OCI runtime, the CNI plugins, the image tools and iptables. Installed only when
# one is missing, so a machine that has them pays nothing. Needs root (apt-get).
set -euo pipefail
# package:file that proves it is installed
wanted=(
  containerd:/usr/bin/containerd
  runc:/usr/sbin/runc
  containernetworking-plugins:/usr/lib/cni/bridge
  buildah:/usr/bin/buildah
  skopeo:/usr/bin/skopeo
  umoci:/usr/bin/umoci
  iptables:/usr/sbin/iptables
)
missing=()
for w in "${wanted[@]}"; do
  [ -e "${w#*:}" ] || missing+=("${w%%:*}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "[node] installing Debian packages: ${missing[*]}"
t0=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d: the containerd package must not start a system-wide daemon; the node mode runs
# its own containerd with per-cluster paths.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1; fi
rc=0
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
[ "$created_policy" = 1 ] && rm -f "$policy"
[ "$rc" = 0 ] || { echo "[node] apt-get install failed ($rc)" >&2; exit "$rc"; }
echo "[node] packages installed in $(( $(date +%s) - t0 ))s"
