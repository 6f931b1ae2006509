// The corpus charts in the version-keyed cache: `<cache>/data/charts/<module>@<version>/<chart>`,
// copied out of the module the Go module proxy serves (`go mod download -json`), as the OLM and
// Flux data are (test/cluster/build-binaries.sh). A chart directory is complete once it exists:
// it is copied next to its place and renamed into it.
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cacheDir } from '../cluster/paths.ts';
import { run } from '../cluster/proc.ts';
import type { CorpusChart } from './manifest.ts';

export function chartsCacheDir(): string {
  return join(cacheDir(), 'data', 'charts');
}

/** Where a chart of the manifest sits once fetched. */
export function chartDir(c: Pick<CorpusChart, 'module' | 'version' | 'chart'>): string {
  return join(chartsCacheDir(), `${c.module}@${c.version}`, c.chart);
}

export function missingCharts(charts: readonly CorpusChart[]): CorpusChart[] {
  return charts.filter((c) => !existsSync(join(chartDir(c), 'Chart.yaml')));
}

/** `go mod download -json MODULE@VERSION` (outside any module, GOFLAGS cleared): the module's directory. */
export async function moduleDir(module: string, version: string): Promise<string> {
  const cwd = mkdtempSync(join(tmpdir(), 'tg-gomod-'));
  try {
    const env = { ...process.env, GOFLAGS: '' };
    const r = await run('go', ['mod', 'download', '-json', `${module}@${version}`], { env, cwd, timeoutMs: 600_000 });
    let parsed: { Dir?: string; Error?: string } = {};
    try {
      parsed = JSON.parse(r.stdout) as { Dir?: string; Error?: string };
    } catch {
      /* reported below */
    }
    if (r.code !== 0 || !parsed.Dir) throw new Error(`go mod download ${module}@${version}: ${parsed.Error ?? (r.stderr.trim() || `exit ${r.code}`)}`);
    return parsed.Dir;
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

function makeWritable(dir: string): void {
  chmodSync(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) makeWritable(p);
    else chmodSync(p, statSync(p).mode | 0o200);
  }
}

/** Copies the chart out of its module into the cache (once per module version and chart path). */
export async function fetchChart(c: CorpusChart): Promise<string> {
  const dest = chartDir(c);
  if (existsSync(join(dest, 'Chart.yaml'))) return dest;
  const src = join(await moduleDir(c.module, c.version), c.chart);
  if (!existsSync(join(src, 'Chart.yaml'))) throw new Error(`${c.module}@${c.version} has no chart at ${c.chart} (no Chart.yaml there)`);
  mkdirSync(dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  // The module cache is read-only; the copy is made writable so the cache can be cleaned.
  cpSync(src, tmp, { recursive: true });
  makeWritable(tmp);
  rmSync(dest, { recursive: true, force: true });
  renameSync(tmp, dest);
  return dest;
}
