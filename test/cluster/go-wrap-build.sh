# Sourced by build-binaries.sh, kyverno/build.sh and node/build-kube-router.sh: go_wrap_build, go_cached_build.
# shellcheck shell=bash

# `go install module/pkg@version` needs the proxy's version list (to look up deprecations), which
# not every module proxy serves. A throwaway wrapper module that requires the exact version, with
# the module's own go.sum (and replace lines, if any), builds the same package offline-first.
go_wrap_build() { # module version pkg ldflags out
  local mod=$1 ver=$2 pkg=$3 ldflags=$4 out=$5
  local w; w=$(mktemp -d)
  local dir; dir=$(cd "$w" && GOFLAGS= go mod download -json "$mod@$ver" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  if [ -z "$dir" ]; then rm -rf "$w"; return 1; fi
  local gover; gover=$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$dir/go.mod" | head -1)
  {
    echo "module teardown-guard.test/build/$(basename "$pkg")"
    echo
    echo "go ${gover:-1.22}"
    echo
    echo "require $mod $ver"
    # Local-path replaces name nested modules, absent from the module zip; the require line's
    # published release of that module is used instead.
    sed -n '/^replace (/,/^)/p; /^replace [^(]/p' "$dir/go.mod" | sed '/=>[[:space:]]*\.\{1,2\}\//d'
  } >"$w/go.mod"
  cp "$dir/go.sum" "$w/go.sum" && chmod u+w "$w/go.sum"
  (cd "$w" && go build -trimpath -ldflags "$ldflags" -o "$out" "$pkg")
  local rc=$?; rm -rf "$w"; return $rc
}

# A pinned binary built into the cache once: `[build]` lines say cached, building or FAILED (the
# callers' logs forward exactly those), and the binary appears under its final name only when
# whole, so an interrupted build is never taken for a cached one.
go_cached_build() { # label version module modversion pkg ldflags target
  local label=$1 version=$2 mod=$3 ver=$4 pkg=$5 ldflags=$6 target=$7
  if [ -x "$target" ]; then
    echo "[build] $label $version: cached ($(basename "$target"))"
    return 0
  fi
  echo "[build] $label $version: building (first run only; this takes minutes on 2 cores)..."
  local t0; t0=$(date +%s)
  local tmp="$target.tmp.$$"
  if ! go_wrap_build "$mod" "$ver" "$pkg" "$ldflags" "$tmp"; then
    rm -f "$tmp"
    echo "[build] $label $version: FAILED" >&2
    return 1
  fi
  mv "$tmp" "$target"
  echo "[build] $label $version: done in $(($(date +%s) - t0))s"
}
