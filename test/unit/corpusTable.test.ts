// The corpus table (test/corpus/README.md) from a results file, and its place in the README.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { CorpusResults, RunSummary } from '../corpus/results.ts';
import { README_PATH, renderTable, replaceTable, TABLE_END, TABLE_START } from '../corpus/table.ts';

const run = (o: Partial<RunSummary> = {}): RunSummary => ({
  ms: 21_400,
  problems: [],
  decisions: 9,
  denials: 0,
  warnings: 0,
  annotations: 0,
  reviewFindings: 0,
  hookJobs: [],
  steps: {},
  dropped: 2,
  added: 1,
  kept: 0,
  ...o,
});

const results: CorpusResults = {
  generatedAt: '2026-12-06T23:40:00.000Z',
  kubernetes: '1.36.3',
  helm3: '3.21.4',
  helm4: '4.3.1',
  concurrency: 5,
  corpusMs: 288_000,
  charts: [
    {
      id: 'kyverno',
      module: 'github.com/kyverno/kyverno',
      version: 'v1.13.4',
      chart: 'charts/kyverno',
      objects: 57,
      crds: {},
      keepCrds: 0,
      hooks: [
        { events: ['post-delete'], kind: 'ServiceAccount' },
        { events: ['post-delete'], kind: 'Job' },
        { events: ['pre-delete'], kind: 'Job' },
      ],
      runs: {
        helm3: run({ hookJobs: [{ name: 'kyverno-h3-scale-to-zero', code: 0, command: ['kubectl scale'] }] }),
        helm4: run({ warnings: 1, problems: ['after uninstall: x should be gone'] }),
      },
    },
    {
      id: 'whereabouts',
      module: 'github.com/k8snetworkplumbingwg/whereabouts',
      version: 'v0.9.2',
      chart: 'deployment/whereabouts-chart',
      objects: 5,
      crds: { 'crds/': 3 },
      keepCrds: 0,
      hooks: [],
      exclusive: 'x',
      runs: { helm3: run(), helm4: run(), sdk: run({ ms: 15_000 }) },
    },
  ],
  guard: { decisions: 2000, latencyMs: { p50: 12, p99: 900, max: 2100, overDefaultBudget: 3 }, nonAllow: [], outputLines: [], annotated: [] },
  review: { eventsUsed: 30_000, findings: [] },
};

describe('the corpus table', () => {
  const table = renderTable(results);

  it('has a row per chart: CRDs by place, hooks and how their Jobs ran, each major as denials/warnings/annotations/findings', () => {
    expect(table).toContain(
      '| kyverno | github.com/kyverno/kyverno@v1.13.4 | 57 | none | post-delete: ServiceAccount, Job; pre-delete: Job (Jobs ran) | pass 0/0/0/0 | **FAIL** 0/1/0/0, 1 problems | 21 / 21 |',
    );
    expect(table).toContain(
      '| whereabouts (alone) | github.com/k8snetworkplumbingwg/whereabouts@v0.9.2 | 5 | 3 crds/ | none | pass 0/0/0/0 | pass 0/0/0/0 | 21 / 21 |',
    );
    expect(table).toContain('Uninstalled through the Helm SDK with SetNamespace: whereabouts (pass 0/0/0/0, 15 s).');
    expect(table).toContain('2 charts, 5 runs at a time; the corpus took 288 s');
  });

  it('goes between the markers of test/corpus/README.md', () => {
    const readme = readFileSync(README_PATH, 'utf8');
    const replaced = replaceTable(readme, table);
    expect(replaced).toContain(`${TABLE_START}\n${table}\n${TABLE_END}`);
    expect(replaceTable(replaced, table)).toBe(replaced);
    expect(() => replaceTable('no markers', table)).toThrow(/needs a/);
  });
});
