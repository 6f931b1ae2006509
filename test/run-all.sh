#!/usr/bin/env bash
# Runs every test: unit tests and the integration suite against real control planes on loopback.
# Works on a fresh machine (see test/bootstrap.sh).
#
# The vitest projects (vitest.config.ts: the unit tier and the integration lanes) run side by
# side, one vitest process each, every line prefixed with its project's name; each integration
# lane runs its files one at a time (test/cluster/README.md, "Lanes"). The exit status is the
# first failing project's. With arguments it is one `vitest run` with them instead (one file,
# one project, a reporter). TG_TEST_REPORT_DIR=DIR also writes each project's JSON report there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/bootstrap.sh
if [ "$#" -gt 0 ]; then exec npx vitest run "$@"; fi

projects=(unit integration integration-helm integration-node)
pids=()
for p in "${projects[@]}"; do
  report=()
  if [ -n "${TG_TEST_REPORT_DIR:-}" ]; then
    mkdir -p "$TG_TEST_REPORT_DIR"
    report=(--reporter=default --reporter=json "--outputFile.json=$TG_TEST_REPORT_DIR/$p.json")
  fi
  (set -o pipefail; npx vitest run --project "$p" "${report[@]}" 2>&1 | sed -u "s/^/[$p] /") &
  pids+=("$!")
done
status=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "[${projects[$i]}] FAILED" >&2
    [ "$status" -ne 0 ] || status=1
  fi
done
exit "$status"
