// The shipped alert rules and dashboard (manifests/monitoring): promtool's own check and unit tests
// with the pinned promtool (Debian's prometheus package, test/monitoring/install-prometheus.sh),
// runs against rules that never fire and always fire (so every alert has a case of each), the
// runbook of each alert, the metric names the queries use, and the copies `npm run
// monitoring:render` writes. The real Prometheus against the real guard:
// test/integration/monitoring.test.ts. It needs the pinned promtool and no cluster: an integration
// test of a binary alone, so that the unit tier needs none.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { createMetrics } from '../../src/metrics.ts';
import { DASHBOARD_ROWS } from '../monitoring/dashboard.ts';
import { prometheusBinary, RULES_FILE, RULES_TEST_FILE, SCRAPE_FILE } from '../monitoring/prometheus.ts';
import { selectors } from '../monitoring/promql.ts';
import { monitoringFiles, OPERATIONS_MD, readRules } from '../monitoring/render.ts';

const work = mkdtempSync(join(tmpdir(), 'tg-monitoring-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const rules = readRules().groups.flatMap((g) => g.rules);
const alertNames = rules.map((r) => r.alert);

interface PromtoolTest {
  name: string;
  alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }>;
}
const promtoolTests = (parse(readFileSync(RULES_TEST_FILE, 'utf8')) as { tests: PromtoolTest[] }).tests;

function promtool(args: string[], cwd?: string): { code: number; out: string } {
  const r = spawnSync(prometheusBinary('promtool'), args, { encoding: 'utf8', timeout: 120_000, ...(cwd ? { cwd } : {}) });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** promtool test rules against a copy of the rules whose every expression is `expr`. */
function testWithEveryExpr(expr: string): string {
  const dir = mkdtempSync(join(work, 'mut-'));
  const doc = readRules();
  for (const g of doc.groups) for (const r of g.rules) r.expr = expr;
  writeFileSync(join(dir, 'teardown-guard-rules.yaml'), stringify(doc));
  copyFileSync(RULES_TEST_FILE, join(dir, 'teardown-guard-rules.test.yaml'));
  const r = promtool(['test', 'rules', 'teardown-guard-rules.test.yaml'], dir);
  expect(r.code, 'promtool must fail against mutated rules').not.toBe(0);
  return r.out;
}

/** The failure blocks of promtool's output that name this alert. */
const failuresOf = (out: string, alert: string) => out.split(/\n\s*name: /).filter((b) => b.includes(`alertname: ${alert},`));

describe('alert rules (manifests/monitoring/teardown-guard-rules.yaml)', () => {
  it('pass promtool check rules', () => {
    const r = promtool(['check', 'rules', RULES_FILE]);
    expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.code).toBe(0);
  });

  it('pass their promtool unit tests', () => {
    const r = promtool(['test', 'rules', RULES_TEST_FILE]);
    expect(r.out, r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('each alert has a test that must fire it and one that must not', () => {
    for (const alert of alertNames) {
      const cases = promtoolTests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => c.alertname === alert);
      expect(
        cases.some((c) => c.exp_alerts.length > 0),
        `${alert}: no test expects it to fire`,
      ).toBe(true);
      expect(
        cases.some((c) => c.exp_alerts.length === 0),
        `${alert}: no test expects it to stay silent`,
      ).toBe(true);
    }
    expect(new Set(promtoolTests.flatMap((t) => t.alert_rule_test ?? []).map((c) => c.alertname))).toEqual(new Set(alertNames));
  });

  it('those tests fail when an alert never fires, and when it always does', () => {
    const never = testWithEveryExpr('vector(1) == 2');
    const always = testWithEveryExpr('vector(1)');
    for (const alert of alertNames) {
      expect(failuresOf(never, alert).length, `${alert}: nothing failed when it could not fire`).toBeGreaterThan(0);
      expect(
        failuresOf(always, alert).filter((b) => /exp:\s*\[\]/.test(b) || b.includes('exp:[]')),
        `${alert}: no silent case failed when it always fired`,
      ).not.toEqual([]);
    }
  });

  it('each alert carries a severity, a summary, a description and a runbook in OPERATIONS.md', () => {
    const headings = new Set(
      readFileSync(OPERATIONS_MD, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('#'))
        .map((l) =>
          l
            .replace(/^#+\s*/, '')
            .toLowerCase()
            .replace(/[^a-z0-9 -]/g, '')
            .replace(/ /g, '-'),
        ),
    );
    for (const r of rules) {
      expect(['critical', 'warning', 'info'], r.alert).toContain(r.labels?.['severity']);
      expect(r.annotations?.['summary'], r.alert).toBeTruthy();
      expect(r.annotations?.['description'], r.alert).toBeTruthy();
      expect(r.annotations?.['runbook_url'], r.alert).toBe(`manifests/OPERATIONS.md#${r.alert.toLowerCase()}`);
      expect(headings.has(r.alert.toLowerCase()), `OPERATIONS.md has no heading "${r.alert}"`).toBe(true);
    }
  });
});

describe('the scrape config for Prometheus without the operator (manifests/monitoring/prometheus-scrape.yaml)', () => {
  it('passes promtool check config, its Kubernetes discovery swapped for static targets', () => {
    // Debian's prometheus build leaves Kubernetes service discovery out (kubernetes_sd_configs is
    // an unknown field to it), so the discovery blocks are replaced by static targets; the TLS,
    // authorization and relabelling settings are checked as written. The files it names must
    // exist for promtool: empty ones stand in, the rules file is the real one.
    const dir = mkdtempSync(join(work, 'scrape-'));
    let text = readFileSync(SCRAPE_FILE, 'utf8');
    const sd = /^ {4}kubernetes_sd_configs:\n(?: {6}.*\n)+/gm;
    expect(text.match(sd)?.length).toBe(2);
    text = text.replace(sd, "    static_configs:\n      - targets: ['127.0.0.1:8443']\n");
    text = text.replace(/\/etc\/prometheus\/rules\/teardown-guard-rules\.yaml/, RULES_FILE);
    let n = 0;
    text = text.replace(/(ca_file|credentials_file): (\/\S+)/g, (_m, key: string) => {
      const stand = join(dir, `file-${n++}`);
      writeFileSync(stand, '');
      return `${key}: ${stand}`;
    });
    const file = join(dir, 'prometheus.yml');
    writeFileSync(file, text);
    const r = promtool(['check', 'config', file]);
    expect(r.out, r.out).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.code, r.out).toBe(0);
  });
});

describe('the queries of the alerts and the dashboard', () => {
  it("name only metrics the guard registers (kube-apiserver's and up aside)", async () => {
    const registered = new Set(
      [...(await createMetrics({ defaultMetrics: false }).registry.metrics()).matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
        type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!],
      ),
    );
    const exprs = [...rules.map((r) => r.expr), ...DASHBOARD_ROWS.flatMap((row) => row.panels.flatMap((p) => p.queries.map((q) => q.expr)))];
    const used = new Set(exprs.flatMap((e) => selectors(e).map((s) => s.metric)));
    const guards = [...used].filter((m) => m.startsWith('teardown_guard_'));
    expect(guards.length).toBeGreaterThan(10);
    for (const m of guards) expect(registered.has(m), `${m} is not a metric of src/metrics.ts`).toBe(true);
    for (const m of used) expect(m.startsWith('teardown_guard_') || m.startsWith('apiserver_admission_webhook_') || m === 'up', m).toBe(true);
  });
});

describe('the copies `npm run monitoring:render` writes', () => {
  it('are current (PrometheusRule, chart files, dashboard JSON, the panel table of OPERATIONS.md)', () => {
    for (const [path, text] of Object.entries(monitoringFiles()))
      expect(readFileSync(path, 'utf8'), `${path} is stale: run \`npm run monitoring:render\``).toBe(text);
  });
});
