#!/usr/bin/env bash
# Debian packages the node mode needs (test/cluster/README.md, "Node mode"): the container
# runtime, the OCI runtime, the CNI plugins, the image tools, iptables and ipset (kube-router's
# network policy controller, networkPolicyNode.test.ts). Installed only when
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
  ipset:/usr/sbin/ipset
)
missing=()
for w in "${wanted[@]}"; do
  [ -e "${w#*:}" ] || missing+=("${w%%:*}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "[node] installing Debian packages: ${missing[*]}"
t0=$(date +%s)
rc=0
bash "$(dirname "${BASH_SOURCE[0]}")/../apt-install-no-services.sh" "${missing[@]}" || rc=$?
[ "$rc" = 0 ] || { echo "[node] apt-get install failed ($rc)" >&2; exit "$rc"; }
echo "[node] packages installed in $(( $(date +%s) - t0 ))s"
