// OLM for the loopback cluster, from the pinned modules' own manifests (extracted by
// build-binaries.sh into the cache): operator-framework/api `crds/` and OLM's
// `deploy/upstream/quickstart/olm.yaml`. What cannot work without a kubelet or pod networking is
// neutralised, visibly (annotation teardown-guard.test/neutralised on each touched object):
//   - CatalogSource operatorhubio-catalog: dropped (it needs a registry pod pulled from an image);
//   - Deployment catalog-operator: kept, replicas 0 (it resolves catalogs via registry pods);
//   - CSV packageserver: kept (OLM adds csv-cleanup to it, which S5 needs), but without its
//     apiservicedefinitions (an APIService with no reachable backend makes discovery fail, and
//     the namespace controller then never finishes any namespace deletion) and with its
//     deployment at 0 replicas (no pods can run), so it reaches Succeeded like on a real cluster.
// The olm-operator Deployment is applied unchanged: olmSupervisor.ts runs the real binary for it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { ControlPlane } from './controlPlane.ts';
import { olmDataDir } from './paths.ts';
import { binaryImage } from './node/images.ts';
import { waitFor } from './proc.ts';

export type OlmMode = 'none' | 'crds' | 'quickstart';

export const NEUTRALISED = 'teardown-guard.test/neutralised';
export const OLM_NAMESPACE = 'olm';

type Obj = {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
} & Record<string, unknown>;

function annotate(o: Obj, why: string): void {
  o.metadata ??= {};
  o.metadata.annotations = { ...(o.metadata.annotations ?? {}), [NEUTRALISED]: why };
}

/**
 * The quickstart olm.yaml objects, neutralised for a cluster without kubelet (see file header).
 * `olmImage`: on a node, olm-operator's Pod runs this image (the pinned binary, node/images.ts)
 * instead of the registry image no one can pull here.
 */
export function quickstartObjects(olmImage?: string): Obj[] {
  const text = readFileSync(join(olmDataDir(), 'quickstart', 'olm.yaml'), 'utf8');
  const out: Obj[] = [];
  for (const doc of parseAllDocuments(text)) {
    const o = doc.toJS() as Obj | null;
    if (!o || !o.kind) continue;
    if (o.kind === 'CatalogSource') continue;
    if (o.kind === 'Deployment' && o.metadata?.name === 'catalog-operator') {
      o.spec = { ...o.spec, replicas: 0 };
      annotate(o, 'replicas 0: catalog-operator needs registry pods, and this cluster has no kubelet');
    }
    if (olmImage && o.kind === 'Deployment' && o.metadata?.name === 'olm-operator') {
      const containers = (o.spec as { template?: { spec?: { containers?: Array<{ command?: string[]; image?: string }> } } }).template?.spec?.containers ?? [];
      for (const c of containers) if (c.command?.[0] === '/bin/olm') c.image = olmImage;
      annotate(o, 'image: the pinned olm binary built here (no registry)');
    }
    if (o.kind === 'ClusterServiceVersion' && o.metadata?.name === 'packageserver') {
      const spec = o.spec as { apiservicedefinitions?: unknown; install?: { spec?: { deployments?: Array<{ spec?: { replicas?: number } }> } } };
      delete spec.apiservicedefinitions;
      for (const d of spec.install?.spec?.deployments ?? []) if (d.spec) d.spec.replicas = 0;
      annotate(o, 'no apiservicedefinitions (an unreachable APIService breaks discovery, so namespace deletion) and 0 replicas (no kubelet)');
    }
    out.push(o);
  }
  return out;
}

export async function applyOlmCrds(cp: ControlPlane, timeoutMs = 60_000): Promise<void> {
  const crdDir = join(olmDataDir(), 'crds');
  const files = readdirSync(crdDir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(crdDir, f));
  // Server-side apply: the CSV CRD is larger than the last-applied annotation allows.
  const args = ['apply', '--server-side', '--force-conflicts', '--field-manager=teardown-guard-test'];
  for (const f of files) args.push('-f', f);
  const r = await cp.kubectl(args);
  if (r.code !== 0) throw new Error(`applying OLM CRDs failed:\n${r.stdout}\n${r.stderr}`);
  await waitFor(
    'OLM CRDs established and served',
    timeoutMs,
    async () => {
      const list = await cp.client.get<{ items: Array<{ spec: { group: string }; status?: { conditions?: Array<{ type: string; status: string }> } }> }>(
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      );
      const olm = (list?.items ?? []).filter((c) => c.spec.group === 'operators.coreos.com');
      if (olm.length < files.length) return undefined;
      if (!olm.every((c) => c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'))) return undefined;
      const v1a1 = await cp.client.get<{ resources?: unknown[] }>('/apis/operators.coreos.com/v1alpha1');
      const v1 = await cp.client.get<{ resources?: unknown[] }>('/apis/operators.coreos.com/v1');
      return v1a1?.resources?.length && v1?.resources?.length ? true : undefined;
    },
    200,
  );
}

export async function applyObjects(cp: ControlPlane, objs: Obj[], fieldManager = 'teardown-guard-test'): Promise<void> {
  const input = objs.map((o) => stringify(o)).join('---\n');
  const r = await cp.kubectl(['apply', '--server-side', '--force-conflicts', `--field-manager=${fieldManager}`, '-f', '-'], { input });
  if (r.code !== 0) throw new Error(`kubectl apply failed:\n${r.stdout}\n${r.stderr}`);
}

export interface Csv {
  metadata: { name: string; namespace: string; finalizers?: string[]; deletionTimestamp?: string; labels?: Record<string, string> };
  status?: { phase?: string; reason?: string; message?: string };
}

export async function getCsv(cp: ControlPlane, namespace: string, name: string): Promise<Csv | undefined> {
  return cp.client.get<Csv>(`/apis/operators.coreos.com/v1alpha1/namespaces/${namespace}/clusterserviceversions/${name}`);
}

export const CSV_CLEANUP = 'operators.coreos.com/csv-cleanup';

/** Waits until Deployment ns/name reports availableReplicas >= 1 (through the real controllers). */
export async function waitDeploymentAvailable(cp: ControlPlane, namespace: string, name: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `Deployment ${namespace}/${name} available`,
    timeoutMs,
    async () => {
      const d = await cp.client.get<{ status?: { availableReplicas?: number } }>(`/apis/apps/v1/namespaces/${namespace}/deployments/${name}`);
      return (d?.status?.availableReplicas ?? 0) >= 1 ? true : undefined;
    },
    250,
  );
}

export async function installOlm(cp: ControlPlane, mode: OlmMode, o: { log?: (l: string) => void; timeoutMs?: number } = {}): Promise<void> {
  if (mode === 'none') return;
  const log = o.log ?? (() => {});
  const timeoutMs = o.timeoutMs ?? 90_000;
  const t0 = Date.now();
  await applyOlmCrds(cp, timeoutMs);
  log(`OLM CRDs established in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  if (mode !== 'quickstart') return;
  await applyObjects(cp, quickstartObjects(cp.node ? binaryImage('olm').ref : undefined));
  await cp.olm?.waitRunning(OLM_NAMESPACE, 'olm-operator', timeoutMs);
  await waitDeploymentAvailable(cp, OLM_NAMESPACE, 'olm-operator', timeoutMs);
  log('olm-operator running (Deployment olm/olm-operator available)');
  await waitFor(
    'packageserver CSV carrying csv-cleanup',
    timeoutMs,
    async () => {
      const csv = await getCsv(cp, OLM_NAMESPACE, 'packageserver');
      return csv?.metadata.finalizers?.includes(CSV_CLEANUP) ? true : undefined;
    },
    250,
  );
}
