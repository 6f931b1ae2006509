#!/usr/bin/env bash
# Builds the real control-plane components and Helm from their Go modules at pinned versions,
# cached by version outside the clone ($TG_CACHE_DIR/bin) so fresh clones and CI reuse them.
# Prints one progress line per component; keeps going past a failed component and exits
# non-zero at the end, naming every one that failed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
cache="${TG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/teardown-guard}"
bin="$cache/bin"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
started=$(date +%s)
failed=()

step() { # name target cmd...
  local name=$1 target=$2; shift 2
  if [ -x "$target" ]; then echo "[build] $name: cached ($(basename "$target"))"; return 0; fi
  echo "[build] $name: building (first run only; this takes minutes on 2 cores)..."
  local t0; t0=$(date +%s)
  local tmp="$target.tmp.$$"
  if ! "$@" "$tmp"; then rm -f "$tmp"; echo "[build] $name: FAILED" >&2; failed+=("$name"); return 0; fi
  mv "$tmp" "$target"
  echo "[build] $name: done in $(( $(date +%s) - t0 ))s"
}

kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION \
 -X k8s.io/component-base/version.gitMajor=${KUBE_VERSION%%.*} \
 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2) \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=v$KUBE_VERSION"

go_build_in() { # dir pkg ldflags out
  (cd "$1" && go build -trimpath -ldflags "$3" -o "$4" "$2")
}

# kubectl, kubelet and kube-scheduler come from the same k8s.io/kubernetes wrapper module; they
# are built in a scratch copy so the extra go.sum lines their packages need never touch the
# committed module.
kube_scratch_build() { # pkg out
  local w; w=$(mktemp -d)
  cp "$here/go/kube/go.mod" "$here/go/kube/go.sum" "$w/"
  (cd "$w" && go build -trimpath -ldflags "$kube_ldflags" -o "$2" "$1")
  local rc=$?; rm -rf "$w"; return $rc
}
kubectl_build() { kube_scratch_build k8s.io/kubernetes/cmd/kubectl "$1"; }

# go_wrap_build module version pkg ldflags out: a module's package built through a throwaway
# wrapper module (see the file).
# shellcheck source=go-wrap-build.sh
. "$here/go-wrap-build.sh"

step "etcd $ETCD_VERSION" "$bin/etcd-$ETCD_VERSION" \
  go_build_in "$here/go/etcd" go.etcd.io/etcd/server/v3 "-s -w"
step "kube-apiserver $KUBE_VERSION" "$bin/kube-apiserver-$KUBE_VERSION" \
  go_build_in "$here/go/kube" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
step "kube-controller-manager $KUBE_VERSION" "$bin/kube-controller-manager-$KUBE_VERSION" \
  go_build_in "$here/go/kube" k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"

olm_mod=github.com/operator-framework/operator-lifecycle-manager
step "olm-operator $OLM_VERSION" "$bin/olm-$OLM_VERSION" \
  go_wrap_build "$olm_mod" "v$OLM_VERSION" "$olm_mod/cmd/olm" \
  "-s -w -X $olm_mod/pkg/version.OLMVersion=$OLM_VERSION"

# OLM's CRDs and deployment manifests come from the same pinned modules (data, not code).
data="$cache/data/olm-$OLM_VERSION"
if [ ! -f "$data/.complete" ]; then
  echo "[build] OLM manifests $OLM_VERSION: extracting from the module"
  if olm_dir=$(GOFLAGS= go mod download -json "$olm_mod@v$OLM_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p') &&
    api_dir=$(GOFLAGS= go mod download -json "github.com/operator-framework/api@v$OLM_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p') &&
    [ -n "$olm_dir" ] && [ -n "$api_dir" ]; then
    rm -rf "$data" && mkdir -p "$data/crds"
    cp "$api_dir"/crds/operators.coreos.com_*.yaml "$data/crds/"
    cp -r "$olm_dir/deploy/upstream/quickstart" "$data/quickstart"
    chmod -R u+w "$data"
    touch "$data/.complete"
  else
    echo "[build] OLM manifests $OLM_VERSION: FAILED" >&2; failed+=("OLM manifests")
  fi
fi

step "helm $HELM3_VERSION" "$bin/helm-$HELM3_VERSION" \
  go_wrap_build helm.sh/helm/v3 "v$HELM3_VERSION" helm.sh/helm/v3/cmd/helm \
  "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM3_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
step "helm $HELM4_VERSION" "$bin/helm-$HELM4_VERSION" \
  go_wrap_build helm.sh/helm/v4 "v$HELM4_VERSION" helm.sh/helm/v4/cmd/helm \
  "-s -w -X helm.sh/helm/v4/internal/version.version=v$HELM4_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
sdk_hash=$(cat "$here/go/helm-sdk-uninstall/"{go.mod,go.sum,main.go} | sha256sum | cut -c1-12)
step "helm-sdk-uninstall ($sdk_hash)" "$bin/helm-sdk-uninstall-$sdk_hash" \
  go_build_in "$here/go/helm-sdk-uninstall" . "-s -w"
step "kubectl $KUBE_VERSION" "$bin/kubectl-$KUBE_VERSION" kubectl_build

# Flux's helm-controller, and its CRDs plus the source-controller CRDs it watches, from the
# source-controller release whose api module its go.mod requires (data, not code).
flux_mod=github.com/fluxcd/helm-controller
step "helm-controller $HELM_CONTROLLER_VERSION" "$bin/helm-controller-$HELM_CONTROLLER_VERSION" \
  go_wrap_build "$flux_mod" "v$HELM_CONTROLLER_VERSION" "$flux_mod" "-s -w"
flux_data="$cache/data/flux-$HELM_CONTROLLER_VERSION"
if [ ! -f "$flux_data/.complete" ]; then
  echo "[build] Flux CRDs $HELM_CONTROLLER_VERSION: extracting from the modules"
  mod_dir() { GOFLAGS= go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'; }
  if hc_dir=$(mod_dir "$flux_mod@v$HELM_CONTROLLER_VERSION") && [ -n "$hc_dir" ] &&
    src_ver=$(sed -n 's|^[[:space:]]*github.com/fluxcd/source-controller/api \(v[^ ]*\).*|\1|p' "$hc_dir/go.mod") && [ -n "$src_ver" ] &&
    src_dir=$(mod_dir "github.com/fluxcd/source-controller@$src_ver") && [ -n "$src_dir" ] &&
    grep -q "github.com/fluxcd/source-controller/api $src_ver" "$src_dir/go.mod"; then
    rm -rf "$flux_data" && mkdir -p "$flux_data/crds"
    cp "$hc_dir"/config/crd/bases/*.yaml "$src_dir"/config/crd/bases/*.yaml "$flux_data/crds/"
    echo "$src_ver" >"$flux_data/source-controller-version"
    chmod -R u+w "$flux_data"
    touch "$flux_data/.complete"
  else
    echo "[build] Flux CRDs $HELM_CONTROLLER_VERSION: FAILED" >&2; failed+=("Flux CRDs")
  fi
fi

# metrics-server: a real aggregated API server (metrics.k8s.io) the APIService scenarios start
# and stop (test/cluster/metricsServer.ts). Its go.mod has no replace lines.
ms_mod=sigs.k8s.io/metrics-server
step "metrics-server $METRICS_SERVER_VERSION" "$bin/metrics-server-$METRICS_SERVER_VERSION" \
  go_wrap_build "$ms_mod" "v$METRICS_SERVER_VERSION" "$ms_mod/cmd/metrics-server" "-s -w"

# The real operators' charts and manifests (test/operators/operators.json), copied out of their
# pinned modules into $cache/data/operators/<name>-<version> (data, not code; cached by version).
if command -v node >/dev/null; then
  TG_CACHE_DIR="$cache" node "$here/../operators/extract.ts" || failed+=("operator data")
else
  echo "[build] operator data: FAILED (no node on PATH; .ci/ensure-node.sh provides it)" >&2; failed+=("operator data")
fi

# The corpus's real charts (test/corpus/charts.yaml): data copied out of the Go modules that ship
# them into $cache/data/charts/<module>@<version>/<chart>, cached by version
# (test/corpus/fetch-charts.ts names every chart it could not fetch).
if command -v node >/dev/null; then
  TG_CACHE_DIR="$cache" node "$here/../corpus/fetch-charts.ts" || failed+=("corpus charts")
else
  echo "[build] corpus charts: FAILED (no node on PATH; .ci/ensure-node.sh provides it)" >&2; failed+=("corpus charts")
fi

# Node mode (test/cluster/README.md): kubelet and kube-scheduler from the same wrapper module, and
# the node images (pause, the two bases of the Dockerfile's stages) from the cached Node 24.
step "kubelet $KUBE_VERSION" "$bin/kubelet-$KUBE_VERSION" kube_scratch_build k8s.io/kubernetes/cmd/kubelet
step "kube-scheduler $KUBE_VERSION" "$bin/kube-scheduler-$KUBE_VERSION" kube_scratch_build k8s.io/kubernetes/cmd/kube-scheduler
# The NetworkPolicy enforcer of the node lane's NetworkPolicy test (its own script: the test
# also runs it when the binary is missing).
bash "$here/node/build-kube-router.sh" | grep '^\[build\]' || { echo "[build] kube-router: FAILED" >&2; failed+=("kube-router"); }
if command -v buildah >/dev/null; then
  bash "$here/node/build-images.sh" "$cache" "$(command -v node)" || { echo "[build] node images: FAILED" >&2; failed+=("node images"); }
else
  echo "[build] node images: skipped (no buildah; test/cluster/node/install-packages.sh installs it, as root)"
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "[build] FAILED: ${failed[*]} (after $(( $(date +%s) - started ))s)" >&2
  exit 1
fi
echo "[build] all components ready in $(( $(date +%s) - started ))s"
