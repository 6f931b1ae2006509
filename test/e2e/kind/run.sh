#!/usr/bin/env bash
# End-to-end on kind: build the image, load it into a fresh kind cluster, deploy
# manifests/overlays/self-signed, wait until the guard is ready and answering the API server, then
# run the same scenario suite the loopback control plane runs (test/integration/scenarios*.test.ts,
# through test/e2e/kind/vitest.config.ts), and finally uninstall the guard the way an operator
# would (`kubectl delete` of the rendered overlay).
#
#   bash test/e2e/kind/run.sh                 # everything, cluster deleted at the end
#   KEEP_CLUSTER=1 bash test/e2e/kind/run.sh  # keep the cluster (and its work dir) for debugging
#   bash test/e2e/kind/run.sh -t 'S1'         # extra arguments go to vitest
#
# Environment: KIND_CLUSTER_NAME (default teardown-guard-e2e), KIND_NODE_IMAGE (default: kind's),
# TG_E2E_INCLUDE (test files, comma-separated globs), KEEP_CLUSTER=1.
# Needs docker (with a running engine), kind, kubectl (the pinned one from
# `npm run build:binaries` is used when built) and the repo's node_modules (`npm ci`). Where Docker
# or kind is missing it says so and exits 0: there is nothing to test against.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cluster="${KIND_CLUSTER_NAME:-teardown-guard-e2e}"
ns=teardown-guard
tag="$(sed -n 's/^ *newTag: *//p' "$repo/manifests/base/kustomization.yaml" | head -1)"
image="teardown-guard:${tag:?cannot read newTag from manifests/base/kustomization.yaml}"

say() { echo "[e2e] $*"; }
skip() { echo "[e2e] SKIPPED: $* (the kind e2e needs a container engine; nothing was run)"; exit 0; }
die() { echo "[e2e] FAILED: $*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 || skip "docker CLI not found"
docker info >/dev/null 2>&1 || skip "no Docker engine reachable ('docker info' failed)"
command -v kind >/dev/null 2>&1 || skip "kind not found (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"

# Node 24 (the repo's pinned one), then the pinned kubectl if built, else the one on PATH.
# shellcheck source=/dev/null
. "$repo/.ci/ensure-node.sh"
[ -d "$repo/node_modules" ] || die "node_modules missing: run 'npm ci' first"
kube_version="$(sed -n 's/^KUBE_VERSION=//p' "$repo/test/cluster/versions.env")"
kubectl_bin="${TG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/teardown-guard}/bin/kubectl-$kube_version"
[ -x "$kubectl_bin" ] || kubectl_bin="$(command -v kubectl || true)"
[ -n "$kubectl_bin" ] || die "kubectl not found (run 'npm run build:binaries' or install kubectl)"

work="$(mktemp -d "${TMPDIR:-/tmp}/tg-e2e.XXXXXX")"
export KUBECONFIG="$work/kubeconfig"
k() { "$kubectl_bin" "$@"; }
created=0
cleanup() {
  local rc=$?
  if [ "${KEEP_CLUSTER:-0}" = 1 ]; then
    say "kept cluster $cluster (KUBECONFIG=$KUBECONFIG) and work dir $work; remove with: kind delete cluster --name $cluster"
  else
    if [ "$created" = 1 ]; then kind delete cluster --name "$cluster" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT

t0=$(date +%s)
say "1/7 building $image"
docker build -t "$image" "$repo"

say "2/7 creating kind cluster $cluster"
mkdir -p "$work/audit"
node --input-type=module -e "import { AUDIT_POLICY } from '$repo/test/cluster/controlPlane.ts'; process.stdout.write(AUDIT_POLICY);" >"$work/audit/policy.yaml"
sed "s#@E2E_DIR@#$work#g" "$here/kind-config.yaml" >"$work/kind-config.yaml"
if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  die "a kind cluster named $cluster already exists; delete it (kind delete cluster --name $cluster) or set KIND_CLUSTER_NAME"
fi
created=1
kind create cluster --name "$cluster" --config "$work/kind-config.yaml" --kubeconfig "$KUBECONFIG" --wait 180s \
  ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"}
# The API server (root in the node) creates the audit log 0600; make it readable for the suite.
for _ in $(seq 1 30); do
  docker exec "$cluster-control-plane" sh -c 'test -f /var/log/teardown-guard-audit/audit.log' && break
  sleep 1
done
docker exec "$cluster-control-plane" chmod -R a+rX /var/log/teardown-guard-audit || say "warning: audit log not readable; audit assertions will see nothing"

say "3/7 loading images into the nodes"
kind load docker-image "$image" --name "$cluster"
# The Pixie-shaped chart runs the real olm-operator in the cluster: pre-load its image (best effort).
olm_image="$(sed -n 's/^olmImage: *//p' "$repo/test/scenarios/charts/pixie-like/values.yaml" | head -1)"
if [ -n "$olm_image" ]; then
  if { docker image inspect "$olm_image" >/dev/null 2>&1 || docker pull "$olm_image"; } && kind load docker-image "$olm_image" --name "$cluster"; then
    say "pre-loaded $olm_image"
  else
    say "warning: could not pre-load $olm_image; the nodes will pull it"
  fi
fi

say "4/7 deploying manifests/overlays/self-signed (certificates from certs/generate.sh)"
# A copy of manifests/, so the working tree's generated/ (and its private key) is never touched.
cp -R "$repo/manifests" "$work/manifests"
rm -rf "$work/manifests/overlays/self-signed/generated"
bash "$repo/certs/generate.sh" --out "$work/certs" --kustomize-dir "$work/manifests/overlays/self-signed/generated" --days 2 --ca-days 2
k kustomize "$work/manifests/overlays/self-signed" >"$work/rendered.yaml"
k apply -f "$work/rendered.yaml"

say "5/7 waiting for readiness"
k -n "$ns" rollout status deployment/teardown-guard --timeout=300s
proxy="/api/v1/namespaces/$ns/services/https:teardown-guard:https/proxy"
ready=0
for _ in $(seq 1 60); do
  if k get --raw "$proxy/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 2
done
[ "$ready" = 1 ] || { k -n "$ns" logs -l app.kubernetes.io/name=teardown-guard --tail=50 --prefix || true; die "the guard never became ready"; }
# The shipped webhook configuration is live: a dry-run namespace DELETE reaches the guard.
answered() { k get --raw "$proxy/metrics" | awk '/^teardown_guard_admission_requests_total/ { s += $NF } END { print s + 0 }'; }
k create namespace tg-e2e-smoke >/dev/null
before="$(answered)"
live=0
for _ in $(seq 1 30); do
  k delete namespace tg-e2e-smoke --dry-run=server >/dev/null 2>&1 || true
  if [ "$(answered)" != "$before" ]; then live=1; break; fi
  sleep 1
done
k delete namespace tg-e2e-smoke --wait=false >/dev/null
[ "$live" = 1 ] || die "the API server never called the guard through the deployed ValidatingWebhookConfiguration"
say "guard ready and called by the API server ($(( $(date +%s) - t0 ))s so far)"
# The suite registers the webhooks itself (some scenarios reproduce the incidents without the
# guard first); start from the same state the loopback run starts from.
k delete validatingwebhookconfiguration teardown-guard

say "6/7 running the scenario suite in-cluster"
include="${TG_E2E_INCLUDE:-test/integration/scenarios*.test.ts}"
# shellcheck disable=SC2046 # the globs are meant to expand here, only to check that files exist
if ! (cd "$repo" && ls $(echo "$include" | tr ',' ' ') >/dev/null 2>&1); then die "no scenario test files match $include"; fi
suite_rc=0
(cd "$repo" && TG_E2E_KUBECONFIG="$KUBECONFIG" TG_E2E_DIR="$work" TG_E2E_INCLUDE="$include" \
  npx vitest run --config test/e2e/kind/vitest.config.ts "$@") || suite_rc=$?

say "7/7 uninstalling the guard (it never blocks its own removal)"
k apply -f "$work/rendered.yaml" >/dev/null # the webhooks back, as an installed guard has them
k delete -f "$work/rendered.yaml" --wait=true --timeout=180s || die "uninstalling the guard failed"

[ "$suite_rc" = 0 ] || die "scenario suite failed (exit $suite_rc)"
say "passed in $(( $(date +%s) - t0 ))s"
