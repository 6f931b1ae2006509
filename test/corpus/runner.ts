// The corpus runner: on one control plane, every chart of the manifest with helm 3 and with helm 4
// (and one chart's uninstall through the Helm SDK with SetNamespace), each in its own namespace:
// install, an upgrade that deletes and creates objects, a rollback to revision 1, an uninstall,
// then the namespace deleted and waited for. Runs go in parallel up to a bound, except runs whose
// rendered objects collide (the same cluster-scoped object, or the same object in a namespace of
// neither release), which wait for each other, and exclusive runs (inventory.ts exclusiveReason),
// which run alone. After each step the cluster is compared with what Helm's own rules predict from
// the release's manifests (what is listed exists; what a step dropped is gone unless it carries
// helm.sh/resource-policy; after the uninstall only kept objects and crds/ CRDs remain; the
// namespace is gone). What each run leaves by design is deleted after it (kept objects) or after
// the chart's last run (crds/ CRDs), so the cluster ends as it started. Problems are collected, never thrown: one chart's failure
// does not stop the others, and the caller asserts on the records.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { manifestObjects, type ManifestObject } from '../../src/helm/manifest.ts';
import { decodeReleaseRecord } from '../../src/helm/releaseRecord.ts';
import type { KubeObject } from '../../src/k8s/types.ts';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { apiPath } from '../cluster/kubeClient.ts';
import { sleep, type RunResult } from '../cluster/proc.ts';
import { chartDir } from './chartCache.ts';
import type { ResourceMap } from './discovery.ts';
import { crdsOf, exclusiveReason, inventory, type ChartInventory, type CrdSummary, type RenderedObject } from './inventory.ts';
import { mergeValues, substitute, type CorpusChart, type Values } from './manifest.ts';
import { renderChart, writeValuesFile } from './render.ts';

export type Variant = 'helm3' | 'helm4' | 'sdk';

export interface PlannedRun {
  chart: CorpusChart;
  variant: Variant;
  /** The helm CLI major of install, upgrade and rollback (the SDK variant: 3, as the SDK program). */
  helm: 3 | 4;
  release: string;
  namespace: string;
  installValues: Values;
  upgradeValues: Values;
  /** What `helm template` renders for the install values (hooks included). */
  rendered: RenderedObject[];
  inventory: ChartInventory;
  /** Objects no two runs may hold at once: cluster-scoped ones, and those in a namespace of neither run. */
  keys: string[];
  exclusive?: string;
}

export interface PlanProblem {
  chart: string;
  variant: Variant;
  problem: string;
}

export const VARIANTS: Array<{ variant: Variant; helm: 3 | 4 }> = [
  { variant: 'helm3', helm: 3 },
  { variant: 'helm4', helm: 4 },
];

export function runNames(chart: CorpusChart, variant: Variant): { release: string; namespace: string } {
  const suffix = variant === 'helm3' ? 'h3' : variant === 'helm4' ? 'h4' : 'sdk';
  return { release: `${chart.id}-${suffix}`, namespace: `corpus-${chart.id}-${suffix}` };
}

/** Renders every run (install and upgrade values, with the run's own helm) and derives its keys. */
export async function planCorpus(
  charts: readonly CorpusChart[],
  resources: ResourceMap,
  concurrency = 4,
): Promise<{ runs: PlannedRun[]; problems: PlanProblem[] }> {
  const specs = charts.flatMap((chart) => [
    ...VARIANTS.map((v) => ({ chart, ...v })),
    ...(chart.sdkUninstall ? [{ chart, variant: 'sdk' as const, helm: 3 as const }] : []),
  ]);
  const rendered = await mapBounded(specs, concurrency, async (s) => {
    const names = runNames(s.chart, s.variant);
    const installValues = substitute(s.chart.install, names);
    const upgradeValues = substitute(mergeValues(s.chart.install, s.chart.upgrade), names);
    const dir = chartDir(s.chart);
    const [a, b] = await Promise.all([
      renderChart({ helm: s.helm, dir, ...names, values: installValues }),
      renderChart({ helm: s.helm, dir, ...names, values: upgradeValues }),
    ]);
    return { s, names, installValues, upgradeValues, a, b };
  });
  // Kinds the cluster does not serve yet are CRs of CRDs some chart brings.
  const crds = rendered.flatMap((r) => [...(r.a.ok ? crdsOf(r.a.objects) : []), ...(r.b.ok ? crdsOf(r.b.objects) : [])]);
  const scopeOf = (apiVersion: string, kind: string) =>
    resources.scopeOf(apiVersion, kind) ?? crds.find((c) => c.kind === kind && apiVersion.startsWith(`${c.group}/`))?.scope;
  const runs: PlannedRun[] = [];
  const problems: PlanProblem[] = [];
  for (const { s, names, installValues, upgradeValues, a, b } of rendered) {
    if (!a.ok || !b.ok) {
      problems.push({
        chart: s.chart.id,
        variant: s.variant,
        problem: !a.ok ? `install values: ${a.error}` : `upgrade values: ${(b as { error: string }).error}`,
      });
      continue;
    }
    const inv = inventory(a.objects, names.namespace, scopeOf);
    const up = inventory(b.objects, names.namespace, scopeOf);
    for (const k of [...inv.unknownKinds, ...up.unknownKinds]) problems.push({ chart: s.chart.id, variant: s.variant, problem: `no scope known for ${k}` });
    const keys = [...new Set([...inv.clusterScoped, ...up.clusterScoped, ...inv.otherNamespaces, ...up.otherNamespaces])];
    const exclusive = [s.chart.exclusive, exclusiveReason(inv), exclusiveReason(up)].filter(Boolean).join('; ') || undefined;
    runs.push({
      chart: s.chart,
      variant: s.variant,
      helm: s.helm,
      ...names,
      installValues,
      upgradeValues,
      rendered: a.objects,
      inventory: inv,
      keys,
      ...(exclusive ? { exclusive } : {}),
    });
  }
  return { runs, problems };
}

async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface StepRecord {
  step: 'install' | 'upgrade' | 'rollback' | 'uninstall' | 'delete-namespace' | 'cleanup';
  cmd: string;
  code: number;
  ms: number;
  /** stdout and stderr of the command. */
  output: string;
}

export interface RunRecord {
  chart: string;
  variant: Variant;
  release: string;
  namespace: string;
  startedAt: string;
  endedAt: string;
  ms: number;
  steps: StepRecord[];
  /** Objects of revision 1 (the install) and revision 2 (the upgrade), from the releases' manifests. */
  objects: { install: number; upgrade: number };
  /** What the upgrade deleted and created (`Kind ns/name`). */
  dropped: string[];
  added: string[];
  /** Objects Helm's uninstall left by design: helm.sh/resource-policy, and CRDs of crds/. */
  kept: string[];
  /** Hook Jobs the hook runner ran (or refused), with their exit codes. */
  hookJobs: Array<{ name: string; code: number; command: string[] }>;
  /** What the cluster showed that Helm's rules do not predict, and commands that failed. */
  problems: string[];
  /** Kept objects deleted after the run (outside its namespace). */
  cleaned: string[];
  exclusive?: string;
}

export interface CorpusContext {
  cp: ControlPlane;
  resources: ResourceMap;
  log: (line: string) => void;
  /** Bound on each helm command (its hooks included). */
  helmTimeoutMs?: number;
  /** Bound on a namespace's deletion. */
  namespaceTimeoutMs?: number;
}

interface Ref {
  key: string;
  display: string;
  path: string | undefined;
  keep: boolean;
}

async function refsOf(ctx: CorpusContext, objects: readonly ManifestObject[], releaseNs: string): Promise<Ref[]> {
  return Promise.all(
    objects.map(async (o) => {
      const r = await ctx.resources.lookup(o.apiVersion, o.kind);
      const ns = r && !r.namespaced ? undefined : (o.explicitNamespace ?? releaseNs);
      const display = `${o.kind} ${ns ? `${ns}/` : ''}${o.name}`;
      const group = o.apiVersion.includes('/') ? o.apiVersion.slice(0, o.apiVersion.lastIndexOf('/')) : '';
      return {
        key: `${group}/${o.kind}/${ns ?? ''}/${o.name}`,
        display,
        path: r ? apiPath({ group: r.group, version: r.version, resource: r.resource, ...(ns ? { namespace: ns } : {}), name: o.name }) : undefined,
        keep: o.keep,
      };
    }),
  );
}

/** 'present', 'absent', or 'deleting' (a deletionTimestamp: on its way out). A kind the cluster does not serve is absent. */
async function stateOf(ctx: CorpusContext, ref: Ref): Promise<'present' | 'absent' | 'deleting'> {
  if (!ref.path) return 'absent';
  const o = await ctx.cp.client.get<{ metadata?: { deletionTimestamp?: string } }>(ref.path);
  if (!o) return 'absent';
  return o.metadata?.deletionTimestamp ? 'deleting' : 'present';
}

async function expectPresent(ctx: CorpusContext, refs: readonly Ref[], when: string, problems: string[]): Promise<void> {
  const states = await Promise.all(refs.map(async (r) => ({ r, s: await stateOf(ctx, r) })));
  for (const { r, s } of states) if (s !== 'present') problems.push(`${when}: ${r.display} should exist, is ${s}`);
}

async function expectGone(ctx: CorpusContext, refs: readonly Ref[], when: string, problems: string[]): Promise<void> {
  const states = await Promise.all(refs.map(async (r) => ({ r, s: await stateOf(ctx, r) })));
  for (const { r, s } of states) if (s === 'present') problems.push(`${when}: ${r.display} should be gone, still exists`);
}

/** Runs one chart's lifecycle; never throws (problems are recorded). */
export async function runLifecycle(ctx: CorpusContext, run: PlannedRun): Promise<RunRecord> {
  const { cp } = ctx;
  const t0 = Date.now();
  const rec: RunRecord = {
    chart: run.chart.id,
    variant: run.variant,
    release: run.release,
    namespace: run.namespace,
    startedAt: new Date(t0).toISOString(),
    endedAt: '',
    ms: 0,
    steps: [],
    objects: { install: 0, upgrade: 0 },
    dropped: [],
    added: [],
    kept: [],
    hookJobs: [],
    problems: [],
    cleaned: [],
    ...(run.exclusive ? { exclusive: run.exclusive } : {}),
  };
  const work = mkdtempSync(join(tmpdir(), `tg-corpus-${run.release}-`));
  const dir = chartDir(run.chart);
  const helmTimeout = `${Math.round((ctx.helmTimeoutMs ?? 120_000) / 1000)}s`;
  const helmBin = `helm${run.helm === 4 ? '4' : ''}`;
  const step = async (name: StepRecord['step'], cmd: string, p: Promise<RunResult>): Promise<RunResult> => {
    const s0 = Date.now();
    const r = await p;
    rec.steps.push({ step: name, cmd, code: r.code, ms: Date.now() - s0, output: `${r.stdout}${r.stderr}` });
    if (r.code !== 0) rec.problems.push(`${name}: \`${cmd}\` exited ${r.code}: ${`${r.stderr || r.stdout}`.trim().slice(-800)}`);
    return r;
  };
  // Commands are recorded as a reader reruns them: the chart by its module, values files by name.
  const shown = (a: string) => (a === dir ? `<${run.chart.module}@${run.chart.version}>/${run.chart.chart}` : a.startsWith(work) ? basename(a) : a);
  const helm = (name: StepRecord['step'], args: string[]) =>
    step(name, `${helmBin} ${args.map(shown).join(' ')}`, cp.helm(run.helm, args, { timeoutMs: (ctx.helmTimeoutMs ?? 120_000) + 30_000 }));
  // What `helm get manifest --revision N` prints, read from the release record in-process (the
  // Secret driver; decodeReleaseRecord keeps only the manifest of the payload, never the values):
  // three helm processes fewer per run.
  const manifest = async (revision: number): Promise<ManifestObject[]> => {
    const name = `sh.helm.release.v1.${run.release}.v${revision}`;
    const record = await cp.client.get<KubeObject>(`/api/v1/namespaces/${run.namespace}/secrets/${name}`);
    if (!record) throw new Error(`release record ${run.namespace}/${name} not found`);
    return manifestObjects(decodeReleaseRecord(record).manifest);
  };
  const crdsDir = (objects: readonly RenderedObject[]): CrdSummary[] => crdsOf(objects).filter((c) => c.place.endsWith('crds/'));
  const crdRefs = (crds: readonly CrdSummary[]) =>
    refsOf(
      ctx,
      crds.map((c) => ({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: c.name, keep: true })),
      run.namespace,
    );
  let installed = false;
  const standIns = (run.chart.hookStandIns ?? []).map((h) => {
    if (!cp.hookJobs) throw new Error(`${run.chart.id}: hook stand-ins need the host hook runner (a cluster without a node)`);
    return cp.hookJobs.standIn(run.namespace, substitute({ j: h.job }, run).j as string, h.reason);
  });
  try {
    const installValues = writeValuesFile(work, 'install.yaml', run.installValues);
    const upgradeValues = writeValuesFile(work, 'upgrade.yaml', run.upgradeValues);
    const install = await helm('install', [
      'install',
      run.release,
      dir,
      '-n',
      run.namespace,
      '--create-namespace',
      '-f',
      installValues,
      '--timeout',
      helmTimeout,
    ]);
    installed = true;
    if (install.code !== 0) return rec;
    const rev1 = await refsOf(ctx, await manifest(1), run.namespace);
    rec.objects.install = rev1.length;
    await expectPresent(ctx, rev1, 'after install', rec.problems);

    const upgrade = await helm('upgrade', ['upgrade', run.release, dir, '-n', run.namespace, '-f', upgradeValues, '--timeout', helmTimeout]);
    if (upgrade.code !== 0) return rec;
    const rev2 = await refsOf(ctx, await manifest(2), run.namespace);
    rec.objects.upgrade = rev2.length;
    const in1 = new Set(rev1.map((r) => r.key));
    const in2 = new Set(rev2.map((r) => r.key));
    const dropped = rev1.filter((r) => !in2.has(r.key));
    rec.dropped = dropped.map((r) => r.display);
    rec.added = rev2.filter((r) => !in1.has(r.key)).map((r) => r.display);
    await expectPresent(ctx, rev2, 'after upgrade', rec.problems);
    await expectGone(
      ctx,
      dropped.filter((r) => !r.keep),
      'after upgrade (dropped by it)',
      rec.problems,
    );

    const rollback = await helm('rollback', ['rollback', run.release, '1', '-n', run.namespace, '--timeout', helmTimeout]);
    if (rollback.code !== 0) return rec;
    const rev3 = await refsOf(ctx, await manifest(3), run.namespace);
    const in3 = new Set(rev3.map((r) => r.key));
    await expectPresent(ctx, rev3, 'after rollback', rec.problems);
    await expectGone(
      ctx,
      rev2.filter((r) => !in3.has(r.key) && !r.keep),
      'after rollback (dropped by it)',
      rec.problems,
    );
    if ([...in1].some((k) => !in3.has(k)) || [...in3].some((k) => !in1.has(k))) rec.problems.push('after rollback: the manifest differs from revision 1');

    const uninstall =
      run.variant === 'sdk'
        ? await step(
            'uninstall',
            `helm-sdk-uninstall -namespace ${run.namespace} -set-namespace ${run.release}`,
            cp.helmSdkUninstall(['-namespace', run.namespace, '-set-namespace', run.release], { timeoutMs: 240_000 }),
          )
        : await helm('uninstall', ['uninstall', run.release, '-n', run.namespace, '--timeout', helmTimeout]);
    if (uninstall.code !== 0) return rec;
    installed = false;
    // Helm's uninstall leaves what carries helm.sh/resource-policy and never deletes crds/ CRDs.
    const byHooks = new Set((run.chart.removedByHooks ?? []).map((d) => substitute({ d }, run).d as string).map((d) => d.replace(' ', ` ${run.namespace}/`)));
    const kept = [...rev3.filter((r) => r.keep && !byHooks.has(r.display)), ...(await crdRefs(crdsDir(run.rendered)))];
    rec.kept = [...new Set(kept.map((r) => r.display))];
    await expectGone(
      ctx,
      rev3.filter((r) => !r.keep),
      'after uninstall',
      rec.problems,
    );
    await expectPresent(ctx, kept, 'after uninstall (kept by Helm)', rec.problems);
    const records = await cp.client.get<{ items: unknown[] }>(
      `/api/v1/namespaces/${run.namespace}/secrets?labelSelector=${encodeURIComponent(`owner=helm,name=${run.release}`)}`,
    );
    if ((records?.items ?? []).length) rec.problems.push(`after uninstall: ${records!.items.length} release records left`);
  } catch (e) {
    rec.problems.push(`runner: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    if (installed) {
      // A failed step: take the release out the plain way so the namespace can go.
      await cp.helm(run.helm, ['uninstall', run.release, '-n', run.namespace, '--no-hooks', '--timeout', '60s']).catch(() => undefined);
    }
    await deleteNamespace(ctx, run, rec, step);
    await cleanup(ctx, run, rec);
    rec.hookJobs = (cp.hookJobs?.runs ?? [])
      .filter((h) => h.namespace === run.namespace)
      .map((h) => ({ name: h.name, code: h.code, command: h.command.map((c) => c.replace(/^.*\/kubectl-[^ ]*/, 'kubectl')) }));
    for (const h of standIns) h.remove();
    rmSync(work, { recursive: true, force: true });
    rec.endedAt = new Date().toISOString();
    rec.ms = Date.now() - t0;
  }
  return rec;
}

async function deleteNamespace(
  ctx: CorpusContext,
  run: PlannedRun,
  rec: RunRecord,
  step: (name: StepRecord['step'], cmd: string, p: Promise<RunResult>) => Promise<RunResult>,
): Promise<void> {
  const timeoutMs = ctx.namespaceTimeoutMs ?? 120_000;
  if (!(await ctx.cp.client.get(`/api/v1/namespaces/${run.namespace}`))) {
    rec.problems.push(`delete-namespace: namespace ${run.namespace} was already gone`);
    return;
  }
  const args = ['delete', 'namespace', run.namespace, `--timeout=${Math.round(timeoutMs / 1000)}s`];
  await step('delete-namespace', `kubectl ${args.join(' ')}`, ctx.cp.kubectl(args, { timeoutMs: timeoutMs + 30_000 }));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && (await ctx.cp.client.get(`/api/v1/namespaces/${run.namespace}`))) await sleep(250);
  const left = await ctx.cp.client.get<{ status?: { phase?: string; conditions?: Array<{ type: string; status: string; message?: string }> } }>(
    `/api/v1/namespaces/${run.namespace}`,
  );
  if (left) {
    const why = (left.status?.conditions ?? []).filter((c) => c.status === 'True').map((c) => `${c.type}: ${c.message ?? ''}`);
    rec.problems.push(`delete-namespace: ${run.namespace} still ${left.status?.phase ?? 'there'}${why.length ? ` (${why.join('; ')})` : ''}`);
  }
}

/**
 * Deletes what the run left by design outside the namespace just deleted: objects carrying
 * helm.sh/resource-policy (their ownership annotations name this release, so the next run of the
 * chart could not install them), then waits until every CRD the chart templates is gone (its
 * uninstall or this cleanup deleted them), so the next run does not meet a CRD still terminating.
 * CRDs of crds/, kept or not, stay for the chart's next run, as they would on any cluster (Helm 3
 * installs them only when missing, Helm 4 applies them); they go after the chart's last run.
 */
async function cleanup(ctx: CorpusContext, run: PlannedRun, rec: RunRecord): Promise<void> {
  const t0 = Date.now();
  const inCrdsDir = (o: RenderedObject) => o.kind === 'CustomResourceDefinition' && crdsOf([o])[0]!.place.endsWith('crds/');
  const deletedCrds: string[] = [];
  for (const o of run.rendered.filter((x) => x.keep && !x.hook && !inCrdsDir(x))) {
    const r = await ctx.resources.lookup(o.apiVersion, o.kind);
    if (!r) continue;
    const ns = r.namespaced ? (o.namespace ?? run.namespace) : undefined;
    if (ns === run.namespace) continue;
    const path = apiPath({ group: r.group, version: r.version, resource: r.resource, ...(ns ? { namespace: ns } : {}), name: o.name });
    const res = await ctx.cp.client.request('DELETE', path);
    if (res.status < 300) {
      rec.cleaned.push(`${o.kind} ${ns ? `${ns}/` : ''}${o.name}`);
      if (o.kind === 'CustomResourceDefinition') deletedCrds.push(o.name);
    } else if (res.status !== 404) rec.problems.push(`cleanup: DELETE ${path}: ${res.status} ${res.text.slice(0, 200)}`);
  }
  const templated = crdsOf(run.rendered)
    .filter((c) => !c.place.endsWith('crds/'))
    .map((c) => c.name);
  const waited = [...new Set([...templated, ...deletedCrds])];
  await waitGone(ctx, CRD_PATH, waited, 60_000, rec.problems, 'cleanup');
  // Namespaces the chart creates besides its own (Cilium's cilium-secrets): Helm's DELETE only
  // starts their teardown, and the chart's next run could not install one still Terminating
  // under this release's ownership annotations.
  const namespaces = run.inventory.namespaces.filter((n) => n !== run.namespace);
  await waitGone(ctx, NAMESPACE_PATH, namespaces, 60_000, rec.problems, 'cleanup');
  rec.steps.push({
    step: 'cleanup',
    cmd: `delete ${rec.cleaned.length} kept objects; wait for ${waited.length} CRDs and ${namespaces.length} other namespaces to go`,
    code: 0,
    ms: Date.now() - t0,
    output: '',
  });
}

interface KindPath {
  kind: string;
  path: (name: string) => string;
}
const CRD_PATH: KindPath = { kind: 'CRD', path: (name) => `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}` };
const NAMESPACE_PATH: KindPath = { kind: 'namespace', path: (name) => `/api/v1/namespaces/${name}` };

async function waitGone(ctx: CorpusContext, kind: KindPath, names: readonly string[], timeoutMs: number, problems: string[], when: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    while (await ctx.cp.client.get(kind.path(name))) {
      if (Date.now() > deadline) {
        problems.push(`${when}: ${kind.kind} ${name} still there after ${timeoutMs / 1000}s`);
        break;
      }
      await sleep(250);
    }
  }
}

/**
 * Deletes the CRDs of the runs' crds/ directories (Helm never deletes them) and waits until they
 * are gone. Returns what it deleted, and problems.
 */
export async function cleanupCorpus(ctx: CorpusContext, runs: readonly PlannedRun[]): Promise<{ deleted: string[]; problems: string[] }> {
  const names = [
    ...new Set(
      runs.flatMap((r) =>
        crdsOf(r.rendered)
          .filter((c) => c.place.endsWith('crds/'))
          .map((c) => c.name),
      ),
    ),
  ];
  const deleted: string[] = [];
  const problems: string[] = [];
  for (const name of names) {
    const res = await ctx.cp.client.request('DELETE', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
    if (res.status < 300) deleted.push(name);
    else if (res.status !== 404) problems.push(`DELETE CRD ${name}: ${res.status} ${res.text.slice(0, 200)}`);
  }
  await waitGone(ctx, CRD_PATH, names, 120_000, problems, 'corpus cleanup');
  return { deleted, problems };
}

/**
 * Runs the planned runs: at most `concurrency` at once, never two holding the same key, an
 * exclusive run only when nothing else runs. Runs keep the plan's order where they can (the
 * manifest lists the slow charts first).
 */
export async function runCorpus(ctx: CorpusContext, runs: readonly PlannedRun[], concurrency: number): Promise<RunRecord[]> {
  const pending = [...runs];
  const running = new Map<PlannedRun, Promise<void>>();
  const held = new Set<string>();
  const records: RunRecord[] = [];
  const left = new Map<string, number>();
  for (const r of runs) left.set(r.chart.id, (left.get(r.chart.id) ?? 0) + 1);
  // After a chart's last run, its crds/ CRDs go (with its keys still held): another chart
  // bringing a CRD of the same name (gpu-operator's node-feature-discovery subchart and
  // node-feature-discovery's own chart, at other versions) then installs its own; helm 4 applies
  // crds/ with server-side apply and fails on the other version's fields.
  const lastRunDone = async (r: PlannedRun, rec: RunRecord): Promise<void> => {
    left.set(r.chart.id, (left.get(r.chart.id) ?? 1) - 1);
    if (left.get(r.chart.id)! > 0) return;
    const chartRuns = runs.filter((x) => x.chart.id === r.chart.id);
    const { deleted, problems } = await cleanupCorpus(ctx, chartRuns);
    rec.cleaned.push(...deleted.map((n) => `CustomResourceDefinition ${n} (crds/, after the chart's last run)`));
    rec.problems.push(...problems);
  };
  while (pending.length || running.size) {
    for (const r of [...pending]) {
      if (running.size >= concurrency) break;
      if ([...running.keys()].some((x) => x.exclusive)) break;
      if (r.exclusive && running.size > 0) continue;
      if (r.keys.some((k) => held.has(k))) continue;
      pending.splice(pending.indexOf(r), 1);
      for (const k of r.keys) held.add(k);
      ctx.log(`start ${r.release} in ${r.namespace}${r.exclusive ? ' (alone)' : ''}`);
      running.set(
        r,
        runLifecycle(ctx, r).then(async (rec) => {
          await lastRunDone(r, rec);
          records.push(rec);
          running.delete(r);
          for (const k of r.keys) held.delete(k);
          ctx.log(`done ${r.release} in ${(rec.ms / 1000).toFixed(1)}s${rec.problems.length ? `: ${rec.problems.length} problems` : ''}`);
        }),
      );
      if (r.exclusive) break;
    }
    if (running.size) await Promise.race(running.values());
    else if (pending.length) throw new Error(`runs that can never start: ${pending.map((r) => r.release).join(', ')}`);
  }
  return records;
}
