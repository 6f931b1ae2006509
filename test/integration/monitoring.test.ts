// The shipped monitoring against a real Prometheus: the pinned Prometheus (Debian's package,
// test/monitoring/install-prometheus.sh) scrapes the real guard and the real kube-apiserver of a
// loopback control plane, with the shipped rules file loaded, while the guard denies, warns,
// is undecided, and two guard webhooks cannot be reached (one failing open, one closed). Then:
//   - both targets are up, the guard's scraped over HTTPS with the shipped scrape job's TLS
//     settings (manifests/monitoring/prometheus-scrape.yaml: its server name, the CA);
//   - every dashboard query returns series, each carrying the labels its legend prints;
//   - every series selector of every alert returns series, which carry the labels the alert
//     groups by and prints (an alert ending in `> 0` returns nothing while all is well, so its
//     selectors are what shows a renamed metric or label);
//   - the alerts these events must fire are firing in that Prometheus, and the health alerts are not.
// Alerts that need time (`for: 5m`) are proven by promtool (test/integration/monitoringRules.test.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startControlPlane, type ControlPlane } from '../cluster/controlPlane.ts';
import { missingComponents } from '../cluster/paths.ts';
import { freePort, waitFor } from '../cluster/proc.ts';
import { DASHBOARD_ROWS, RATE } from '../monitoring/dashboard.ts';
import { SCRAPE_FILE } from '../monitoring/prometheus.ts';
import { startPrometheus, type PromSeries, type RunningPrometheus } from '../monitoring/prometheusServer.ts';
import { groupingLabels, selectors, templateLabels } from '../monitoring/promql.ts';
import { readRules } from '../monitoring/render.ts';
import { startControlPlaneWithGuardAudit, type Guard } from '../scenarios/guard.ts';

let cp: ControlPlane;
let guard: Guard;
let prom: RunningPrometheus;
const log = (l: string) => process.stderr.write(`[monitoring] ${l}\n`);
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;

/** The shipped guard job, its Kubernetes discovery and relabelling (which need a cluster's Pods) replaced by the guard's loopback address. */
function guardScrapeJob(): Record<string, unknown> {
  const shipped = (parse(readFileSync(SCRAPE_FILE, 'utf8')) as { scrape_configs: Array<Record<string, unknown>> }).scrape_configs;
  const job = structuredClone(shipped.find((j) => j['job_name'] === 'teardown-guard'));
  if (!job) throw new Error('prometheus-scrape.yaml has no job teardown-guard');
  delete job['kubernetes_sd_configs'];
  delete job['relabel_configs'];
  job['static_configs'] = [{ targets: [`127.0.0.1:${guard.port}`] }];
  (job['tls_config'] as Record<string, unknown>)['ca_file'] = guard.certs.caFile;
  return job;
}

const pki = (name: string) => join(cp.dir, 'pki', name);

async function kubectl(args: string[], input?: string) {
  return cp.kubectl(args, input === undefined ? {} : { input });
}

beforeAll(async () => {
  const missing = missingComponents(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl']);
  if (missing.length) throw new Error(`pinned binaries missing (${missing.join(', ')}): run \`npm run build:binaries\` first`);
  ({ cp, guard } = await startControlPlaneWithGuardAudit((auditWebhook) => startControlPlane({ olm: 'none', auditWebhook }), {
    modes: { 'apiservice-backends': 'enforce' },
    extraYaml: 'audit:\n  windowMs: 2000',
  }));
  await guard.register();
  prom = await startPrometheus(
    cp,
    [
      guardScrapeJob(),
      {
        job_name: 'apiserver',
        scheme: 'https',
        // Its /metrics is large; a shared 2-core machine may take more than the global 1 s.
        scrape_interval: '2s',
        scrape_timeout: '2s',
        static_configs: [{ targets: [new URL(cp.server).host] }],
        tls_config: { ca_file: cp.ca.cert, cert_file: pki('admin.crt'), key_file: pki('admin.key') },
      },
    ],
    log,
  );
  log(`cluster, guard and prometheus up at ${elapsed()}`);
});

afterAll(async () => {
  await prom?.stop();
  await guard?.stop();
  await cp?.stop();
});

const labelsOf = (series: PromSeries[]) => new Set(series.flatMap((s) => Object.keys(s.metric)));

describe('a real Prometheus scraping the real guard and kube-apiserver', () => {
  it('sees the series of every dashboard query and alert, and fires the alerts the events call for', async () => {
    // Scraped before anything happens, as on a cluster Prometheus has watched all along: the
    // counters' first samples are the 0 they start at.
    await waitFor('prometheus scrapes both targets', 30_000, async () => ((await prom.query('up == 1')).length === 2 ? true : undefined), 500);
    // A denial: deleting the namespace that serves a registered APIService (apiservice-backends, enforce).
    expect((await kubectl(['create', 'namespace', 'mon-backend'])).code).toBe(0);
    const apiService = {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: 'v1alpha1.monitoring.teardown-guard.test' },
      spec: {
        group: 'monitoring.teardown-guard.test',
        version: 'v1alpha1',
        service: { namespace: 'mon-backend', name: 'api', port: 443 },
        insecureSkipTLSVerify: true,
        groupPriorityMinimum: 1000,
        versionPriority: 15,
      },
    };
    expect((await kubectl(['apply', '-f', '-'], JSON.stringify(apiService))).code).toBe(0);
    const denied = await kubectl(['delete', 'namespace', 'mon-backend', '--dry-run=server']);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/denied the request: teardown-guard \[apiservice-backends\]/);
    // A warning: any other namespace waits for that unavailable APIService (a risk).
    expect((await kubectl(['create', 'namespace', 'mon-other'])).code).toBe(0);
    const warned = await kubectl(['delete', 'namespace', 'mon-other', '--dry-run=server']);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toMatch(/Warning: teardown-guard \[apiservice-backends\]/);
    // Undecided: purging a Helm release record whose payload cannot be decoded.
    const record = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'helm.sh/release.v1',
      metadata: { name: 'sh.helm.release.v1.broken.v1', namespace: 'mon-other', labels: { owner: 'helm', name: 'broken', status: 'deployed', version: '1' } },
      data: { release: Buffer.from('not a release').toString('base64') },
    };
    expect((await kubectl(['apply', '-f', '-'], JSON.stringify(record))).code).toBe(0);
    const purge = await kubectl(['delete', 'secret', 'sh.helm.release.v1.broken.v1', '-n', 'mon-other', '--dry-run=server']);
    expect(purge.stderr).toMatch(/teardown-guard \[helm-uninstall-namespace\] could not check this request/);

    // Two guard webhooks nobody answers: the API server fails open on one and refuses on the other.
    const closedPort = await freePort();
    const hook = (name: string, failurePolicy: string) => ({
      name,
      failurePolicy,
      clientConfig: { url: `https://127.0.0.1:${closedPort}/validate`, caBundle: Buffer.from(guard.certs.caPem).toString('base64') },
      rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['DELETE'], resources: ['namespaces'], scope: 'Cluster' }],
      namespaceSelector: { matchLabels: { 'teardown-guard.test/unreachable': 'true' } },
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      timeoutSeconds: 2,
    });
    const unreachable = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'teardown-guard-monitoring-unreachable' },
      webhooks: [hook('unreachable-open.teardown-guard.io', 'Ignore'), hook('unreachable-closed.teardown-guard.io', 'Fail')],
    };
    expect((await kubectl(['apply', '-f', '-'], JSON.stringify(unreachable))).code).toBe(0);
    expect((await kubectl(['create', 'namespace', 'mon-unreachable'])).code).toBe(0);
    expect((await kubectl(['label', 'namespace', 'mon-unreachable', 'teardown-guard.test/unreachable=true'])).code).toBe(0);
    await waitFor(
      'the API server calls the unreachable webhooks',
      30_000,
      async () => {
        const r = await kubectl(['delete', 'namespace', 'mon-unreachable', '--dry-run=server']);
        return r.code !== 0 && r.stderr.includes('failed calling webhook "unreachable-closed.teardown-guard.io"') ? true : undefined;
      },
      500,
    );
    log(`events produced at ${elapsed()}`);

    // Live audit review reads the denial back from the audit log (finding guard-denied).
    await waitFor(
      'prometheus has the guard-denied audit finding',
      60_000,
      async () => {
        const r = await prom.query('teardown_guard_audit_findings_total{kind="guard-denied"} > 0');
        return r.length > 0 ? true : undefined;
      },
      1000,
    );
    // The events' counters as Prometheus scraped them, after the last event.
    await waitFor(
      'prometheus has scraped the events',
      30_000,
      async () => {
        const [deny, failOpen, undecided] = await Promise.all([
          prom.query('teardown_guard_admission_requests_total{policy="apiservice-backends", verdict="deny"} > 0'),
          prom.query('apiserver_admission_webhook_fail_open_count{name="unreachable-open.teardown-guard.io"} > 0'),
          prom.query('teardown_guard_undecided_total{policy="helm-uninstall-namespace", reason="decode"} > 0'),
        ]);
        return deny.length && failOpen.length && undecided.length ? true : undefined;
      },
      1000,
    );
    log(`events scraped at ${elapsed()}`);

    // Both targets are up.
    const targets = await prom.targets();
    expect(targets.map((t) => [t.labels['job'], t.health, t.lastError]).sort()).toEqual([
      ['apiserver', 'up', ''],
      ['teardown-guard', 'up', ''],
    ]);

    // Every dashboard query returns series, with the labels its legend prints; every selector of
    // every alert returns series carrying the labels the alert groups by and prints. Asked again
    // for a while: kube-apiserver is scraped every 2 s, and a rate needs two of its samples.
    const rules = readRules().groups.flatMap((g) => g.rules);
    let problems: string[] = [];
    let queries = 0;
    let alertSelectors = 0;
    const check = async (): Promise<void> => {
      problems = [];
      queries = 0;
      alertSelectors = 0;
      // Every dashboard query returns series, with the labels its legend prints.
      for (const row of DASHBOARD_ROWS)
        for (const p of row.panels)
          for (const q of p.queries) {
            queries++;
            const expr = q.expr.replaceAll(RATE, '1m');
            const result = await prom.query(expr);
            if (result.length === 0) {
              const counts = await Promise.all(selectors(expr).map(async (sel) => [sel.text, await prom.query(`count_over_time(${sel.text}[1m])`)] as const));
              problems.push(`dashboard "${p.title}": no series for ${expr} (samples in the last minute: ${JSON.stringify(counts)})`);
            }
            for (const l of templateLabels(q.legend))
              if (result.some((s) => s.metric[l] === undefined))
                problems.push(`dashboard "${p.title}": a series lacks label "${l}" of legend "${q.legend}" (${expr})`);
          }

      // Every selector of every alert returns series carrying the labels the alert groups by and prints.
      for (const r of rules) {
        const seen: PromSeries[] = [];
        for (const s of selectors(r.expr)) {
          alertSelectors++;
          const result = await prom.query(s.text);
          if (result.length === 0) problems.push(`alert ${r.alert}: no series for ${s.text}`);
          seen.push(...result);
        }
        const have = labelsOf(seen);
        const wanted = new Set([...groupingLabels(r.expr), ...Object.values(r.annotations ?? {}).flatMap(templateLabels)]);
        for (const l of wanted) if (!have.has(l)) problems.push(`alert ${r.alert}: label "${l}" is on none of its series`);
      }
    };
    await waitFor(
      'every dashboard query and alert selector returns series',
      30_000,
      async () => {
        await check();
        return problems.length === 0 ? true : undefined;
      },
      1000,
    ).catch(() => undefined);
    expect(problems).toEqual([]);
    log(`${queries} dashboard queries and ${alertSelectors} alert selectors of ${rules.length} alerts answered at ${elapsed()}`);

    // The alerts the events call for are firing; the guard's health alerts are not.
    const firing = await waitFor(
      'prometheus fires the alerts of the events',
      30_000,
      async () => {
        const alerts = (await prom.alerts()).filter((a) => a.state === 'firing');
        const has = (name: string, labels: Record<string, string>) =>
          alerts.some((a) => a.labels['alertname'] === name && Object.entries(labels).every(([k, v]) => a.labels[k] === v));
        return has('TeardownGuardDenied', { policy: 'apiservice-backends', severity: 'info' }) &&
          has('TeardownGuardUndecided', { policy: 'helm-uninstall-namespace', reason: 'decode' }) &&
          has('TeardownGuardFailingOpen', { name: 'unreachable-open.teardown-guard.io', severity: 'warning' }) &&
          has('TeardownGuardFailingClosed', { name: 'unreachable-closed.teardown-guard.io', severity: 'critical' }) &&
          // The audit log's failed-open annotations, read back by live audit review.
          has('TeardownGuardAuditFinding', { kind: 'guard-bypassed' }) &&
          // The test's serving certificate is valid for 2 days.
          has('TeardownGuardCertificateExpiresSoon', { job: 'teardown-guard' })
          ? alerts
          : undefined;
      },
      1000,
    ).catch(async (e: unknown) => {
      log(`alerts: ${JSON.stringify((await prom.alerts()).map((a) => [a.labels['alertname'], a.state, a.labels]))}`);
      throw e;
    });
    const names = new Set(firing.map((a) => a.labels['alertname']));
    for (const quiet of [
      'TeardownGuardDown',
      'TeardownGuardWebhookSlow',
      'TeardownGuardCacheNotSynced',
      'TeardownGuardCertificateReloadFailed',
      'TeardownGuardAuditEventsInvalid',
      'TeardownGuardAuditEventsDropped',
      'TeardownGuardAuditRequestsRejected',
      'TeardownGuardBreakGlass',
    ])
      expect(names.has(quiet), `${quiet} must not fire`).toBe(false);
    // The real webhooks of the guard answered: nothing failed open on them.
    expect(firing.filter((a) => a.labels['alertname'] === 'TeardownGuardFailingOpen').map((a) => a.labels['name'])).toEqual([
      'unreachable-open.teardown-guard.io',
    ]);
    const denial = firing.find((a) => a.labels['alertname'] === 'TeardownGuardDenied')!;
    expect(denial.annotations['summary']).toMatch(/^teardown-guard denied 1(\.\d+)? request\(s\) of policy apiservice-backends$/);
    // increase() extrapolates over the scrapes it has: about 1.
    log(`firing: ${[...names].sort().join(', ')} at ${elapsed()}`);
  });
});
