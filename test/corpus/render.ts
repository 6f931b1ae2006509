// `helm template` of a corpus chart with the pinned helm 3 or 4, for a release name, namespace and
// values: what the corpus plans with (collisions, exclusive charts) and what its table counts.
// Nothing touches a cluster: the Kubernetes version is the pinned kube-apiserver's.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { toolEnv } from '../cluster/controlPlane.ts';
import { binPath, cacheDir, versions } from '../cluster/paths.ts';
import { run, type RunResult } from '../cluster/proc.ts';
import { renderedObjects, type RenderedObject } from './inventory.ts';
import type { Values } from './manifest.ts';

export interface RenderInput {
  helm: 3 | 4;
  dir: string;
  release: string;
  namespace: string;
  values: Values;
}

export type RenderResult = { ok: true; objects: RenderedObject[] } | { ok: false; error: string };

/** Writes `values` where helm reads it with -f. */
export function writeValuesFile(dir: string, name: string, values: Values): string {
  const path = join(dir, name);
  writeFileSync(path, stringifyYaml(values));
  return path;
}

function slim(o: RenderedObject): RenderedObject {
  if (o.kind !== 'CustomResourceDefinition') return o;
  const spec = (o.raw['spec'] ?? {}) as { group?: unknown; scope?: unknown; names?: { kind?: unknown } };
  return { ...o, raw: { ...o.raw, spec: { group: spec.group, scope: spec.scope, names: { kind: spec.names?.kind } } } };
}

/**
 * Renders, or reads the render of the same inputs from the cache: helm, the chart (its directory
 * names module and version), release, namespace, values and Kubernetes version key it, and a
 * chart at a pinned version renders the same kinds and names every time (generated certificates
 * and passwords differ, and the corpus reads neither).
 */
export async function renderChart(r: RenderInput): Promise<RenderResult> {
  const v = versions();
  const key = createHash('sha256')
    .update(JSON.stringify([r.helm === 3 ? v.HELM3_VERSION : v.HELM4_VERSION, v.KUBE_VERSION, r.dir, r.release, r.namespace, r.values]))
    .digest('hex')
    .slice(0, 32);
  // The parsed objects are cached, not the YAML: parsing a chart's CRDs again on every run costs
  // more than rendering them. A CRD keeps only what the corpus reads of it (group, scope, names).
  const cached = join(cacheDir(), 'corpus', 'renders', `${key}.json`);
  if (existsSync(cached)) return { ok: true, objects: JSON.parse(readFileSync(cached, 'utf8')) as RenderedObject[] };
  const work = mkdtempSync(join(tmpdir(), 'tg-corpus-render-'));
  try {
    const values = writeValuesFile(work, 'values.yaml', r.values);
    // A private HOME: no user configuration (or repository cache) reaches the render.
    const env = toolEnv(work, join(work, 'no-kubeconfig'));
    const args = ['template', r.release, r.dir, '-n', r.namespace, '-f', values, '--include-crds', '--kube-version', v.KUBE_VERSION];
    const res: RunResult = await run(binPath(r.helm === 3 ? 'helm3' : 'helm4'), args, { env, timeoutMs: 120_000 });
    if (res.code !== 0) return { ok: false, error: `helm${r.helm === 4 ? '4' : ''} template: ${(res.stderr || res.stdout).trim().slice(0, 2000)}` };
    const objects = renderedObjects(res.stdout).map(slim);
    mkdirSync(join(cacheDir(), 'corpus', 'renders'), { recursive: true });
    writeFileSync(`${cached}.${process.pid}`, JSON.stringify(objects));
    renameSync(`${cached}.${process.pid}`, cached);
    return { ok: true, objects };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
