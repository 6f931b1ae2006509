import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildReport, renderHuman, renderJson, renderMarkdown, REPORT_SCHEMA_VERSION } from './report.ts';
import { runReview } from './review.ts';
import { HELM3_UA, SDK_UA, auditEvent, helmUninstall, toJsonLines } from '../../test/support/auditEvents.ts';
import { reportSchema as schema, validate } from '../../test/support/reportSchema.ts';
import { scratchDir } from '../../test/support/scratchDir.ts';

const T0 = Date.parse('2026-03-01T09:00:00Z');
async function sampleReview() {
  const dir = scratchDir('tg-report');
  const file = join(dir, 'audit.log');
  const events = [
    ...helmUninstall({ releaseNamespace: 'helm-test', release: 'web', deleteNamespace: 'default', deleteCode: 404, ua: SDK_UA, start: T0 }),
    auditEvent({
      verb: 'delete',
      uri: '/api/v1/namespaces/px-operator',
      at: T0 + 60_000,
      code: 403,
      annotations: {
        'namespaces.teardown-guard.io/olm-orphaned-finalizers': JSON.stringify({
          verdict: 'deny',
          mode: 'enforce',
          findings: [{ code: 'x', severity: 'violation', summary: 'CSV px-operator.v1 would be stranded | pipe', objects: [] }],
        }),
      },
    }),
    auditEvent({
      verb: 'delete',
      uri: '/api/v1/namespaces/team/configmaps/x',
      at: T0 + 61_000,
      user: 'bob',
      ua: HELM3_UA,
      annotations: { 'failed-open.validating.webhook.admission.k8s.io/round_0_index_3': 'helm-owned.teardown-guard.io' },
    }),
  ];
  writeFileSync(file, toJsonLines(events) + 'garbage line\n');
  const result = await runReview({ inputs: [file], windowMs: 60_000 });
  return { result, file };
}

describe('JSON report', () => {
  it('matches the documented schema, including every finding field', async () => {
    const { result } = await sampleReview();
    const report = buildReport(result, { version: '0.1.0', filters: { namespace: 'x' }, now: new Date(T0) });
    const json = JSON.parse(renderJson(report)) as unknown;
    expect(validate(json, schema)).toEqual([]);
    expect(report.schemaVersion).toBe(REPORT_SCHEMA_VERSION);
    expect(report.summary).toMatchObject({ findings: 3, malformedLines: 1, bySeverity: { high: 2, medium: 0, low: 1 } });
    expect(report.summary.byCode).toMatchObject({ 'misdirected-uninstall': 1, 'guard-denied': 1, 'guard-bypassed': 1, 'namespace-finalizer-race': 0 });
    expect(report.malformed.listed[0]).toMatchObject({ line: 10, reason: expect.stringMatching(/^not valid JSON/) as unknown });
  });

  it('keeps ids stable across runs', async () => {
    const a = await sampleReview();
    const b = await sampleReview();
    expect(a.result.findings.map((f) => f.id)).toEqual(b.result.findings.map((f) => f.id));
    expect(a.result.findings[0]?.id).toMatch(/^misdirected-uninstall:[0-9a-f]{12}$/);
  });
});

describe('human and markdown reports', () => {
  it('prints one block per finding: what happened, evidence with times and users, what to do', async () => {
    const { result } = await sampleReview();
    const text = renderHuman(buildReport(result, { version: '0.1.0', filters: {} }));
    expect(text).toMatch(/^teardown-guard review: 3 findings in 10 lines from 1 input, 2026-03-01T09:00:00.007Z \.\. 2026-03-01T09:01:01.000Z/);
    const blocks = text.split(/\n(?=\[\d+\] )/).slice(1);
    expect(blocks).toHaveLength(3);
    for (const b of blocks) {
      expect(b).toContain('  What happened:');
      expect(b).toContain('  Evidence:');
      expect(b).toContain('  What to do:');
    }
    expect(blocks[0]).toContain('[1] HIGH  misdirected-uninstall');
    expect(blocks[0]).toContain(`Who: admin via "${SDK_UA}" (client-go)`);
    expect(blocks[2]).toContain('2026-03-01T09:01:01.000000Z  bob  delete /api/v1/namespaces/team/configmaps/x -> 200');
    expect(blocks[0]).toContain(
      `2026-03-01T09:00:00.021000Z  admin  delete /api/v1/namespaces/default/services/web-web -> 404  (404: nothing in default, helm-test/web-web never deleted)`,
    );
    expect(text).toContain('Malformed lines skipped: 1');
    expect(text).toMatch(/audit\.log:10: not valid JSON/);
  });

  it('renders Markdown with an evidence table per finding, escaping pipes', async () => {
    const { result } = await sampleReview();
    const md = renderMarkdown(buildReport(result, { version: '0.1.0', filters: {} }));
    expect(md.startsWith('# teardown-guard audit review\n')).toBe(true);
    expect(md.match(/^## \d+\. /gm)).toHaveLength(3);
    expect(md.match(/^\| time \| user \| user agent \| request \| code \| note \|$/gm)).toHaveLength(3);
    expect(md).toContain('\\| pipe');
    expect(md).toContain('| high | 2 |');
  });

  it('says so when there is nothing to report', async () => {
    const dir = scratchDir('tg-report');
    const file = join(dir, 'clean.log');
    writeFileSync(file, toJsonLines(helmUninstall({ releaseNamespace: 'a', release: 'b', start: T0 })));
    const report = buildReport(await runReview({ inputs: [file] }), { version: '0.1.0', filters: {} });
    expect(renderHuman(report)).toContain('No findings.');
    expect(renderMarkdown(report)).toContain('No findings.');
  });
});
