// Helpers shared by the scenario suites and the demo: Helm commands against
// a ControlPlane, release-record and namespace observations, and the manual remedies used to
// reset the cluster between scenarios. Observations return data; callers decide what to assert
// or print.
import { Correlator } from '../../src/audit/correlator.ts';
import { toRecord, type AuditEventV1 } from '../../src/audit/event.ts';
import type { AuditFinding } from '../../src/audit/findings.ts';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import type { RunResult } from '../cluster/proc.ts';
import { sleep, waitFor } from '../cluster/proc.ts';
import { CSV_CLEANUP } from '../cluster/olm.ts';
import { clusterDir } from '../cluster/paths.ts';

export const chartsDir = join(clusterDir, '..', 'scenarios', 'charts');
export const chartPath = (name: 'pixie-like' | 'simple-app' | 'hooks' | 'keep-policy' | 'two-namespaces' | 'flux-operator' | 'metrics-server') =>
  join(chartsDir, name);

/** What the guard's answers look like to clients (denial reason / warning text). Adjust in one place. */
export const GUARD_TEXT = /teardown-guard|olm-orphaned-finalizers|helm-uninstall-namespace/i;
export const DENIED_TEXT = /denied the request|admission webhook .* denied/i;

export interface Step {
  label: string;
  cmd: string;
  result: RunResult;
  ms: number;
}

/** A scenario's transcript: every command run, in order (the demo prints it, tests attach it to failures). */
export class Transcript {
  steps: Step[] = [];
  notes: string[] = [];
  private sink: ((s: string) => void) | undefined;
  constructor(sink?: (s: string) => void) {
    this.sink = sink;
  }
  note(line: string): void {
    this.notes.push(line);
    this.sink?.(`# ${line}`);
  }
  async run(label: string, cmd: string, p: Promise<RunResult>): Promise<RunResult> {
    const t0 = Date.now();
    const result = await p;
    const step = { label, cmd, result, ms: Date.now() - t0 };
    this.steps.push(step);
    if (this.sink) {
      this.sink(`$ ${cmd}   # ${label} (${(step.ms / 1000).toFixed(1)}s, exit ${result.code})`);
      const out = `${result.stdout}${result.stderr}`.trimEnd();
      if (out)
        this.sink(
          out
            .split('\n')
            .map((l) => `  ${l}`)
            .join('\n'),
        );
    }
    return result;
  }
  toString(): string {
    return this.steps
      .map((s) => `$ ${s.cmd}  [${s.label}; exit ${s.result.code}; ${s.ms}ms]\n${s.result.stdout}${s.result.stderr}`)
      .concat(this.notes.map((n) => `# ${n}`))
      .join('\n');
  }
}

export async function helm(cp: ControlPlane, t: Transcript, version: 3 | 4, args: string[], label = 'helm'): Promise<RunResult> {
  const shown = args.map((a) => (a.startsWith(chartsDir) ? relative(process.cwd(), a) || a : a));
  return t.run(label, `helm${version === 4 ? '4' : ''} ${shown.join(' ')}`, cp.helm(version, args, { timeoutMs: 180_000 }));
}

export async function kubectl(cp: ControlPlane, t: Transcript, args: string[], label = 'kubectl', input?: string): Promise<RunResult> {
  return t.run(label, `kubectl ${args.join(' ')}`, cp.kubectl(args, input !== undefined ? { input, timeoutMs: 120_000 } : { timeoutMs: 120_000 }));
}

export interface SdkOptions {
  namespace?: string;
  setNamespace?: boolean;
  keepHistory?: boolean;
  /** helm-controller's shape: records in `namespace`, kube client and release in this one. */
  targetNamespace?: string;
}

export async function sdkUninstall(cp: ControlPlane, t: Transcript, release: string, o: SdkOptions = {}): Promise<RunResult> {
  const args = ['-namespace', o.namespace ?? 'helm-test'];
  if (o.setNamespace) args.push('-set-namespace');
  if (o.targetNamespace) args.push('-target-namespace', o.targetNamespace);
  if (o.keepHistory) args.push('-keep-history');
  args.push(release);
  return t.run('Helm SDK uninstall', `helm-sdk-uninstall ${args.join(' ')}`, cp.helmSdkUninstall(args, { timeoutMs: 180_000 }));
}

/** Installs `chart` through the SDK the way Flux's helm-controller does (records and release namespaces apart). */
export async function sdkInstall(
  cp: ControlPlane,
  t: Transcript,
  release: string,
  chart: string,
  o: { namespace: string; targetNamespace: string },
): Promise<RunResult> {
  const args = ['-namespace', o.namespace, '-target-namespace', o.targetNamespace, '-install', chart, release];
  return t.run(
    'Helm SDK install',
    `helm-sdk-uninstall ${args.map((a) => (a === chart ? relative(process.cwd(), a) || a : a)).join(' ')}`,
    cp.helmSdkUninstall(args, { timeoutMs: 180_000 }),
  );
}

export async function ensureNamespace(cp: ControlPlane, ns: string): Promise<void> {
  const r = await cp.client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
  if (r.status !== 201 && r.status !== 409) throw new Error(`create namespace ${ns}: ${r.status} ${r.text}`);
  // Wait for the default ServiceAccount (kcm) so pods of Deployments can be created there.
  await waitFor(
    `${ns}/default ServiceAccount`,
    30_000,
    async () => ((await cp.client.get(`/api/v1/namespaces/${ns}/serviceaccounts/default`)) ? true : undefined),
    100,
  );
}

export interface ReleaseRecord {
  name: string;
  version: number;
  status: string;
}

/** Helm release records (Secret driver) of `release` in `ns`, oldest first. */
export async function releaseRecords(cp: ControlPlane, ns: string, release: string): Promise<ReleaseRecord[]> {
  const list = await cp.client.get<{ items: Array<{ metadata: { name: string; labels?: Record<string, string> } }> }>(
    `/api/v1/namespaces/${ns}/secrets?labelSelector=${encodeURIComponent(`owner=helm,name=${release}`)}`,
  );
  return (list?.items ?? [])
    .map((s) => ({ name: s.metadata.name, version: Number(s.metadata.labels?.version ?? 0), status: s.metadata.labels?.status ?? '' }))
    .sort((a, b) => a.version - b.version);
}

export interface ObjectRef {
  apiPath: string;
  display: string;
}

/** REST paths of simple-app's objects for `release` in `ns`. */
export function simpleAppObjects(ns: string, release: string): ObjectRef[] {
  return [
    { apiPath: `/api/v1/namespaces/${ns}/configmaps/${release}-config`, display: `configmap ${ns}/${release}-config` },
    { apiPath: `/api/v1/namespaces/${ns}/services/${release}-svc`, display: `service ${ns}/${release}-svc` },
    { apiPath: `/apis/apps/v1/namespaces/${ns}/deployments/${release}-app`, display: `deployment ${ns}/${release}-app` },
  ];
}

export async function existing(cp: ControlPlane, refs: ObjectRef[]): Promise<string[]> {
  const out: string[] = [];
  for (const r of refs) {
    const o = await cp.client.get<{ metadata?: { deletionTimestamp?: string } }>(r.apiPath);
    if (o && !o.metadata?.deletionTimestamp) out.push(r.display);
  }
  return out;
}

export interface CsvState {
  namespace: string;
  name: string;
  finalizers: string[];
  deleting: boolean;
  copied: boolean;
}

export interface NamespaceState {
  name: string;
  exists: boolean;
  phase?: string;
  conditions: Array<{ type: string; status: string; reason?: string; message?: string }>;
  /** Non-copied CSVs in the namespace. */
  csvs: CsvState[];
}

export async function csvsIn(cp: ControlPlane, ns?: string): Promise<CsvState[]> {
  const path = ns
    ? `/apis/operators.coreos.com/v1alpha1/namespaces/${ns}/clusterserviceversions`
    : '/apis/operators.coreos.com/v1alpha1/clusterserviceversions';
  const list = await cp.client.get<{
    items: Array<{ metadata: { name: string; namespace: string; finalizers?: string[]; deletionTimestamp?: string; labels?: Record<string, string> } }>;
  }>(path);
  return (list?.items ?? []).map((c) => ({
    namespace: c.metadata.namespace,
    name: c.metadata.name,
    finalizers: c.metadata.finalizers ?? [],
    deleting: Boolean(c.metadata.deletionTimestamp),
    copied: Boolean(c.metadata.labels?.['olm.copiedFrom']),
  }));
}

export async function namespaceState(cp: ControlPlane, ns: string): Promise<NamespaceState> {
  const o = await cp.client.get<{ status?: { phase?: string; conditions?: NamespaceState['conditions'] } }>(`/api/v1/namespaces/${ns}`);
  if (!o) return { name: ns, exists: false, conditions: [], csvs: [] };
  const csvs = (await csvsIn(cp, ns).catch(() => [])).filter((c) => !c.copied);
  return { name: ns, exists: true, phase: o.status?.phase, conditions: o.status?.conditions ?? [], csvs };
}

export function describeNamespace(s: NamespaceState): string {
  if (!s.exists) return `namespace ${s.name}: gone`;
  const csv = s.csvs.map((c) => `csv ${c.name}${c.deleting ? ' (deleting)' : ''} finalizers=[${c.finalizers.join(',')}]`).join('; ');
  const cond = s.conditions
    .filter((c) => c.status === 'True')
    .map((c) => `${c.type}${c.message ? `: ${c.message}` : ''}`)
    .join('; ');
  return `namespace ${s.name}: ${s.phase}${csv ? `; ${csv}` : ''}${cond ? `; ${cond}` : ''}`;
}

export async function waitNamespaceGone(cp: ControlPlane, ns: string, timeoutMs = 90_000): Promise<void> {
  await waitFor(`namespace ${ns} gone`, timeoutMs, async () => ((await cp.client.get(`/api/v1/namespaces/${ns}`)) ? undefined : true), 250);
}

/**
 * What kube-controller-manager's namespace deleter says of a Terminating namespace when everything
 * is deleted but objects held by `finalizer` (k8s.io/kubernetes pkg/controller/namespace/deletion,
 * status_condition_utils.go): no discovery, parsing or deletion failure, the finalizer the only one
 * remaining, and the remaining resource instances exactly those it holds. Undefined while it says
 * anything else.
 */
export function heldOnlyBy(s: NamespaceState, finalizer: string): { instances: number } | undefined {
  if (!s.exists || s.phase !== 'Terminating') return undefined;
  const cond = (type: string) => s.conditions.find((c) => c.type === type);
  for (const failure of ['NamespaceDeletionDiscoveryFailure', 'NamespaceDeletionGroupVersionParsingFailure', 'NamespaceDeletionContentFailure']) {
    if (cond(failure)?.status !== 'False') return undefined;
  }
  const finalizers = cond('NamespaceFinalizersRemaining');
  const content = cond('NamespaceContentRemaining');
  if (finalizers?.status !== 'True' || content?.status !== 'True') return undefined;
  // "Some content in the namespace has finalizers remaining: F in N resource instances[, ...]"
  const held = [...(finalizers.message ?? '').matchAll(/(\S+) in (\d+) resource instances/g)];
  if (held.length !== 1 || held[0]![1] !== finalizer) return undefined;
  const instances = Number(held[0]![2]);
  // "Some resources are remaining: R.G has N resource instances[, ...]"
  const remaining = [...(content.message ?? '').matchAll(/has (\d+) resource instances/g)].reduce((n, m) => n + Number(m[1]), 0);
  return remaining === instances ? { instances } : undefined;
}

/**
 * Proves namespace `ns` stuck for good on `finalizer`, without a fixed wait: the namespace deleter
 * has finished everything else and reports only objects that `finalizer` holds (heldOnlyBy), and
 * the one controller that removes it is not running (`controllerRunning`), so nothing will.
 * Not stuck when the namespace goes, or the deleter says anything else within `timeoutMs`.
 */
export async function stuckOnFinalizer(
  cp: ControlPlane,
  ns: string,
  finalizer: string,
  o: { controllerRunning: () => boolean | Promise<boolean>; timeoutMs?: number },
): Promise<{ stuck: boolean; last: NamespaceState }> {
  let last = await namespaceState(cp, ns);
  const held = await waitFor(
    `the namespace deleter reporting ${ns} held only by ${finalizer}`,
    o.timeoutMs ?? 60_000,
    async () => {
      last = await namespaceState(cp, ns);
      if (!last.exists) return false;
      return heldOnlyBy(last, finalizer) ? true : undefined;
    },
    250,
  ).catch(() => false);
  return { stuck: held && !(await o.controllerRunning()), last };
}

/** Samples the namespace for `ms` and reports whether it stayed Terminating with a csv-cleanup CSV the whole time. */
export async function stuckFor(cp: ControlPlane, ns: string, ms: number): Promise<{ stuck: boolean; last: NamespaceState }> {
  // First let the namespace controller reach the CSV (it sets its deletionTimestamp), bounded.
  await waitFor(
    `namespace controller deleting the CSVs in ${ns}`,
    30_000,
    async () => {
      const s = await namespaceState(cp, ns);
      return !s.exists || s.csvs.length === 0 || s.csvs.some((c) => c.deleting) ? true : undefined;
    },
    250,
  ).catch(() => undefined);
  const deadline = Date.now() + ms;
  let last = await namespaceState(cp, ns);
  let stuck = true;
  while (Date.now() < deadline) {
    last = await namespaceState(cp, ns);
    const held = last.exists && last.phase === 'Terminating' && last.csvs.some((c) => c.deleting && c.finalizers.includes(CSV_CLEANUP));
    if (!held) {
      stuck = false;
      break;
    }
    await sleep(1000);
  }
  return { stuck, last };
}

const OWNER_KIND = 'olm.owner.kind=ClusterServiceVersion';

/** Cluster-scoped objects OLM made for CSVs of `ns` (labels olm.owner*). */
export async function olmOwnedClusterObjects(cp: ControlPlane, ns: string): Promise<string[]> {
  const sel = encodeURIComponent(`${OWNER_KIND},olm.owner.namespace=${ns}`);
  const out: string[] = [];
  for (const [kind, path] of [
    ['clusterrole', '/apis/rbac.authorization.k8s.io/v1/clusterroles'],
    ['clusterrolebinding', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings'],
  ] as const) {
    const list = await cp.client.get<{ items: Array<{ metadata: { name: string } }> }>(`${path}?labelSelector=${sel}`);
    for (const i of list?.items ?? []) out.push(`${kind} ${i.metadata.name}`);
  }
  return out;
}

/**
 * The manual remedy of src/ARCHITECTURE.md §1A, used to reset the cluster after a reproduced incident:
 * delete the namespace, drop csv-cleanup from its CSVs once they are being deleted, wait for the
 * namespace to go, delete the cluster-scoped objects OLM would have cleaned up, and the copies OLM
 * spread into other namespaces.
 */
export async function forceRemoveOperatorNamespace(cp: ControlPlane, ns: string, t?: Transcript): Promise<void> {
  if (await cp.client.get(`/api/v1/namespaces/${ns}`)) await cp.client.request('DELETE', `/api/v1/namespaces/${ns}`);
  // A running olm-operator adds csv-cleanup back to any CSV without a deletionTimestamp (OLM v0.46
  // processFinalizer), and may stop right after: dropping the finalizer before the namespace
  // controller has marked the CSV deleting races with it and strands the namespace.
  const dropped = new Set<string>();
  await waitFor(
    `namespace ${ns} gone (csv-cleanup dropped from its deleting CSVs)`,
    90_000,
    async () => {
      if (!(await cp.client.get(`/api/v1/namespaces/${ns}`))) return true;
      for (const c of await csvsIn(cp, ns).catch(() => [])) {
        if (!c.deleting || !c.finalizers.length || dropped.has(c.name)) continue;
        const args = ['patch', 'csv', c.name, '-n', ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'];
        const r = t ? await kubectl(cp, t, args, 'manual remedy: drop the finalizer') : await cp.kubectl(args);
        if (r.code === 0) dropped.add(c.name);
      }
      return undefined;
    },
    250,
  );
  const sel = `${OWNER_KIND},olm.owner.namespace=${ns}`;
  for (const kind of ['clusterrolebindings', 'clusterroles']) {
    const args = ['delete', kind, '-l', sel, '--ignore-not-found'];
    if (t) await kubectl(cp, t, args, 'manual remedy: delete leaked cluster-scoped objects');
    else await cp.kubectl(args);
  }
  await cp.kubectl(['delete', 'csv', '-A', '-l', `olm.copiedFrom=${ns}`, '--ignore-not-found', '--wait=false']);
}

/** The audit.k8s.io/v1 Event fields the suite reads. */
export interface AuditEvent {
  stage?: string;
  level?: string;
  verb?: string;
  user?: { username?: string; groups?: string[] };
  objectRef?: { apiGroup?: string; resource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
  annotations?: Record<string, string>;
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
}

/**
 * Where the next complete line of a log another process appends to starts, in bytes (the audit
 * log, a guard's or controller's log): a line still being written belongs to what comes after.
 * Reads only the file's end: the shared cluster's audit log grows over a whole run.
 */
export function lineOffset(path: string): number {
  const fd = openSync(path, 'r');
  try {
    let end = fstatSync(fd).size;
    const chunk = Buffer.alloc(64 * 1024);
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const n = readSync(fd, chunk, 0, end - start, start);
      const nl = chunk.subarray(0, n).lastIndexOf(0x0a);
      if (nl >= 0) return start + nl + 1;
      end = start;
    }
    return 0;
  } finally {
    closeSync(fd);
  }
}

/** The complete lines appended after byte `from` (a lineOffset); a half-written last line waits for the next read. */
export function linesSince(path: string, from = 0): string[] {
  const fd = openSync(path, 'r');
  let bytes: Buffer;
  try {
    const size = fstatSync(fd).size;
    bytes = Buffer.alloc(Math.max(0, size - from));
    let got = 0;
    while (got < bytes.length) {
      const n = readSync(fd, bytes, got, bytes.length - got, from + got);
      if (n === 0) break;
      got += n;
    }
    bytes = bytes.subarray(0, got);
  } finally {
    closeSync(fd);
  }
  return bytes
    .subarray(0, bytes.lastIndexOf(0x0a) + 1)
    .toString('utf8')
    .split('\n')
    .filter(Boolean);
}

export function readAuditEvents(path: string, from = 0): AuditEvent[] {
  return linesSince(path, from).map((l) => JSON.parse(l) as AuditEvent);
}

/** Events of the apiserver audit log appended after offset `from` (see auditOffset). */
export function auditEventsSince(cp: ControlPlane, from: number): AuditEvent[] {
  return readAuditEvents(cp.auditLogPath, from);
}

export function auditOffset(cp: ControlPlane): number {
  return lineOffset(cp.auditLogPath);
}

/** Audit events carrying annotations written by our webhooks (keys "<webhook name>/<key>"). */
export function guardAnnotated(events: AuditEvent[]): AuditEvent[] {
  return events.filter((e) => Object.keys(e.annotations ?? {}).some((k) => k.includes('teardown-guard')));
}

export function output(r: RunResult): string {
  return `${r.stdout}\n${r.stderr}`;
}

/**
 * Runs named scenario bodies with a fresh Transcript each, records their durations in `timings`,
 * and on failure prints the transcript and the daemons' last log lines before rethrowing.
 */
export function scenarioRunner(
  cp: () => ControlPlane | undefined,
  timings: Record<string, number>,
): (name: string, body: (t: Transcript) => Promise<void>) => Promise<void> {
  return async (name, body) => {
    const t = new Transcript();
    const t0 = Date.now();
    try {
      await body(t);
    } catch (e) {
      console.error(`[scenarios] ${name} failed; transcript:\n${t.toString()}\n${cp()?.diagnostics(15) ?? ''}`);
      throw e;
    } finally {
      timings[name] = Date.now() - t0;
    }
  };
}

/** `teardown-guard review`'s correlator over the events the real API server logged. */
export function reviewAuditEvents(events: readonly object[]): AuditFinding[] {
  const found: AuditFinding[] = [];
  const c = new Correlator({ onFinding: (f) => found.push(f) });
  for (const e of events) {
    // Lines of the real API server's log; toRecord reads every field as unvalidated JSON.
    const r = toRecord(e as AuditEventV1);
    if (r) c.push(r);
  }
  c.flush(false);
  return found;
}
