// The corpus run's results file (what the integration test writes and table.ts turns into the
// table of test/corpus/README.md): per chart, what it renders and how each run ended, and what the
// guard said about it.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cacheDir, versions } from '../cluster/paths.ts';
import { decisionOfRun, type AnnotatedEvent, type Decision, type GuardOutputLine, type ReviewFinding } from './evidence.ts';
import type { CrdPlace } from './inventory.ts';
import type { PlannedRun, RunRecord, Variant } from './runner.ts';

export const RESULTS_ENV = 'TG_CORPUS_RESULTS';

export function resultsPath(): string {
  return process.env[RESULTS_ENV] || join(cacheDir(), 'corpus', 'results.json');
}

export interface RunSummary {
  ms: number;
  /** What the cluster showed that Helm's rules do not predict, and failed commands. */
  problems: string[];
  /** The guard's decisions on this run's requests (proof it answered), and the non-allow ones. */
  decisions: number;
  denials: number;
  warnings: number;
  /** Audit events of this run's objects annotated by a guard webhook. */
  annotations: number;
  /** Medium and high findings of `review` over the Metadata-level log naming this run's namespace. */
  reviewFindings: number;
  hookJobs: Array<{ name: string; code: number; command: string[] }>;
  /** Seconds of each step (install, upgrade, rollback, uninstall, delete-namespace, cleanup). */
  steps: Record<string, number>;
  dropped: number;
  added: number;
  kept: number;
}

export interface ChartResult {
  id: string;
  module: string;
  version: string;
  chart: string;
  /** Objects of the install (revision 1), from the release's manifest, and rendered hooks. */
  objects: number;
  crds: Partial<Record<CrdPlace, number>>;
  keepCrds: number;
  /** The hooks it renders with the corpus values (test hooks aside). */
  hooks: Array<{ events: string[]; kind: string }>;
  exclusive?: string;
  runs: Partial<Record<Variant, RunSummary>>;
}

export interface CorpusResults {
  generatedAt: string;
  kubernetes: string;
  helm3: string;
  helm4: string;
  concurrency: number;
  /** The corpus's wall time (plan, runs, cleanup), and the whole test file's. */
  corpusMs: number;
  charts: ChartResult[];
  /** Every non-allow decision, warning line and annotation, whoever they concern. */
  guard: {
    decisions: number;
    /** Review latency over every decision, and how many took longer than the default 1.5 s live-lookup budget. */
    latencyMs: { p50: number; p99: number; max: number; overDefaultBudget: number };
    nonAllow: Decision[];
    outputLines: GuardOutputLine[];
    annotated: AnnotatedEvent[];
  };
  review: { eventsUsed: number; findings: ReviewFinding[] };
}

export interface ResultsInput {
  runs: readonly PlannedRun[];
  records: readonly RunRecord[];
  decisions: readonly Decision[];
  outputLines: readonly GuardOutputLine[];
  annotated: readonly AnnotatedEvent[];
  review: { eventsUsed: number; findings: readonly ReviewFinding[] };
  concurrency: number;
  corpusMs: number;
}

const serious = (f: ReviewFinding) => f.severity === 'medium' || f.severity === 'high';

export function buildResults(i: ResultsInput): CorpusResults {
  const v = versions();
  const charts = new Map<string, ChartResult>();
  for (const run of i.runs) {
    const rec = i.records.find((r) => r.release === run.release);
    let c = charts.get(run.chart.id);
    if (!c) {
      const crds: Partial<Record<CrdPlace, number>> = {};
      for (const x of run.inventory.crds) crds[x.place] = (crds[x.place] ?? 0) + 1;
      c = {
        id: run.chart.id,
        module: run.chart.module,
        version: run.chart.version,
        chart: run.chart.chart,
        objects: rec?.objects.install ?? 0,
        crds,
        keepCrds: run.inventory.crds.filter((x) => x.keep).length,
        hooks: run.inventory.hooks.map((h) => ({ events: h.events, kind: h.kind })),
        ...(run.exclusive ? { exclusive: run.exclusive } : {}),
        runs: {},
      };
      charts.set(run.chart.id, c);
    }
    if (!rec) continue;
    const mine = i.decisions.filter((d) => decisionOfRun(d, run));
    c.runs[run.variant] = {
      ms: rec.ms,
      problems: rec.problems,
      decisions: mine.length,
      denials: mine.filter((d) => d.verdict === 'deny').length,
      warnings: mine.filter((d) => d.verdict !== 'allow' && d.verdict !== 'deny').length + i.outputLines.filter((l) => l.release === run.release).length,
      annotations: i.annotated.filter((a) => a.namespace === run.namespace || a.name === run.namespace || a.name.includes(run.release)).length,
      reviewFindings: i.review.findings.filter((f) => serious(f) && (f.namespaces ?? []).includes(run.namespace)).length,
      hookJobs: rec.hookJobs,
      steps: Object.fromEntries(rec.steps.map((st) => [st.step, Math.round(st.ms / 100) / 10])),
      dropped: rec.dropped.length,
      added: rec.added.length,
      kept: rec.kept.length,
    };
  }
  return {
    generatedAt: new Date().toISOString(),
    kubernetes: v.KUBE_VERSION,
    helm3: v.HELM3_VERSION,
    helm4: v.HELM4_VERSION,
    concurrency: i.concurrency,
    corpusMs: i.corpusMs,
    charts: [...charts.values()],
    guard: {
      decisions: i.decisions.length,
      latencyMs: latencies(i.decisions),
      nonAllow: i.decisions.filter((d) => d.verdict !== 'allow'),
      outputLines: [...i.outputLines],
      annotated: [...i.annotated],
    },
    review: { eventsUsed: i.review.eventsUsed, findings: [...i.review.findings] },
  };
}

function latencies(decisions: readonly Decision[]): CorpusResults['guard']['latencyMs'] {
  const ms = decisions.map((d) => d.latencyMs ?? 0).sort((a, b) => a - b);
  const at = (q: number) => Math.round(ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? 0);
  return { p50: at(0.5), p99: at(0.99), max: Math.round(ms.at(-1) ?? 0), overDefaultBudget: ms.filter((x) => x > 1500).length };
}

export function writeResults(r: CorpusResults, path = resultsPath()): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(r, null, 2)}\n`);
  return path;
}

export function readResults(path = resultsPath()): CorpusResults {
  return JSON.parse(readFileSync(path, 'utf8')) as CorpusResults;
}
