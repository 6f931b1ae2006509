// The corpus of real charts (test/corpus/README.md): every chart of test/corpus/charts.yaml,
// obtained from the Go module that ships it, lives its whole life with helm 3 and with helm 4 on
// one control plane (install into its own namespace, an upgrade that deletes and creates objects,
// a rollback, an uninstall, the namespace deleted), one chart's uninstall goes through the Helm SDK
// with SetNamespace, and the guard runs with every policy at enforce. What must hold: every run
// ends as Helm's own rules predict; the guard answered the runs' DELETEs and never denied, warned
// or wrote an audit annotation; `teardown-guard review` of the same run at Metadata level reports
// nothing of medium or high severity; and nothing of the corpus is left in the cluster. The
// results file it writes (test/corpus/results.ts) is what `node test/corpus/table.ts` turns into
// the README's table.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingComponents } from '../cluster/paths.ts';
import { missingCharts } from '../corpus/chartCache.ts';
import { ResourceMap } from '../corpus/discovery.ts';
import { CORPUS_GUARD_YAML, corpusCluster, corpusLeftovers, everyPolicyEnforce, type CorpusCluster } from '../corpus/environment.ts';
import {
  atMetadataLevel,
  decisionOfRun,
  decisionsSince,
  guardAnnotatedEvents,
  guardLinesInOutput,
  reviewFile,
  writeLines,
  type Decision,
  type ReviewResult,
} from '../corpus/evidence.ts';
import { loadManifest } from '../corpus/manifest.ts';
import { buildResults, writeResults } from '../corpus/results.ts';
import { cleanupCorpus, planCorpus, runCorpus, type PlannedRun, type RunRecord } from '../corpus/runner.ts';
import { startGuard, type Guard } from '../scenarios/guard.ts';
import { lineOffset } from '../scenarios/harness.ts';

const CONCURRENCY = Number(process.env.TG_CORPUS_CONCURRENCY ?? 5);
/** A subset of the manifest's charts (comma-separated ids), for working on one chart. */
const ONLY = (process.env.TG_CORPUS_CHARTS ?? '').split(',').filter(Boolean);

const manifest = loadManifest();
const charts = manifest.charts.filter((c) => !ONLY.length || ONLY.includes(c.id));
const log = (line: string) => process.stderr.write(`[corpus] ${line}\n`);

/** Lines of a log another process appends to, between two lineOffsets (byte offsets: the log is UTF-8, and a guard's message may hold an ellipsis). */
function linesBetween(path: string, from: number, to: number): string[] {
  return readFileSync(path).subarray(from, to).toString('utf8').split('\n').filter(Boolean);
}

describe('the corpus of real charts: no false alarm, helm 3 and 4, every policy at enforce', () => {
  let cluster: CorpusCluster | undefined;
  let guard: Guard | undefined;
  let resources: ResourceMap;
  let runs: PlannedRun[] = [];
  let records: RunRecord[] = [];
  let decisions: Decision[] = [];
  let review: ReviewResult | undefined;
  let guardFrom = 0;
  let auditFrom = 0;
  let auditLines: string[] = [];
  const started = Date.now();
  let corpusMs = 0;

  beforeAll(async () => {
    const missing = [...missingComponents(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl', 'helm3', 'helm4', 'helm-sdk-uninstall'])];
    missing.push(...missingCharts(charts).map((c) => `corpus chart ${c.id} (${c.module}@${c.version} ${c.chart})`));
    if (missing.length) throw new Error(`missing (${missing.join(', ')}): run \`npm run build:binaries\` first`);
    cluster = await corpusCluster();
    guard = await startGuard(cluster.cp, { modes: everyPolicyEnforce(), extraYaml: CORPUS_GUARD_YAML, log });
    await guard.register();
    resources = new ResourceMap(cluster.cp.client);
    await resources.refresh();
    guardFrom = lineOffset(guard.logPath);
    auditFrom = lineOffset(cluster.cp.auditLogPath);
  }, 180_000);

  afterAll(async () => {
    if (records.length) {
      const path = writeResults(
        buildResults({
          runs,
          records,
          decisions,
          outputLines: guardLinesInOutput(records),
          annotated: guardAnnotatedEvents(auditLines),
          review: { eventsUsed: review?.eventsUsed ?? 0, findings: review?.findings ?? [] },
          concurrency: CONCURRENCY,
          corpusMs,
        }),
      );
      log(`results: ${path} (node test/corpus/table.ts rewrites the README table from it); file ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
    await guard?.unregister().catch(() => undefined);
    await guard?.stop();
    await cluster?.release();
  }, 120_000);

  it('lists at least 20 charts from Go modules at pinned versions, each rendering with both helm majors, every upgrade deleting and creating objects', async () => {
    expect(manifest.charts.length).toBeGreaterThanOrEqual(20);
    const t0 = Date.now();
    const plan = await planCorpus(charts, resources);
    log(`planned ${plan.runs.length} runs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(plan.problems).toEqual([]);
    runs = plan.runs;
    for (const c of charts)
      expect(
        runs.filter((r) => r.chart.id === c.id).map((r) => r.variant),
        c.id,
      ).toEqual(['helm3', 'helm4', ...(c.sdkUninstall ? ['sdk'] : [])]);
    if (!ONLY.length) expect(runs.filter((r) => r.variant === 'sdk')).toHaveLength(1);
  }, 300_000);

  it('every run ends each step as Helm predicts, the namespace goes, and the upgrades really deleted and created objects', async () => {
    expect(runs.length).toBeGreaterThan(0);
    const t0 = Date.now();
    const ctx = { cp: cluster!.cp, resources, log };
    records = await runCorpus(ctx, runs, CONCURRENCY);
    const cleaned = await cleanupCorpus(ctx, runs);
    corpusMs = Date.now() - t0;
    log(`ran ${records.length} runs in ${(corpusMs / 1000).toFixed(0)} s; deleted ${cleaned.deleted.length} crds/ CRDs`);
    // The guard's view of the run ends here: every request of the corpus is in these lines.
    await new Promise((r) => setTimeout(r, 1000));
    decisions = decisionsSince(guard!.logPath, guardFrom);
    auditLines = linesBetween(cluster!.cp.auditLogPath, auditFrom, lineOffset(cluster!.cp.auditLogPath));
    expect(cleaned.problems).toEqual([]);
    expect(Object.fromEntries(records.filter((r) => r.problems.length).map((r) => [r.release, r.problems]))).toEqual({});
    for (const r of records) {
      expect(r.dropped.length, `${r.release}: the upgrade deleted nothing`).toBeGreaterThan(0);
      expect(r.added.length, `${r.release}: the upgrade created nothing`).toBeGreaterThan(0);
    }
    expect(records).toHaveLength(runs.length);
  }, 1_500_000);

  it('the guard answered: its decisions cover every run, its namespace DELETE and its release-record purges', () => {
    expect(guard!.daemon.isRunning()).toBe(true);
    const missing: string[] = [];
    for (const r of runs) {
      const mine = decisions.filter((d) => decisionOfRun(d, r));
      if (!mine.some((d) => d.operation === 'DELETE' && d.object === `Namespace ${r.namespace}`))
        missing.push(`${r.release}: no decision on its namespace DELETE`);
      if (!mine.some((d) => d.operation === 'DELETE' && d.object?.startsWith(`Secret ${r.namespace}/sh.helm.release.v1.`)))
        missing.push(`${r.release}: no decision on the purge of its release records`);
    }
    expect(missing).toEqual([]);
    // Helm-owned objects deleted by the upgrades, rollbacks and uninstalls (webhook helm-owned).
    const owned = decisions.filter((d) => d.operation === 'DELETE' && !d.object?.startsWith('Namespace ') && !d.object?.startsWith('Secret '));
    expect(owned.length).toBeGreaterThan(runs.length);
  });

  it('the guard never denied, warned or annotated: no non-allow decision, no guard text in any helm or kubectl output, no guard audit annotation', () => {
    expect(decisions.filter((d) => d.verdict !== 'allow')).toEqual([]);
    expect(guardLinesInOutput(records)).toEqual([]);
    expect(guardAnnotatedEvents(auditLines)).toEqual([]);
  });

  it('`teardown-guard review` of the same run at Metadata level finds nothing of medium or high severity', async () => {
    expect(auditLines.length).toBeGreaterThan(0);
    const file = join(cluster!.cp.dir, 'corpus-audit-metadata.log');
    writeLines(file, atMetadataLevel(auditLines));
    review = await reviewFile(file);
    log(`review: ${review.eventsUsed} events, ${review.findings.length} findings, exit ${review.exitCode}`);
    expect(review.eventsUsed).toBeGreaterThan(auditLines.length / 2);
    expect(review.findings.filter((f) => f.severity !== 'low').map((f) => `${f.severity} ${f.code}: ${f.title}`)).toEqual([]);
  }, 300_000);

  it('leaves nothing of the corpus in the cluster', async () => {
    expect(await corpusLeftovers(cluster!.cp, resources, runs)).toEqual([]);
  }, 120_000);
});
