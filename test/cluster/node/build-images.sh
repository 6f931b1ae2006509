#!/usr/bin/env bash
# The node mode's images, made without any registry and cached by content in $cache/images
# (test/cluster/README.md, "Node mode"):
#   pause-<hash>.tar       the sandbox image: the static program in test/cluster/go/pause
#   node-build-<v>.tar     base of the Dockerfile's build stage: the cached Node 24, npm, a shell
#   node-runtime-<v>.tar   base of its runtime stage: Node 24 at /nodejs/bin/node and user 65532,
#                          the layout of the distroless image the Dockerfile names by default
# All are OCI archives; the guard's build passes the two bases as build arguments
# (test/cluster/node/image.ts) and the node imports the pause image into containerd.
# Usage: build-images.sh CACHE_DIR NODE_BIN  (called by build-binaries.sh)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../versions.env
. "$here/../versions.env"
cache=$1 node_bin=$2
images="$cache/images"
mkdir -p "$images"
node_version=$("$node_bin" --version | tr -d v)
pause_hash=$(cat "$here/../go/pause/"{go.mod,main.go} | sha256sum | cut -c1-12)
pause_tar="$images/pause-$pause_hash.tar"
build_tar="$images/node-build-$node_version-npm-$NPM_VERSION.tar"
runtime_tar="$images/node-runtime-$node_version.tar"
if [ -s "$pause_tar" ] && [ -s "$build_tar" ] && [ -s "$runtime_tar" ]; then
  echo "[build] node images: cached"; exit 0
fi
t0=$(date +%s)
work=$(mktemp -d)
store=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
# buildah creates these at fixed host paths even with its own store; gone again unless they
# were there before.
created=()
for d in /etc/cni /var/lib/containers; do [ -e "$d" ] || created+=("$d"); done
cleanup() {
  buildah "${store[@]}" rm --all >/dev/null 2>&1 || true
  rm -rf "$work" "${created[@]+"${created[@]}"}"
}
trap cleanup EXIT

# Copies a host executable and every shared library it loads into rootfs $1 at the same paths.
copy_with_libs() { # rootfs file dest
  local root=$1 file=$2 dest=$3
  install -D -m 0755 "$file" "$root$dest"
  ldd "$file" | awk '/=> \//{print $3} /^[ \t]*\/lib/{print $1}' | while read -r lib; do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}
# /etc files both bases share: users root and nonroot (65532, as in the distroless image), CAs.
base_etc() { # rootfs
  local root=$1
  mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/root" "$root/home/nonroot"
  chmod 1777 "$root/tmp"; chown 65532:65532 "$root/home/nonroot"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
}
# commit_rootfs rootfs name archive buildah-config-args...
commit_rootfs() {
  local root=$1 name=$2 out=$3; shift 3
  local c; c=$(buildah "${store[@]}" from scratch)
  buildah "${store[@]}" copy --quiet "$c" "$root" / >/dev/null
  buildah "${store[@]}" config "$@" "$c"
  buildah "${store[@]}" commit --quiet "$c" "$name" >/dev/null
  buildah "${store[@]}" push --quiet "$name" "oci-archive:$out.tmp:$name"
  mv "$out.tmp" "$out"
}

if [ ! -s "$pause_tar" ]; then
  r="$work/pause"; mkdir -p "$r"
  (cd "$here/../go/pause" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$r/pause" .)
  commit_rootfs "$r" "localhost/teardown-guard-test/pause:$pause_hash" "$pause_tar" \
    --entrypoint '["/pause"]' --user 65535:65535
fi

if [ ! -s "$build_tar" ]; then
  npm_dir="$cache/npm-$NPM_VERSION"
  if [ ! -f "$npm_dir/node_modules/npm/package.json" ]; then
    npm install --no-save --no-package-lock --no-audit --no-fund --prefix "$npm_dir" "npm@$NPM_VERSION" >/dev/null
  fi
  r="$work/build"; mkdir -p "$r/usr/lib" "$r/usr/local/lib/node_modules"
  ln -s usr/bin "$r/bin"; ln -s usr/lib "$r/lib"; ln -s usr/sbin "$r/sbin"
  base_etc "$r"
  copy_with_libs "$r" "$node_bin" /usr/local/bin/node
  copy_with_libs "$r" "$(readlink -f /bin/sh)" /usr/bin/sh
  copy_with_libs "$r" "$(readlink -f /usr/bin/env)" /usr/bin/env
  cp -r "$npm_dir/node_modules/npm" "$r/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/local/bin/npx"
  # The registry npm uses on this machine, so `npm ci` in the build stage reaches the same one.
  mkdir -p "$r/usr/local/etc"
  echo "registry=$(npm config get registry)" >"$r/usr/local/etc/npmrc"
  commit_rootfs "$r" "localhost/teardown-guard-test/node-build:$node_version" "$build_tar" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    --cmd '["node"]'
fi

if [ ! -s "$runtime_tar" ]; then
  r="$work/runtime"; mkdir -p "$r/usr/lib"
  ln -s usr/lib "$r/lib"
  base_etc "$r"
  copy_with_libs "$r" "$node_bin" /nodejs/bin/node
  commit_rootfs "$r" "localhost/teardown-guard-test/node-runtime:$node_version" "$runtime_tar" \
    --user 65532:65532 --workingdir /home/nonroot \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --entrypoint '["/nodejs/bin/node"]'
fi
echo "[build] node images: done in $(( $(date +%s) - t0 ))s ($images)"
