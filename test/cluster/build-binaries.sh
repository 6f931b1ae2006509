#!/usr/bin/env bash
# Builds the real control-plane components and Helm from their Go modules at pinned versions,
# cached by version outside the clone ($TG_CACHE_DIR/bin) so fresh clones and CI reuse them.
# Prints one progress line per component; exits non-zero if any build fails.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
cache="${TG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/teardown-guard}"
bin="$cache/bin"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
started=$(date +%s)

step() { # name target cmd...
  local name=$1 target=$2; shift 2
  if [ -x "$target" ]; then echo "[build] $name: cached ($(basename "$target"))"; return 0; fi
  echo "[build] $name: building (first run only; this takes minutes on 2 cores)..."
  local t0; t0=$(date +%s)
  local tmp="$target.tmp.$$"
  if ! "$@" "$tmp"; then rm -f "$tmp"; echo "[build] $name: FAILED" >&2; return 1; fi
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

step "etcd $ETCD_VERSION" "$bin/etcd-$ETCD_VERSION" \
  go_build_in "$here/go/etcd" go.etcd.io/etcd/server/v3 "-s -w"
step "kube-apiserver $KUBE_VERSION" "$bin/kube-apiserver-$KUBE_VERSION" \
  go_build_in "$here/go/kube" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
step "kube-controller-manager $KUBE_VERSION" "$bin/kube-controller-manager-$KUBE_VERSION" \
  go_build_in "$here/go/kube" k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"

go_install_to() { # module@version pkg out
  local gobin; gobin=$(mktemp -d)
  (cd "$gobin" && GOBIN="$gobin" GOFLAGS= go install -trimpath -ldflags "-s -w" "$2@$1") &&
    mv "$gobin/$(basename "$2")" "$3"; local rc=$?; rm -rf "$gobin"; return $rc
}
step "olm-operator $OLM_VERSION" "$bin/olm-$OLM_VERSION" \
  go_install_to "v$OLM_VERSION" github.com/operator-framework/operator-lifecycle-manager/cmd/olm
step "helm $HELM3_VERSION" "$bin/helm-$HELM3_VERSION" \
  go_install_to "v$HELM3_VERSION" helm.sh/helm/v3/cmd/helm
step "helm $HELM4_VERSION" "$bin/helm-$HELM4_VERSION" \
  go_install_to "v$HELM4_VERSION" helm.sh/helm/v4/cmd/helm
sdk_hash=$(cat "$here/go/helm-sdk-uninstall/"{go.mod,go.sum,main.go} | sha256sum | cut -c1-12)
step "helm-sdk-uninstall ($sdk_hash)" "$bin/helm-sdk-uninstall-$sdk_hash" \
  go_build_in "$here/go/helm-sdk-uninstall" . "-s -w"

# OLM's CRDs and deployment manifests come from the same pinned modules (data, not code).
data="$cache/data/olm-$OLM_VERSION"
if [ ! -f "$data/.complete" ]; then
  echo "[build] OLM manifests $OLM_VERSION: extracting from the module"
  olm_dir=$(GOFLAGS= go mod download -json "github.com/operator-framework/operator-lifecycle-manager@v$OLM_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  api_dir=$(GOFLAGS= go mod download -json "github.com/operator-framework/api@v$OLM_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  rm -rf "$data" && mkdir -p "$data/crds"
  cp "$api_dir"/crds/operators.coreos.com_*.yaml "$data/crds/"
  cp -r "$olm_dir/deploy/upstream/quickstart" "$data/quickstart"
  chmod -R u+w "$data"
  touch "$data/.complete"
fi
echo "[build] all components ready in $(( $(date +%s) - started ))s"
