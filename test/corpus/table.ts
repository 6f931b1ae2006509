// The corpus table of test/corpus/README.md, from a results file (results.ts).
//   node test/corpus/table.ts [RESULTS.json]   rewrites the block between the markers in the README
//   node test/corpus/table.ts --print [FILE]   prints it instead
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterDir } from '../cluster/paths.ts';
import { readResults, resultsPath, type ChartResult, type CorpusResults, type RunSummary } from './results.ts';

export const README_PATH = join(clusterDir, '..', 'corpus', 'README.md');
export const TABLE_START = '<!-- corpus-table:start -->';
export const TABLE_END = '<!-- corpus-table:end -->';

function crdCell(c: ChartResult): string {
  const parts = Object.entries(c.crds).map(([place, n]) => `${n} ${place}`);
  if (!parts.length) return 'none';
  return `${parts.join(', ')}${c.keepCrds ? ` (${c.keepCrds} keep)` : ''}`;
}

/** Hooks grouped by their events: `pre-delete: Job; post-delete: ServiceAccount, Role, Job`. */
function hookCell(c: ChartResult): string {
  const byEvents = new Map<string, string[]>();
  for (const h of c.hooks) {
    const key = h.events.join(',');
    byEvents.set(key, [...(byEvents.get(key) ?? []), h.kind]);
  }
  const jobs = Object.values(c.runs).flatMap((r) => r.hookJobs);
  const how = jobs.some((j) => j.command[0]?.startsWith('stand-in')) ? 'stand-in' : jobs.length ? 'ran' : '';
  const text = [...byEvents].map(([events, kinds]) => `${events}: ${kinds.join(', ')}`).join('; ');
  return text ? `${text}${how ? ` (Jobs ${how})` : ''}` : 'none';
}

function runCell(r: RunSummary | undefined): string {
  if (!r) return 'not run';
  const counts = `${r.denials}/${r.warnings}/${r.annotations}/${r.reviewFindings}`;
  return r.problems.length || r.denials || r.warnings || r.annotations || r.reviewFindings
    ? `**FAIL** ${counts}, ${r.problems.length} problems`
    : `pass ${counts}`;
}

const secs = (ms: number | undefined) => (ms === undefined ? '-' : `${Math.round(ms / 1000)}`);

export function renderTable(r: CorpusResults): string {
  const rows = r.charts.map(
    (c) =>
      `| ${c.id}${c.exclusive ? ' (alone)' : ''} | ${c.module}@${c.version} | ${c.objects} | ${crdCell(c)} | ${hookCell(c)} | ${runCell(c.runs.helm3)} | ${runCell(c.runs.helm4)} | ${secs(c.runs.helm3?.ms)} / ${secs(c.runs.helm4?.ms)} |`,
  );
  const sdk = r.charts.filter((c) => c.runs.sdk);
  const lines = [
    `Run ${r.generatedAt.slice(0, 10)}: Kubernetes ${r.kubernetes}, helm ${r.helm3} and ${r.helm4}, every policy at \`enforce\`, ${r.charts.length} charts, ${r.concurrency} runs at a time; the corpus took ${secs(r.corpusMs)} s. The guard made ${r.guard.decisions} policy decisions (latency p50 ${r.guard.latencyMs.p50} ms, p99 ${r.guard.latencyMs.p99} ms, max ${r.guard.latencyMs.max} ms; ${r.guard.latencyMs.overDefaultBudget} over the default 1.5 s live-lookup budget); \`review\` read ${r.review.eventsUsed} events of the Metadata-level log.`,
    '',
    'Results read denials/warnings/audit annotations/review findings (medium or high); time is seconds per run (helm 3 / helm 4).',
    '',
    '| chart | module@version | objects | CRDs (where) | hooks | helm 3 | helm 4 | time (s) |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    ...(sdk.length
      ? ['', ...sdk.map((c) => `Uninstalled through the Helm SDK with SetNamespace: ${c.id} (${runCell(c.runs.sdk)}, ${secs(c.runs.sdk?.ms)} s).`)]
      : []),
  ];
  return lines.join('\n');
}

export function replaceTable(readme: string, table: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`${README_PATH} needs a ${TABLE_START} ... ${TABLE_END} block`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${table}\n${readme.slice(end)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const print = args.includes('--print');
  const file = args.find((a) => !a.startsWith('--')) ?? resultsPath();
  const table = renderTable(readResults(file));
  if (print) console.log(table);
  else {
    writeFileSync(README_PATH, replaceTable(readFileSync(README_PATH, 'utf8'), table));
    console.log(`rewrote the table in ${README_PATH} from ${file}`);
  }
}
