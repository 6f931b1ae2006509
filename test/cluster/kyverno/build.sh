#!/usr/bin/env bash
# Builds Kyverno's admission controller from its Go module at the pinned version and extracts its
# CRDs from the same module, cached by version like build-binaries.sh does. Kept out of
# build-binaries.sh on purpose: only the comparison bench (`--kyverno`) and the verdict test need
# it, and CI must not pay for a build this large.
# Prints the cached binary's path as the last line on success.
#
# Cost, measured on 2 vCPU with empty Go module and build caches: 19 min (1139 s for the build
# step, module downloads included), while a build-binaries.sh run shared the two cores; ~20 s
# once the Go build cache is warm. The binary is ~135 MiB.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../versions.env
. "$here/../versions.env"
cache="${TG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/teardown-guard}"
bin="$cache/bin"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
mod=github.com/kyverno/kyverno
ver="v$KYVERNO_VERSION"
target="$bin/kyverno-$KYVERNO_VERSION"
data="$cache/data/kyverno-$KYVERNO_VERSION"

mod_dir() { GOFLAGS= go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'; }

# The wrapper module build-binaries.sh uses: the proxy need not serve version lists, and the
# module's own go.sum and replace lines pin every dependency exactly as upstream builds it.
# shellcheck source=../go-wrap-build.sh
. "$here/../go-wrap-build.sh"

go_cached_build kyverno "$KYVERNO_VERSION" "$mod" "$ver" "$mod/cmd/kyverno" "-s -w -X $mod/pkg/version.BuildVersion=$ver" "$target"

if [ ! -f "$data/.complete" ]; then
  echo "[build] Kyverno CRDs $KYVERNO_VERSION: extracting from the module"
  dir=$(mod_dir "$mod@$ver")
  if [ -z "$dir" ] || ! ls "$dir"/config/crds/*/*.yaml >/dev/null 2>&1; then
    echo "[build] Kyverno CRDs $KYVERNO_VERSION: FAILED" >&2
    exit 1
  fi
  rm -rf "$data" && mkdir -p "$data/crds"
  cp "$dir"/config/crds/*/*.yaml "$data/crds/"
  chmod -R u+w "$data"
  touch "$data/.complete"
fi
echo "$target"
