# Sourced by build-binaries.sh and kyverno/build.sh: go_wrap_build.
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
