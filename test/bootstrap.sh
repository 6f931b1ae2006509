# Sourced by the README's two commands: makes a fresh machine ready to run the project.
# Node 24 (cached), openssl, the npm dependencies from the lockfile, and the pinned
# control-plane binaries (built once, cached by version).
. .ci/ensure-node.sh
command -v openssl >/dev/null || { echo "installing openssl (Debian package)"; apt-get update -qq && apt-get install -y -qq openssl; }
# The node mode's Debian packages (containerd, runc, CNI plugins, buildah, ...); root only, like
# the node mode itself.
if [ "$(id -u)" = 0 ]; then bash test/cluster/node/install-packages.sh || echo "node packages not installed: node mode unavailable" >&2; fi
# Prometheus and promtool (Debian's package, pinned in test/cluster/versions.env) for the alert-rule
# tests and the scrape test; root only, like apt-get. Without it those tests fail saying so.
if [ "$(id -u)" = 0 ]; then bash test/monitoring/install-prometheus.sh || echo "prometheus not installed: the monitoring tests will fail" >&2; fi
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
bash test/cluster/build-binaries.sh
