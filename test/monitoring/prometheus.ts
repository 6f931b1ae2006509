// The pinned Prometheus and promtool (test/cluster/versions.env PROMETHEUS_VERSION), installed
// from Debian's `prometheus` package by test/monitoring/install-prometheus.sh (run by
// test/bootstrap.sh as root). Both binaries come from that one package, so the rules promtool
// tests are the rules the real Prometheus of test/integration/monitoring.test.ts evaluates.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, versions } from '../cluster/paths.ts';

export const MONITORING_DIR = join(repoRoot, 'manifests', 'monitoring');
export const RULES_FILE = join(MONITORING_DIR, 'teardown-guard-rules.yaml');
export const RULES_TEST_FILE = join(MONITORING_DIR, 'teardown-guard-rules.test.yaml');
export const SCRAPE_FILE = join(MONITORING_DIR, 'prometheus-scrape.yaml');
export const DASHBOARD_FILE = join(MONITORING_DIR, 'teardown-guard-dashboard.json');

const BIN = { prometheus: '/usr/bin/prometheus', promtool: '/usr/bin/promtool' } as const;

/**
 * The path of the pinned binary, after checking that `--version` names PROMETHEUS_VERSION.
 * Throws what to run when it is missing or another version.
 */
export function prometheusBinary(name: keyof typeof BIN): string {
  const want = versions().PROMETHEUS_VERSION;
  const path = BIN[name];
  const fix = `run \`bash test/bootstrap.sh\` as root (it installs Debian's prometheus=${versions().PROMETHEUS_DEB_VERSION} with test/monitoring/install-prometheus.sh)`;
  if (!existsSync(path)) throw new Error(`${name} ${want} is not installed: ${fix}`);
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  const first = `${r.stdout}${r.stderr}`.split('\n')[0] ?? '';
  const got = /version (\d+\.\d+\.\d+)/.exec(first)?.[1];
  if (got !== want) throw new Error(`${path} is version ${got ?? `unknown (${first})`}, the pin is ${want}: ${fix}`);
  return path;
}
