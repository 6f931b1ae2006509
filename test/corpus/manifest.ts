// The corpus manifest (test/corpus/charts.yaml): each real chart, where it comes from (a Go module
// at a pinned version, and the chart's directory in it), the values of its install and of its
// upgrade, and how its hooks and webhooks are handled here. The charts themselves are data fetched
// at build time into the cache (chartCache.ts), never copied into the repository.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { clusterDir } from '../cluster/paths.ts';

export const MANIFEST_PATH = join(clusterDir, '..', 'corpus', 'charts.yaml');

export type Values = Record<string, unknown>;

export interface CorpusChart {
  /** Short name: release names and namespaces derive from it. */
  id: string;
  /** Go module path, as `go mod download` takes it. */
  module: string;
  /** Module version (a release tag or a pseudo-version the module proxy serves). */
  version: string;
  /** The chart's directory inside the module. */
  chart: string;
  /** Values of the install (and of the rollback's target revision). `${release}` and `${namespace}` are replaced per run. */
  install: Values;
  /** Values the upgrade merges over `install`: one component off and another on, so the upgrade drops and adds objects. */
  upgrade: Values;
  /** How each hook the chart renders is handled here (Pods never run). */
  hooks: string;
  /**
   * Objects the chart's own hooks delete on uninstall although Helm would keep them (`Kind name`,
   * in the release namespace): the end state Helm's rules predict, with what those hooks do.
   */
  removedByHooks?: string[];
  /**
   * Hook Jobs marked Complete without running (`${release}` allowed in `job`), each with why that is
   * faithful here: only for a hook no value turns off, whose effect on this cluster is nothing.
   */
  hookStandIns?: Array<{ job: string; reason: string }>;
  /** Webhooks and APIServices the chart installs, and why they are on or off. */
  webhooks?: string;
  notes?: string;
  /** Also run install, upgrade and rollback with helm 3 and uninstall through the Helm SDK with SetNamespace. */
  sdkUninstall?: boolean;
  /** Run with no other chart in flight, and why (added to what the rendered objects say). */
  exclusive?: string;
}

export interface CorpusManifest {
  charts: CorpusChart[];
}

const ID = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

function problemsOf(c: Partial<CorpusChart>, i: number): string[] {
  const where = `charts[${i}]${c.id ? ` (${c.id})` : ''}`;
  const p: string[] = [];
  const str = (k: keyof CorpusChart) => {
    if (typeof c[k] !== 'string' || (c[k] as string).trim() === '') p.push(`${where}.${k}: a non-empty string is required`);
  };
  str('id');
  str('module');
  str('version');
  str('chart');
  str('hooks');
  if (typeof c.id === 'string' && !ID.test(c.id)) p.push(`${where}.id: ${JSON.stringify(c.id)} must be a DNS label of at most 32 characters`);
  if (typeof c.version === 'string' && !/^v\d+\.\d+\.\d+/.test(c.version)) p.push(`${where}.version: ${JSON.stringify(c.version)} is not a module version`);
  if (typeof c.chart === 'string' && (c.chart.startsWith('/') || c.chart.split('/').includes('..'))) p.push(`${where}.chart: must be a path inside the module`);
  for (const k of ['install', 'upgrade'] as const) {
    if (typeof c[k] !== 'object' || c[k] === null || Array.isArray(c[k])) p.push(`${where}.${k}: a map of values is required (may be {})`);
  }
  return p;
}

/** Reads and checks the manifest; every problem is named with its entry. */
export function parseManifest(text: string, source = MANIFEST_PATH): CorpusManifest {
  const doc = parseYaml(text) as { charts?: Array<Partial<CorpusChart>> } | null;
  const charts = doc?.charts;
  if (!Array.isArray(charts)) throw new Error(`${source}: a top-level \`charts:\` list is required`);
  const problems = charts.flatMap((c, i) => problemsOf(c, i));
  const seen = new Set<string>();
  for (const c of charts) {
    if (c.id && seen.has(c.id)) problems.push(`charts: id ${c.id} is listed twice`);
    if (c.id) seen.add(c.id);
  }
  if (charts.filter((c) => c.sdkUninstall).length > 1) problems.push('charts: sdkUninstall is set on more than one chart');
  if (problems.length) throw new Error(`${source}:\n  ${problems.join('\n  ')}`);
  return { charts: charts as CorpusChart[] };
}

export function loadManifest(path = MANIFEST_PATH): CorpusManifest {
  return parseManifest(readFileSync(path, 'utf8'), path);
}

/** Deep merge of plain maps (lists and scalars of `over` replace), as Helm merges values files. */
export function mergeValues(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      typeof v === 'object' && v !== null && !Array.isArray(v) && typeof b === 'object' && b !== null && !Array.isArray(b)
        ? mergeValues(b as Values, v as Values)
        : v;
  }
  return out;
}

/** `${release}` and `${namespace}` in every string and map key of the values, for one run. */
export function substitute(values: Values, vars: { release: string; namespace: string }): Values {
  const text = (s: string) => s.replaceAll('${release}', vars.release).replaceAll('${namespace}', vars.namespace);
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return text(v);
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [text(k), walk(x)]));
    return v;
  };
  return walk(values) as Values;
}
