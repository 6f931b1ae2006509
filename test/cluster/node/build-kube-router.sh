#!/usr/bin/env bash
# Builds kube-router (its network policy controller is the NetworkPolicy enforcer of
# test/integration/networkPolicyNode.test.ts: the node's bridge CNI enforces none) from its Go
# module at the pinned version, cached by version like build-binaries.sh does, which calls this
# script; the test calls it too when the binary is missing, so a fresh machine needs no extra step.
# Prints the cached binary's path as the last line on success.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../versions.env
. "$here/../versions.env"
cache="${TG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/teardown-guard}"
bin="$cache/bin"
mkdir -p "$bin"
# Upstream's Makefile builds it with CGO off too.
export CGO_ENABLED=0 GOFLAGS=-mod=mod
mod=github.com/cloudnativelabs/kube-router/v2
ver="v$KUBE_ROUTER_VERSION"
target="$bin/kube-router-$KUBE_ROUTER_VERSION"

# shellcheck source=../go-wrap-build.sh
. "$here/../go-wrap-build.sh"

go_cached_build kube-router "$KUBE_ROUTER_VERSION" "$mod" "$ver" "$mod/cmd/kube-router" "-s -w -X $mod/pkg/version.Version=$ver" "$target"
echo "$target"
