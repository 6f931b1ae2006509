#!/usr/bin/env bash
# Runs every test: unit tests and the integration suite against real control planes on loopback.
# Works on a fresh machine (see test/bootstrap.sh).
#
# The vitest projects (vitest.config.ts: the unit tier and the integration lanes) run side by
# side, one vitest process each, every line prefixed with its project's name; each integration
# lane runs its files one at a time (test/cluster/README.md, "Lanes"). The exit status is the
# first failing project's; after every project has ended, each failed one's failures are printed
# again (vitest's "Failed Tests" and error sections), so that they end the output: a CI that keeps
# only the output's tail still shows why. With arguments it is one `vitest run` with them instead
# (one file, one project, a reporter). TG_TEST_REPORT_DIR=DIR also writes each project's JSON
# report there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/bootstrap.sh
if [ "$#" -gt 0 ]; then exec npx vitest run "$@"; fi

projects=(unit integration integration-helm integration-node)
logs=$(mktemp -d "${TMPDIR:-/tmp}/tg-run-all-XXXXXX")
trap 'rm -rf "$logs"' EXIT
pids=()
for p in "${projects[@]}"; do
  report=()
  if [ -n "${TG_TEST_REPORT_DIR:-}" ]; then
    mkdir -p "$TG_TEST_REPORT_DIR"
    report=(--reporter=default --reporter=json "--outputFile.json=$TG_TEST_REPORT_DIR/$p.json")
  fi
  (
    set +e
    npx vitest run --project "$p" "${report[@]}" 2>&1 | tee "$logs/$p.log" | sed -u "s/^/[$p] /"
    s=${PIPESTATUS[0]}
    echo "$s" >"$logs/$p.status"
    exit "$s"
  ) &
  pids+=("$!")
done
status=0
failed=()
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    failed+=("${projects[$i]}")
    [ "$status" -ne 0 ] || status=1
  fi
done
# vitest ends a failed run with its failures (from the first "Failed Tests", "Failed Suites" or
# "Unhandled Errors" rule on); a project that died before printing them gets its last lines.
for p in "${failed[@]}"; do
  s=$(cat "$logs/$p.status" 2>/dev/null || echo '?')
  how="vitest exited $s"
  if [ "$s" != '?' ] && [ "$s" -gt 128 ]; then how="$how: killed by signal $((s - 128)), so it printed no summary"; fi
  echo "==== [$p] FAILED ($how); its failures, as it printed them ===="
  from=$(grep -n -m1 -E 'Failed (Tests|Suites) [0-9]|Unhandled (Errors|Rejection)' "$logs/$p.log" | cut -d: -f1 || true)
  if [ -n "$from" ]; then tail -n "+$from" "$logs/$p.log" | head -n 400; else tail -n 80 "$logs/$p.log"; fi | sed "s/^/[$p] /"
done
[ "${#failed[@]}" -eq 0 ] || echo "failed: ${failed[*]}"
exit "$status"
