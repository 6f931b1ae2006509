// The library scenarios use to run real operators (operators.json) on a control plane they are
// given: install one from its own chart or manifests with Helm 3 or 4 or kubectl, wait until its
// controller (real, or the stand-in) runs, create its sample custom resources, scale the
// controller to 0 and back, uninstall it, tell whether a finalizer was removed, prove that a
// namespace or a CRD hangs on a finalizer (from the conditions the control plane itself writes,
// never from elapsed time), and clean up by removing stuck finalizers by hand. It never assumes
// it owns the cluster: it touches only what it installed or was told about.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { fluxOperatorChart } from '../cluster/deploymentPrograms.ts';
import { apiPath } from '../cluster/kubeClient.ts';
import { imageName, type OlmSupervisor } from '../cluster/olmSupervisor.ts';
import { freePort, tail, waitFor, type RunResult } from '../cluster/proc.ts';
import {
  operatorDataReady,
  operatorPath,
  operatorSpec,
  operatorsDir,
  type FinalizedType,
  type OperatorSpec,
  type Scope,
  type WorkloadSpec,
} from './manifest.ts';
import { neutraliseKueue } from './neutralise.ts';
import { startOperatorSupervisor } from './supervisor.ts';

/** Bound on waits for controllers and the control plane; never asserted on (generous: the machine may be shared). */
export const OPERATOR_TIMEOUT_MS = 120_000;

export interface ObjectRef {
  group: string;
  version: string;
  resource: string;
  kind: string;
  namespace?: string;
  name: string;
}

/** A created object whose type carries the operator's finalizer. */
export interface FinalizedObject extends ObjectRef {
  finalizer: string;
  scope: Scope;
}

export interface WorkloadRef {
  spec: WorkloadSpec;
  kind: 'Deployment' | 'StatefulSet';
  namespace: string;
  name: string;
  serviceAccount: string;
}

type Meta = { name: string; namespace?: string; finalizers?: string[]; deletionTimestamp?: string; annotations?: Record<string, string> };
type Obj = { apiVersion?: string; kind?: string; metadata: Meta };
type Container = { image?: string; command?: string[]; args?: string[] };
type Workload = {
  metadata: Meta;
  spec: { template?: { spec?: { serviceAccountName?: string; containers?: Container[] } } };
  status?: { availableReplicas?: number };
};
type Condition = { type: string; status: string; reason?: string; message?: string };

export const objectPath = (r: ObjectRef): string =>
  apiPath({ group: r.group, version: r.version, resource: r.resource, ...(r.namespace ? { namespace: r.namespace } : {}), name: r.name });

export const describeRef = (r: ObjectRef): string => `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;

function output(r: RunResult): string {
  return `exit ${r.code}\n${r.stdout}${r.stderr}`.trim();
}

async function mustRun(what: string, p: Promise<RunResult>): Promise<RunResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed: ${output(r)}`);
  return r;
}

/** Whether a container is the one a manifest workload names (image, and first command or argument where given). */
function runs(c: Container, w: WorkloadSpec): boolean {
  return imageName(c.image ?? '') === w.image && (w.arg0 === undefined || (c.command?.[0] ?? c.args?.[0]) === w.arg0);
}

export interface InstallOptions {
  helm?: 3 | 4;
  release?: string;
  namespace?: string;
}

export class OperatorHarness {
  readonly cp: ControlPlane;
  readonly supervisor: OlmSupervisor;
  private readonly log: (line: string) => void;
  /** Kueue's webhook port per install namespace, chosen before its install (neutralise.ts). */
  private readonly webhookPorts = new Map<string, number>();

  constructor(cp: ControlPlane, o: { log?: (line: string) => void } = {}) {
    this.cp = cp;
    this.log = o.log ?? (() => {});
    this.supervisor = startOperatorSupervisor(cp, {
      log: this.log,
      standInFlags: (op, ns) => (op.name === 'kueue' && this.webhookPorts.has(ns) ? [`--tg-webhook-port=${this.webhookPorts.get(ns)}`] : []),
    });
  }

  async install(name: string, o: InstallOptions = {}): Promise<InstalledOperator> {
    const spec = operatorSpec(name);
    if (!operatorDataReady(spec)) throw new Error(`${spec.name}'s chart or manifests are not in the cache: run \`npm run build:binaries\` first`);
    const ns = o.namespace ?? spec.install.namespace;
    if (spec.install.fixedNamespace && ns !== spec.install.namespace) {
      throw new Error(`${spec.displayName} installs only into ${spec.install.namespace}: ${spec.install.fixedNamespaceWhy ?? ''}`);
    }
    const release = o.release ?? spec.install.release ?? spec.name;
    const helm = o.helm ?? 3;
    const cp = this.cp;
    const dir = join(cp.dir, 'operators');
    mkdirSync(dir, { recursive: true });
    for (const crds of spec.install.preInstallCrds ?? []) {
      await mustRun(`${spec.name}: applying ${crds}`, cp.kubectl(['apply', '--server-side', '--force-conflicts', '-f', operatorPath(spec, crds)]));
    }
    if (spec.name === 'kueue') this.webhookPorts.set(ns, await freePort());
    if (spec.install.method === 'helm') {
      const chart = spec.install.chart!.startsWith('@project:')
        ? fluxOperatorChart(operatorPath(spec, spec.install.chart!), dir)
        : operatorPath(spec, spec.install.chart!);
      const values = join(dir, `values-${spec.name}-${ns}.json`);
      writeFileSync(values, JSON.stringify(spec.install.values));
      await mustRun(
        `helm${helm} install ${release}`,
        cp.helm(helm, ['install', release, chart, '-n', ns, '--create-namespace', '-f', values, '--timeout', '120s'], { timeoutMs: 180_000 }),
      );
    } else {
      const nsr = await cp.client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
      if (nsr.status !== 201 && nsr.status !== 409) throw new Error(`creating namespace ${ns}: ${nsr.status}`);
      await mustRun(
        `kubectl apply ${spec.install.manifest}`,
        cp.kubectl(['apply', '-n', ns, '--server-side', '--force-conflicts', '-f', operatorPath(spec, spec.install.manifest!)], { timeoutMs: 180_000 }),
      );
    }
    const workloads = await this.resolveWorkloads(spec, ns);
    if (spec.name === 'kueue') {
      const controller = workloads.find((w) => w.spec.role === 'controller')!;
      await neutraliseKueue(cp, ns, controller.name.replace(/-controller-manager$/, ''), this.webhookPorts.get(ns)!);
    }
    this.log(`${spec.name}: installed into ${ns}${spec.install.method === 'helm' ? ` (helm ${helm}, release ${release})` : ''}`);
    return new InstalledOperator(this, spec, ns, spec.install.method === 'helm' ? { release, helm } : undefined, workloads);
  }

  /** The installed Deployments and StatefulSets that run the manifest's workloads, found by what their containers run. */
  private async resolveWorkloads(spec: OperatorSpec, ns: string): Promise<WorkloadRef[]> {
    return waitFor(
      `${spec.name}'s workloads in ${ns}`,
      OPERATOR_TIMEOUT_MS,
      async () => {
        const found: WorkloadRef[] = [];
        for (const kind of ['Deployment', 'StatefulSet'] as const) {
          const list = await this.cp.client.get<{ items: Workload[] }>(`/apis/apps/v1/namespaces/${ns}/${kind.toLowerCase()}s`);
          for (const wl of list?.items ?? []) {
            const w = spec.workloads.find((x) => x.kind === kind && (wl.spec.template?.spec?.containers ?? []).some((c) => runs(c, x)));
            if (w)
              found.push({ spec: w, kind, namespace: ns, name: wl.metadata.name, serviceAccount: wl.spec.template?.spec?.serviceAccountName ?? 'default' });
          }
        }
        return spec.workloads.every((w) => found.some((f) => f.spec === w)) ? found : undefined;
      },
      250,
    );
  }

  async stop(): Promise<void> {
    await this.supervisor.stop();
  }
}

export class InstalledOperator {
  readonly harness: OperatorHarness;
  readonly spec: OperatorSpec;
  readonly namespace: string;
  readonly helm: { release: string; helm: 3 | 4 } | undefined;
  readonly workloads: WorkloadRef[];

  constructor(harness: OperatorHarness, spec: OperatorSpec, namespace: string, helm: { release: string; helm: 3 | 4 } | undefined, workloads: WorkloadRef[]) {
    this.harness = harness;
    this.spec = spec;
    this.namespace = namespace;
    this.helm = helm;
    this.workloads = workloads;
  }

  get controller(): WorkloadRef {
    return this.workloads.find((w) => w.spec.role === 'controller')!;
  }

  private get cp(): ControlPlane {
    return this.harness.cp;
  }

  /**
   * Until every workload's program runs (a stand-in: it logged `running`, after its informers,
   * webhooks and start-up work) and the real deployment/statefulset controllers count its
   * replica available.
   */
  async waitRunning(timeoutMs = OPERATOR_TIMEOUT_MS): Promise<void> {
    const sup = this.harness.supervisor;
    for (const w of this.workloads) {
      await sup.waitRunning(w.namespace, w.name, timeoutMs);
      if (w.spec.run === 'stand-in') {
        await waitFor(
          `stand-in ${w.namespace}/${w.name} running`,
          timeoutMs,
          () => {
            const p = sup.running().find((x) => x.namespace === w.namespace && x.name === w.name);
            if (!p) return undefined;
            // This process's lines only: the log file also holds earlier runs (a scale to 0 and back).
            const lines = tail(p.logPath, 400).split('\n');
            const start = lines.findLastIndex((l) => l.includes(' stand-in for ') && Date.parse(l.slice(0, 24)) >= p.startedAt - 1000);
            return start >= 0 && lines.slice(start + 1).some((l) => l.slice(25) === 'running') ? true : undefined;
          },
          100,
        );
      }
      await waitFor(
        `${w.kind} ${w.namespace}/${w.name} available`,
        timeoutMs,
        async () => {
          const o = await this.cp.client.get<Workload>(`/apis/apps/v1/namespaces/${w.namespace}/${w.kind.toLowerCase()}s/${w.name}`);
          return (o?.status?.availableReplicas ?? 0) >= 1 ? true : undefined;
        },
        200,
      );
    }
  }

  /** What the program of a workload (default the controller) has logged, all its runs. */
  programLog(role = 'controller'): string {
    const w = this.workloads.find((x) => x.spec.role === role);
    const p = w && this.harness.supervisor.running().find((x) => x.namespace === w.namespace && x.name === w.name);
    return p ? tail(p.logPath, 2000) : '';
  }

  /** Scales a workload (default the controller) and waits until its program runs again or has stopped. */
  async scale(replicas: number, role = 'controller', timeoutMs = OPERATOR_TIMEOUT_MS): Promise<void> {
    const w = this.workloads.find((x) => x.spec.role === role);
    if (!w) throw new Error(`${this.spec.name} has no workload ${role}`);
    await mustRun(`scale ${w.kind} ${w.name}`, this.cp.kubectl(['scale', `${w.kind.toLowerCase()}/${w.name}`, '-n', w.namespace, `--replicas=${replicas}`]));
    if (replicas === 0) await this.harness.supervisor.waitStopped(w.namespace, w.name, timeoutMs);
    else await this.waitRunning(timeoutMs);
  }

  /**
   * Creates the operator's samples (samples/<name>.yaml) in `namespace` (namespaced kinds;
   * cluster-scoped ones as they are), each once its kind is served (Crossplane's composite kind
   * appears only after its XRD is processed). Returns the objects whose type the operator
   * finalizes. `kinds` picks some of the samples, `nameSuffix` makes copies of them.
   */
  async createSamples(namespace: string, o: { kinds?: string[]; nameSuffix?: string; timeoutMs?: number } = {}): Promise<FinalizedObject[]> {
    const timeoutMs = o.timeoutMs ?? OPERATOR_TIMEOUT_MS;
    const docs = parseAllDocuments(readFileSync(join(operatorsDir, this.spec.samples), 'utf8'))
      .map((d) => d.toJS() as Obj)
      .filter((d) => !o.kinds || o.kinds.includes(d.kind ?? ''))
      .map((d) => (o.nameSuffix ? { ...d, metadata: { ...d.metadata, name: `${d.metadata.name}${o.nameSuffix}` } } : d));
    const out: FinalizedObject[] = [];
    for (const doc of docs) {
      const created = await waitFor(
        `${this.spec.name}: sample ${doc.kind} ${doc.metadata.name} created`,
        timeoutMs,
        async () => {
          const r = await this.cp.kubectl(['create', '-n', namespace, '-o', 'json', '-f', '-'], { input: JSON.stringify(doc) });
          if (r.code === 0) return JSON.parse(r.stdout) as Obj;
          // Not served yet (a CRD not established, a kind not yet defined): try again.
          if (/no matches for kind|could not find the requested resource|ensure CRDs are installed/i.test(r.stderr)) return undefined;
          throw new Error(`creating ${doc.kind} ${doc.metadata.name}: ${output(r)}`);
        },
        500,
      );
      const [group, version] = created.apiVersion!.includes('/') ? created.apiVersion!.split('/') : ['', created.apiVersion!];
      const type = finalizedTypeOf(this.spec, group!, created.kind!);
      if (type) {
        out.push({
          group: group!,
          version: version!,
          resource: type.resource,
          kind: created.kind!,
          ...(created.metadata.namespace ? { namespace: created.metadata.namespace } : {}),
          name: created.metadata.name,
          finalizer: type.finalizer,
          scope: type.scope,
        });
      }
    }
    return out;
  }

  /** `helm uninstall` of the release, or `kubectl delete -f` of the manifest (not waiting: CRDs may hang). */
  uninstall(): Promise<RunResult> {
    if (this.helm) return this.cp.helm(this.helm.helm, ['uninstall', this.helm.release, '-n', this.namespace, '--ignore-not-found'], { timeoutMs: 180_000 });
    return this.cp.kubectl(['delete', '-n', this.namespace, '--ignore-not-found', '--wait=false', '-f', operatorPath(this.spec, this.spec.install.manifest!)], {
      timeoutMs: 180_000,
    });
  }
}

/** The finalized type a created object belongs to (by group and kind; Crossplane's composite kind by its sample kind). */
export function finalizedTypeOf(spec: OperatorSpec, group: string, kind: string): (FinalizedType & { resource: string }) | undefined {
  for (const t of spec.finalized) {
    if (t.group === group && t.kind === kind) return t;
    if (t.sampleKind && t.sampleKind.group === group && t.sampleKind.kind === kind) return { ...t, resource: t.sampleKind.resource };
  }
  return undefined;
}

export async function getObject(cp: ControlPlane, r: ObjectRef): Promise<Obj | undefined> {
  return cp.client.get<Obj>(objectPath(r));
}

/** Gone, or no longer carrying its finalizer. */
export async function finalizerRemoved(cp: ControlPlane, o: FinalizedObject): Promise<boolean> {
  const live = await getObject(cp, o);
  return !live || !(live.metadata.finalizers ?? []).includes(o.finalizer);
}

export async function waitFinalizer(cp: ControlPlane, o: FinalizedObject, present: boolean, timeoutMs = OPERATOR_TIMEOUT_MS): Promise<void> {
  await waitFor(
    `${describeRef(o)} ${present ? 'carrying' : 'without'} ${o.finalizer}`,
    timeoutMs,
    async () => {
      const removed = await finalizerRemoved(cp, o);
      return removed !== present ? true : undefined;
    },
    200,
  );
}

export async function deleteObject(cp: ControlPlane, r: ObjectRef): Promise<void> {
  const d = await cp.client.request('DELETE', objectPath(r));
  if (d.status >= 300 && d.status !== 404) throw new Error(`deleting ${describeRef(r)}: ${d.status} ${d.text.slice(0, 300)}`);
}

/** The managedFields manager that set `metadata.finalizers` (the last one listing it). */
export async function finalizerManager(cp: ControlPlane, r: ObjectRef): Promise<string | undefined> {
  const o = await cp.client.get<{ metadata: { managedFields?: Array<{ manager?: string; fieldsV1?: { 'f:metadata'?: { 'f:finalizers'?: unknown } } }> } }>(
    objectPath(r),
  );
  return (o?.metadata.managedFields ?? []).filter((m) => m.fieldsV1?.['f:metadata']?.['f:finalizers'] !== undefined).pop()?.manager;
}

export interface NamespaceStuckProof {
  namespace: string;
  conditions: Condition[];
  /** What still holds it: each object being deleted and carrying the finalizer. */
  holding: Array<{ ref: string; finalizers: string[] }>;
}

/** "a in 1 resource instances, b in 2 resource instances" -> [a, b] (pkg/controller/namespace/deletion status_condition_utils.go ProcessContentTotals). */
export function finalizersInMessage(message: string): string[] {
  const list = message.slice(message.indexOf(':') + 1);
  return [...list.matchAll(/\s*([^,]+?) in \d+ resource instances/g)].map((m) => m[1]!);
}

/** "pods. has 1 resource instances, canaries.flagger.app has ..." -> ['canaries.flagger.app'] */
export function resourcesInMessage(message: string): string[] {
  const list = message.slice(message.indexOf(':') + 1);
  return [...list.matchAll(/\s*([^,]+?) has \d+ resource instances/g)].map((m) => m[1]!);
}

/**
 * Proof that namespace `ns` hangs on `objects`' finalizers, from what the namespace controller
 * writes after each pass (k8s.io/kubernetes pkg/controller/namespace/deletion
 * namespacedResourcesDeleter.deleteAllContent): Terminating; discovery, group-version parsing and
 * content deletion all succeeded (their conditions False); NamespaceContentRemaining names only
 * the finalized types and NamespaceFinalizersRemaining only their finalizers, so everything else
 * is gone; and each such object still there is being deleted and carries its finalizer.
 */
export async function proveNamespaceStuck(
  cp: ControlPlane,
  ns: string,
  objects: FinalizedObject[],
  timeoutMs = OPERATOR_TIMEOUT_MS,
): Promise<NamespaceStuckProof> {
  const finalizers = new Set(objects.map((o) => o.finalizer));
  const resources = new Set(objects.map((o) => `${o.resource}.${o.group}`));
  let last = '';
  return waitFor(
    `namespace ${ns} proven stuck on ${[...finalizers].join(', ')}`,
    timeoutMs,
    async () => {
      const n = await cp.client.get<{ status?: { phase?: string; conditions?: Condition[] } }>(`/api/v1/namespaces/${ns}`);
      const conditions = n?.status?.conditions ?? [];
      last = JSON.stringify(n?.status ?? 'gone');
      const c = (t: string) => conditions.find((x) => x.type === t);
      if (n?.status?.phase !== 'Terminating') return undefined;
      for (const t of ['NamespaceDeletionDiscoveryFailure', 'NamespaceDeletionGroupVersionParsingFailure', 'NamespaceDeletionContentFailure']) {
        if (c(t)?.status !== 'False') return undefined;
      }
      const fin = c('NamespaceFinalizersRemaining');
      const content = c('NamespaceContentRemaining');
      if (fin?.status !== 'True' || content?.status !== 'True') return undefined;
      const named = finalizersInMessage(fin.message ?? '');
      if (!named.length || !named.every((f) => finalizers.has(f))) return undefined;
      const left = resourcesInMessage(content.message ?? '');
      if (!left.length || !left.every((r) => resources.has(r))) return undefined;
      const holding: NamespaceStuckProof['holding'] = [];
      for (const o of objects.filter((x) => x.namespace === ns)) {
        const live = await getObject(cp, o);
        if (!live) continue;
        if (!live.metadata.deletionTimestamp || !(live.metadata.finalizers ?? []).includes(o.finalizer)) return undefined;
        holding.push({ ref: describeRef(o), finalizers: live.metadata.finalizers ?? [] });
      }
      return holding.length ? { namespace: ns, conditions, holding } : undefined;
    },
    250,
  ).catch((e: unknown) => {
    throw new Error(`${e instanceof Error ? e.message : String(e)}; last status: ${last}`);
  });
}

export interface CrdStuckProof {
  crd: string;
  terminating: Condition;
  holding: Array<{ ref: string; finalizers: string[] }>;
}

/**
 * Proof that CRD `<resource>.<group>` hangs on `finalizer`, from what the CRD finalizer controller
 * writes (k8s.io/apiextensions-apiserver pkg/controller/finalizer crd_finalizer.go
 * CRDFinalizer.sync): being deleted, its cleanup finalizer still on, Terminating True while it
 * waits for instances (InstanceDeletionInProgress, or InstanceDeletionCheck once a one-minute
 * poll gave up); every instance left has been deleted by it (a deletionTimestamp) and carries
 * the finalizer.
 */
export async function proveCrdStuck(
  cp: ControlPlane,
  type: Pick<FinalizedObject, 'group' | 'version' | 'resource' | 'finalizer'>,
  timeoutMs = OPERATOR_TIMEOUT_MS,
): Promise<CrdStuckProof> {
  const name = `${type.resource}.${type.group}`;
  let last = '';
  return waitFor(
    `CRD ${name} proven stuck on ${type.finalizer}`,
    timeoutMs,
    async () => {
      const crd = await cp.client.get<{ metadata: Meta; status?: { conditions?: Condition[] } }>(
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      );
      last = JSON.stringify(crd?.status?.conditions ?? 'gone');
      if (!crd?.metadata.deletionTimestamp || !(crd.metadata.finalizers ?? []).includes('customresourcecleanup.apiextensions.k8s.io')) return undefined;
      const terminating = crd.status?.conditions?.find((x) => x.type === 'Terminating');
      if (terminating?.status !== 'True' || !['InstanceDeletionInProgress', 'InstanceDeletionCheck'].includes(terminating.reason ?? '')) return undefined;
      // Limited, so that a not-ready watch cache sends it to etcd instead of answering 429 (releaseFinalizersByHand).
      const list = await cp.client.get<{ items: Obj[] }>(`${apiPath({ group: type.group, version: type.version, resource: type.resource })}?limit=500`);
      const items = list?.items ?? [];
      if (!items.length) return undefined;
      if (!items.every((o) => o.metadata.deletionTimestamp && (o.metadata.finalizers ?? []).includes(type.finalizer))) return undefined;
      return {
        crd: name,
        terminating,
        holding: items.map((o) => ({
          ref: `${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`,
          finalizers: o.metadata.finalizers ?? [],
        })),
      };
    },
    500,
  ).catch((e: unknown) => {
    throw new Error(`${e instanceof Error ? e.message : String(e)}; last conditions: ${last}`);
  });
}

/**
 * The CRDs of some API groups, from a metadata-only list: CRD objects run to megabytes (Kueue's,
 * Argo CD's) and cleanup asks every half second. A CRD is named `<plural>.<group>`.
 */
async function crdsOf(cp: ControlPlane, groups: string[]): Promise<Array<{ name: string; group: string; plural: string; deleting: boolean }>> {
  const list = await cp.client.must<{ items: Array<{ metadata: Meta }> | null }>('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1',
  });
  // An empty metadata-only list comes with `items: null`.
  return (list.items ?? [])
    .map((c) => {
      const dot = c.metadata.name.indexOf('.');
      return {
        name: c.metadata.name,
        plural: c.metadata.name.slice(0, dot),
        group: c.metadata.name.slice(dot + 1),
        deleting: Boolean(c.metadata.deletionTimestamp),
      };
    })
    .filter((c) => groups.includes(c.group));
}

async function storageVersionOf(cp: ControlPlane, crdName: string): Promise<string | undefined> {
  const crd = await cp.client.get<{ spec?: { versions?: Array<{ name: string; storage?: boolean }> } }>(
    `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crdName}`,
  );
  return crd?.spec?.versions?.find((v) => v.storage)?.name;
}

type WithConditions = { status?: { conditions?: Array<{ type: string; status: string; message?: string }> } };

/** What keeps a CRD or a namespace from going: the conditions its controller reports, for a timeout's message. */
function blockingConditions(obj: WithConditions | undefined): string {
  const blocking = (obj?.status?.conditions ?? []).filter((c) => c.status === 'True' && c.message).map((c) => `${c.type}: ${c.message}`);
  return blocking.length > 0 ? ` (${blocking.join('; ')})` : '';
}

/**
 * The manual remedy: the operator's fail-closed webhooks on its own kinds deleted (they refuse the
 * update while it is stopped), then its finalizers removed from every object of its CRD groups
 * that carries one.
 * Returns the objects released.
 */
export async function releaseFinalizersByHand(cp: ControlPlane, spec: OperatorSpec): Promise<string[]> {
  // Found by what they intercept, not by name: the names follow the release name (Kueue's fullname).
  for (const kind of ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']) {
    const list = await cp.client.must<{
      items: Array<{ metadata: Meta; webhooks?: Array<{ failurePolicy?: string; rules?: Array<{ apiGroups?: string[] }> }> }> | null;
    }>('GET', `/apis/admissionregistration.k8s.io/v1/${kind}`);
    for (const cfg of list.items ?? []) {
      const refuses = (cfg.webhooks ?? []).some(
        (w) => (w.failurePolicy ?? 'Fail') === 'Fail' && (w.rules ?? []).some((r) => (r.apiGroups ?? []).some((g) => spec.crdGroups.includes(g))),
      );
      if (refuses) await cp.client.request('DELETE', `/apis/admissionregistration.k8s.io/v1/${kind}/${cfg.metadata.name}`);
    }
  }
  const ours = new Set(spec.finalized.map((t) => t.finalizer));
  const released: string[] = [];
  const preferred = new Map<string, string | undefined>();
  for (const crd of await crdsOf(cp, spec.crdGroups)) {
    if (!preferred.has(crd.group)) {
      preferred.set(crd.group, (await cp.client.get<{ preferredVersion?: { version: string } }>(`/apis/${crd.group}`))?.preferredVersion?.version);
    }
    // A group discovery no longer serves (its CRDs Terminating while their objects still wait for
    // finalizers): the CRD's own storage version still lists them.
    const version = preferred.get(crd.group) ?? (await storageVersionOf(cp, crd.name));
    if (!version) continue;
    // With a limit: while a type's watch cache is not ready (new or re-created storage under load),
    // kube-apiserver answers an unlimited list 429 but sends a limited one to etcd (KEP-4568,
    // ResilientWatchCacheInitialization). Past 500 objects the next poll takes the rest.
    const list = await cp.client.get<{ items: Obj[] }>(`${apiPath({ group: crd.group, version, resource: crd.plural })}?limit=500`);
    for (const o of list?.items ?? []) {
      const finalizers = o.metadata.finalizers ?? [];
      if (!finalizers.some((f) => ours.has(f))) continue;
      const ref = {
        group: crd.group,
        version,
        resource: crd.plural,
        kind: o.kind ?? '',
        name: o.metadata.name,
        ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
      };
      const r = await cp.client.request('PATCH', objectPath(ref), {
        body: { metadata: { finalizers: finalizers.filter((f) => !ours.has(f)) } },
        contentType: 'application/merge-patch+json',
      });
      if (r.status < 300) released.push(describeRef(ref));
      else if (r.status !== 404) throw new Error(`removing ${spec.name}'s finalizer from ${describeRef(ref)}: ${r.status} ${r.text.slice(0, 300)}`);
    }
  }
  return released;
}

/**
 * Leaves the cluster as before the operator's install: the release uninstalled (or the manifest
 * deleted), its CRDs, its namespace and `namespaces` deleted, stuck finalizers removed by hand
 * until all of them are gone.
 */
export async function cleanupOperator(cp: ControlPlane, op: InstalledOperator, namespaces: string[], timeoutMs = 180_000): Promise<void> {
  const spec = op.spec;
  // A guard in enforce refuses what an uninstall would strand (a run that failed midway leaves
  // that): the finalizers are released as an admin would, and the uninstall runs again.
  if ((await op.uninstall()).code !== 0) {
    await releaseFinalizersByHand(cp, spec);
    await mustRun(`${spec.name}: uninstall`, op.uninstall());
  }
  const all = [...new Set([...namespaces, op.namespace])];
  for (const ns of all) await cp.client.request('DELETE', `/api/v1/namespaces/${ns}`);
  await waitFor(
    `${spec.name} cleaned up (namespaces ${all.join(', ')} and CRDs of ${spec.crdGroups.join(', ')} gone)`,
    timeoutMs,
    async () => {
      const released = await releaseFinalizersByHand(cp, spec);
      // A namespace the controller found stuck is looked at again only after its estimate (15 s);
      // any change to it brings that forward to the controller's 5 s grace period
      // (pkg/controller/namespace namespace_controller.go enqueueNamespace).
      if (released.length) for (const ns of all) await touchNamespace(cp, ns);
      const left = await crdsOf(cp, spec.crdGroups);
      for (const c of left) if (!c.deleting) await cp.client.request('DELETE', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${c.name}`);
      const nsLeft: string[] = [];
      for (const ns of all) {
        const n = await cp.client.get<{ metadata: { deletionTimestamp?: string } } & WithConditions>(`/api/v1/namespaces/${ns}`);
        if (!n) continue;
        nsLeft.push(`${ns}${blockingConditions(n)}`);
        // A guard may have refused its deletion while objects carried the finalizer: once they
        // are released by hand it is deleted again.
        if (!n.metadata.deletionTimestamp) await cp.client.request('DELETE', `/api/v1/namespaces/${ns}`);
      }
      if (left.length === 0 && nsLeft.length === 0) return true;
      // Thrown, not returned: a timeout then says what was still there and why (waitFor keeps the last error).
      const crdsLeft = await Promise.all(
        left.map(async (c) => `${c.name}${blockingConditions(await cp.client.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${c.name}`))}`),
      );
      throw new Error(`left: ${[...crdsLeft.map((c) => `CRD ${c}`), ...nsLeft.map((n) => `namespace ${n}`)].join(', ')}`);
    },
    500,
  );
}

async function touchNamespace(cp: ControlPlane, ns: string): Promise<void> {
  await cp.client.request('PATCH', `/api/v1/namespaces/${ns}`, {
    body: { metadata: { annotations: { 'teardown-guard.test/finalizers-released': new Date().toISOString() } } },
    contentType: 'application/merge-patch+json',
  });
}
