// The audit logs of real control-plane scenarios (test/fixtures/audit/, captured by capture.ts
// there): reviewing each must report exactly that scenario's incidents, and nothing for the
// no-false-positive one, with the fast path and strict parsing alike.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { AuditFinding } from './findings.ts';
import { buildReport, renderHuman, renderJson, renderMarkdown } from './report.ts';
import { runReview } from './review.ts';
import type { ReviewResult } from './review.ts';
import { validate } from '../../test/support/reportSchema.ts';
import { scratchDir } from '../../test/support/scratchDir.ts';

const dir = fileURLToPath(new URL('../../test/fixtures/audit/', import.meta.url));
const manifest = JSON.parse(readFileSync(`${dir}fixtures.json`, 'utf8')) as Record<string, { file: string; description: string }>;

async function review(name: string): Promise<ReviewResult> {
  const entry = manifest[name];
  if (!entry) throw new Error(`fixture ${name} not in fixtures.json`);
  const fast = await runReview({ inputs: [dir + entry.file] });
  const strict = await runReview({ inputs: [dir + entry.file], strict: true });
  expect(fast.findings).toEqual(strict.findings);
  expect(fast.pendingNamespaceDeletions).toEqual(strict.pendingNamespaceDeletions);
  expect(fast.malformedTotal).toBe(0);
  // Every report format renders, and the JSON one matches its schema.
  const report = buildReport(fast, { version: '0.1.0', filters: {} });
  expect(validate(JSON.parse(renderJson(report)))).toEqual([]);
  expect(renderHuman(report)).toContain('teardown-guard review:');
  expect(renderMarkdown(report)).toContain('# teardown-guard audit review');
  return fast;
}

const codes = (fs: AuditFinding[]) => fs.map((f) => f.code);
const objects = (f: AuditFinding | undefined, state: string) =>
  (f?.objects ?? []).filter((o) => o.state === state).map((o) => `${o.resource}${o.apiGroup ? `.${o.apiGroup}` : ''} ${o.namespace ?? ''}/${o.name}`);

describe('captured scenarios', () => {
  it('no-false-positive: correct CLI, Helm 4, SDK with SetNamespace, keep-history, multi-namespace, hooks, keep, history pruning, completed namespace', async () => {
    const r = await review('no-false-positive');
    expect(r.findings).toEqual([]);
    expect(r.pendingNamespaceDeletions).toEqual([]);
    expect(r.eventsConsidered).toBeGreaterThan(100);
  });

  it('sdk-misdirected-uninstall: one misdirected uninstall, leftovers named', async () => {
    const r = await review('sdk-misdirected-uninstall');
    expect(codes(r.findings)).toEqual(['misdirected-uninstall']);
    const f = r.findings[0];
    expect(f?.severity).toBe('high');
    expect(f?.release).toEqual({ namespace: 'helm-test', name: 'web' });
    expect(f?.namespaces).toEqual(['helm-test', 'default']);
    // The SDK's kube client reports Helm's built-in version (major.minor only).
    expect(f?.actor).toMatchObject({ user: 'admin', userAgent: 'Helm/3.21', client: 'helm-sdk' });
    expect(objects(f, 'likely-still-present')).toEqual(['services helm-test/web-svc', 'deployments.apps helm-test/web-app', 'configmaps helm-test/web-config']);
    expect(f?.evidence.filter((e) => e.verb === 'delete' && e.code === 404).map((e) => e.requestURI)).toEqual([
      '/api/v1/namespaces/default/services/web-svc',
      '/apis/apps/v1/namespaces/default/deployments/web-app',
      '/api/v1/namespaces/default/configmaps/web-config',
    ]);
    expect(f?.evidence.at(-1)).toMatchObject({
      verb: 'delete',
      requestURI: '/api/v1/namespaces/helm-test/secrets/sh.helm.release.v1.web.v1',
      code: 200,
      note: 'purge of a release record',
    });
  });

  it('sdk-cross-release: the misdirected uninstall and the other release it destroyed', async () => {
    const r = await review('sdk-cross-release');
    expect(codes(r.findings)).toEqual(['misdirected-uninstall', 'cross-release-delete']);
    const [m, x] = r.findings;
    expect(m?.title).toContain("(3 deleted another release's objects)");
    expect(objects(m, 'likely-still-present')).toEqual(['services helm-test/web-svc', 'deployments.apps helm-test/web-app', 'configmaps helm-test/web-config']);
    expect(x?.severity).toBe('high');
    expect(x?.title).toBe('uninstall of helm-test/web deleted 3 object(s) of release default/web');
    expect(objects(x, 'deleted')).toEqual(['services default/web-svc', 'deployments.apps default/web-app', 'configmaps default/web-config']);
  });

  it('namespace-stuck (gzip): px-operator deleted right after olm-operator, hanging on its CSV', async () => {
    const r = await review('namespace-stuck');
    expect(r.inputs[0]?.compressed).toBe(true);
    expect(codes(r.findings)).toEqual(['namespace-finalizer-race']);
    const f = r.findings[0];
    expect(f?.severity).toBe('high');
    expect(f?.namespaces).toEqual(['px-operator', 'olm']);
    expect(f?.actor).toMatchObject({ userAgent: 'Helm/3.21.4', client: 'helm-cli' });
    expect(objects(f, 'deletion-stuck')).toEqual(['namespaces /px-operator', 'clusterserviceversions.operators.coreos.com px-operator/pixie-operator.v0.1.0']);
    expect(f?.evidence[0]).toMatchObject({ verb: 'delete', requestURI: '/apis/apps/v1/namespaces/olm/deployments/olm-operator', code: 200 });
    expect(f?.detail).toMatch(/It still existed \d+s later/);
    expect(f?.remedy.join('\n')).toContain('kubectl patch clusterserviceversions.operators.coreos.com pixie-operator.v0.1.0 -n px-operator');
    // OLM's own namespace (no CSV left in it) finished terminating.
    expect(r.pendingNamespaceDeletions).toEqual([]);
  });

  it('guard-verdicts: warned, denied, break-glass, the resulting hang, the warned purge and a fail-open bypass', async () => {
    const r = await review('guard-verdicts');
    expect(codes(r.findings)).toEqual([
      'guard-warned',
      'namespace-finalizer-race',
      'guard-denied',
      'guard-break-glass',
      'misdirected-uninstall',
      'guard-warned',
      'guard-bypassed',
    ]);
    const [controller, race, denied, breakGlass, misdirected, purge, bypass] = r.findings;
    expect(controller?.title).toBe('teardown-guard warned on delete deployments olm/olm-operator by admin; it went ahead');
    expect(race?.objects.map((o) => o.name)).toEqual(['ops', 'demo-operator.v0.1.0']);
    expect(denied?.title).toBe('teardown-guard denied delete namespaces ops by admin (2 requests)');
    expect(denied?.evidence.every((e) => e.code === 403)).toBe(true);
    expect(breakGlass?.detail).toContain('INC-4711: test operator removed on purpose, finalizers patched next');
    expect(misdirected?.release).toEqual({ namespace: 'helm-test', name: 'web' });
    expect(purge?.title).toBe('teardown-guard warned on delete secrets helm-test/sh.helm.release.v1.web.v1 by admin; it went ahead');
    expect(bypass?.title).toBe('teardown-guard was bypassed: webhook namespaces.teardown-guard.io failed open for 1 request(s) by admin');
    // scratch was deleted 1.4 s before the log ends and nothing shows it held: pending, not a finding.
    expect(r.pendingNamespaceDeletions.map((p) => p.namespace)).toEqual(['scratch']);
  });

  it('all fixtures read together as one log report the union', async () => {
    const all = Object.values(manifest).map((m) => dir + m.file);
    const r = await runReview({ inputs: all });
    expect(r.inputs).toHaveLength(7);
    expect(r.findings.map((f) => `${f.code} ${f.severity}`).sort()).toEqual([
      'cross-release-delete high',
      'guard-break-glass medium',
      'guard-bypassed high',
      'guard-denied low',
      'guard-warned medium',
      'guard-warned medium',
      'misdirected-uninstall high',
      'misdirected-uninstall high',
      'misdirected-uninstall high',
      // cli-other-namespace-gone: a correct Helm CLI uninstall a Metadata-level log cannot confirm (likelyCorrectUninstall.test.ts).
      'misdirected-uninstall low',
      'namespace-finalizer-race high',
      'namespace-finalizer-race medium',
    ]);
  });

  it('same answer every way: fast path and --strict, plain and gzip give the same time range, counts and findings', async () => {
    const tmp = scratchDir('tg-fixtures');
    for (const [name, entry] of Object.entries(manifest)) {
      const raw = readFileSync(dir + entry.file);
      const plain = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
      const files = { plain: join(tmp, `${name}.jsonl`), gzip: join(tmp, `${name}.jsonl.gz`) };
      writeFileSync(files.plain, plain);
      writeFileSync(files.gzip, gzipSync(plain));
      const answers = [];
      for (const path of [files.plain, files.gzip]) {
        for (const strict of [false, true]) {
          const r = await runReview({ inputs: [path], strict });
          answers.push({
            timeRange: [r.firstEventTime, r.lastEventTime],
            logTimeRange: [r.logFirstTime, r.logLastTime],
            tally: r.tally,
            skipped: r.malformedTotal,
            findings: r.findings,
            pending: r.pendingNamespaceDeletions,
          });
        }
      }
      // Every line of a captured log is an event, and each is counted once.
      expect(answers[0]?.tally.read, name).toBe(
        plain
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== '').length,
      );
      expect(answers[0]?.tally.used, name).toBeGreaterThan(0);
      for (const a of answers.slice(1)) expect(a, name).toEqual(answers[0]);
    }
  });
});
