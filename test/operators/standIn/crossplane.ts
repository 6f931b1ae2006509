// Crossplane v2.2.1 (github.com/crossplane/crossplane/v2).
// core (Deployment crossplane, container args `core start`, after its init container `core init`):
//   - cmd/crossplane/core/init.go with internal/initializer/crds.go: the CRDs of cluster/crds
//     applied at every start (APIPatchingApplicator: create, or merge patch). The stand-in applies
//     the copies extract.ts took from the module.
//   - internal/controller/apiextensions/definition/reconciler.go Reconciler.Reconcile, for each
//     CompositeResourceDefinition: not deleting, the finalizer defined.apiextensions.crossplane.io
//     added (resource.APIFinalizer: Update), the composite resource CRD rendered
//     (internal/xcrd ForCompositeResource, controlled by the XRD) and applied
//     (APIUpdatingApplicator), Established, and a controller started for the defined kind.
//     Deleting: status Terminating; if the CRD is gone or not controlled by the XRD, the kind's
//     controller stopped and the finalizer removed (Update); else every composite resource of the
//     kind deleted (DeleteAllOf), requeued while any is listed, the controller stopped, the CRD
//     deleted, requeued.
//   - internal/controller/apiextensions/composite/reconciler.go Reconciler.Reconcile, for each
//     composite resource: deleting, the finalizer composite.apiextensions.crossplane.io removed at
//     once (Update); otherwise added (Update) before composition selection.
// rbac-manager (Deployment crossplane-rbac-manager, `rbac start`):
//   - internal/controller/rbac/definition/roles.go RenderClusterRoles: per XRD the ClusterRole
//     crossplane:composite:<xrd>:aggregate-to-crossplane (`*` on the kind and its status, update on
//     its finalizers), aggregated into the crossplane ClusterRole; without it the core could not
//     update composite resources. The edit/view/browse roles (for people) are not reproduced.
// The stand-in's CRD carries the XRD's group, names, scope, versions and schemas (status kept
// open), not the spec fields Crossplane adds (compositionRef, ...), and it selects no Composition.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Behaviour, StandIn } from './context.ts';
import { deleting, hasFinalizer, type Informer, type KubeObject } from './kube.ts';
import type { ControllerLoop } from './loop.ts';

const XRD_FINALIZER = 'defined.apiextensions.crossplane.io';
const XR_FINALIZER = 'composite.apiextensions.crossplane.io';
const XRDS = '/apis/apiextensions.crossplane.io/v2/compositeresourcedefinitions';
const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

type Xrd = KubeObject & {
  spec?: {
    group: string;
    scope?: 'Namespaced' | 'Cluster' | 'LegacyCluster';
    names: { kind: string; plural: string; singular?: string; listKind?: string };
    versions: Array<{ name: string; served: boolean; referenceable: boolean; schema?: { openAPIV3Schema?: Record<string, unknown> } }>;
  };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string }> };
};
type Crd = KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } };

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** The composite resource CRD an XRD defines (internal/xcrd ForCompositeResource, reduced as the header says). */
export function renderCompositeCrd(xrd: Xrd): Record<string, unknown> {
  const spec = xrd.spec!;
  const scope = spec.scope ?? 'LegacyCluster';
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${spec.names.plural}.${spec.group}`,
      ownerReferences: [
        {
          apiVersion: 'apiextensions.crossplane.io/v2',
          kind: 'CompositeResourceDefinition',
          name: xrd.metadata.name,
          uid: xrd.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      group: spec.group,
      names: {
        kind: spec.names.kind,
        plural: spec.names.plural,
        singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
        listKind: spec.names.listKind ?? `${spec.names.kind}List`,
        categories: ['composite'],
      },
      scope: scope === 'Namespaced' ? 'Namespaced' : 'Cluster',
      versions: spec.versions.map((v) => {
        const schema = { type: 'object', ...(v.schema?.openAPIV3Schema ?? {}) } as { properties?: Record<string, unknown> };
        return {
          name: v.name,
          served: v.served,
          storage: v.referenceable,
          schema: {
            openAPIV3Schema: {
              ...schema,
              properties: { ...(schema.properties ?? {}), status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          },
          subresources: { status: {} },
        };
      }),
    },
  };
}

const referenceable = (xrd: Xrd) => xrd.spec!.versions.find((v) => v.referenceable)?.name ?? xrd.spec!.versions[0]!.name;

/** `core init`: the CRDs the image carries, created or merge-patched. */
async function applyCoreCrds(s: StandIn): Promise<void> {
  const dir = join(s.args['data-dir'] ?? '', 'cluster', 'crds');
  let n = 0;
  for (const f of readdirSync(dir)
    .filter((x) => x.endsWith('.yaml'))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      const crd = doc.toJS() as KubeObject | null;
      if (!crd?.metadata?.name) continue;
      const got = await s.client.request('GET', `${CRDS}/${crd.metadata.name}`);
      if (got.status === 404) await s.client.must('POST', CRDS, { body: crd });
      else await s.client.must('PATCH', `${CRDS}/${crd.metadata.name}`, { body: crd, contentType: 'application/merge-patch+json' });
      n++;
    }
  }
  s.log(`core init: applied ${n} CRDs`);
}

export const crossplaneCore: Behaviour = async (s) => {
  await applyCoreCrds(s);
  const xrds = s.informer<Xrd>(XRDS);
  const running = new Map<string, { informer: Informer<KubeObject>; loop: ControllerLoop<KubeObject> }>();

  const update = (path: string, o: KubeObject, finalizers: string[]) =>
    s.client.must('PUT', path, { body: { ...o, metadata: { ...o.metadata, finalizers: finalizers.length ? finalizers : null } } });

  function startComposite(xrd: Xrd): void {
    if (running.has(xrd.metadata.name)) return;
    const spec = xrd.spec!;
    const collection = `/apis/${spec.group}/${referenceable(xrd)}/${spec.names.plural}`;
    const informer = s.informer(collection);
    const pathOf = (o: KubeObject) =>
      `/apis/${spec.group}/${referenceable(xrd)}${o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : ''}/${spec.names.plural}/${o.metadata.name}`;
    const loop = s.loop(`composite/${spec.names.plural}.${spec.group}`, informer, async (xr) => {
      const finalizers = xr.metadata.finalizers ?? [];
      if (deleting(xr)) {
        if (!hasFinalizer(xr, XR_FINALIZER)) return 'done';
        await update(
          pathOf(xr),
          xr,
          finalizers.filter((f) => f !== XR_FINALIZER),
        );
        s.log(`${spec.names.kind} ${xr.metadata.namespace ? `${xr.metadata.namespace}/` : ''}${xr.metadata.name}: removed ${XR_FINALIZER}`);
        return 'done';
      }
      if (!hasFinalizer(xr, XR_FINALIZER)) {
        await update(pathOf(xr), xr, [...finalizers, XR_FINALIZER]);
        s.log(`${spec.names.kind} ${xr.metadata.namespace ? `${xr.metadata.namespace}/` : ''}${xr.metadata.name}: added ${XR_FINALIZER}`);
      }
      return 'done';
    });
    running.set(xrd.metadata.name, { informer, loop });
    s.log(`started the composite controller for ${spec.names.plural}.${spec.group}`);
  }

  function stopComposite(name: string): void {
    const r = running.get(name);
    if (!r) return;
    r.loop.stop();
    r.informer.stop();
    running.delete(name);
    s.log(`stopped the composite controller of XRD ${name}`);
  }

  const setEstablished = (xrd: Xrd, status: 'True' | 'False', reason: string) => {
    const conditions = (xrd.status?.conditions ?? []).filter((c) => c.type !== 'Established');
    return s.client.must('PUT', `${XRDS}/${xrd.metadata.name}/status`, {
      body: { ...xrd, status: { ...xrd.status, conditions: [...conditions, { type: 'Established', status, reason, lastTransitionTime: now() }] } },
    });
  };

  s.loop('defined', xrds, async (xrd) => {
    const crd = renderCompositeCrd(xrd) as unknown as KubeObject;
    const crdPath = `${CRDS}/${crd.metadata.name}`;
    const finalizers = xrd.metadata.finalizers ?? [];
    if (deleting(xrd)) {
      if (!hasFinalizer(xrd, XRD_FINALIZER)) return 'done';
      const established = xrd.status?.conditions?.find((c) => c.type === 'Established');
      if (established?.reason !== 'TerminatingCompositeResource') {
        await setEstablished(xrd, 'False', 'TerminatingCompositeResource');
        return 'retry';
      }
      const live = await s.client.request<Crd>('GET', crdPath);
      const controlled = live.status === 200 && live.body.metadata.ownerReferences?.some((r) => r.controller && r.uid === xrd.metadata.uid);
      if (!controlled) {
        stopComposite(xrd.metadata.name);
        await update(
          `${XRDS}/${xrd.metadata.name}`,
          xrd,
          finalizers.filter((f) => f !== XRD_FINALIZER),
        );
        s.log(`XRD ${xrd.metadata.name}: removed ${XRD_FINALIZER}`);
        return 'done';
      }
      const collection = `/apis/${xrd.spec!.group}/${referenceable(xrd)}/${xrd.spec!.names.plural}`;
      const del = await s.client.request('DELETE', collection);
      if (del.status >= 300 && del.status !== 404) throw new Error(`cannot delete composite resources: ${del.status} ${del.text.slice(0, 200)}`);
      const left = await s.client.request<{ items?: KubeObject[] }>('GET', collection);
      if (left.status === 200 && (left.body.items ?? []).length > 0) {
        s.log(`XRD ${xrd.metadata.name}: waiting for ${left.body.items!.length} composite resources to be deleted`);
        return 'retry';
      }
      stopComposite(xrd.metadata.name);
      const d = await s.client.request('DELETE', crdPath);
      if (d.status >= 300 && d.status !== 404) throw new Error(`cannot delete CRD ${crd.metadata.name}: ${d.status}`);
      return 'retry';
    }
    if (!hasFinalizer(xrd, XRD_FINALIZER)) {
      await update(`${XRDS}/${xrd.metadata.name}`, xrd, [...finalizers, XRD_FINALIZER]);
      s.log(`XRD ${xrd.metadata.name}: added ${XRD_FINALIZER}`);
      return 'done';
    }
    const live = await s.client.request<Crd>('GET', crdPath);
    if (live.status === 404) {
      await s.client.must('POST', CRDS, { body: crd });
      return 'retry';
    }
    if (!live.body.metadata.ownerReferences?.some((r) => r.controller && r.uid === xrd.metadata.uid)) {
      throw new Error(`cannot apply CRD ${crd.metadata.name}: existing object is not controlled by UID ${xrd.metadata.uid}`);
    }
    if (!live.body.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return 'retry';
    startComposite(xrd);
    if (!xrd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) await setEstablished(xrd, 'True', 'WatchingCompositeResource');
    return 'done';
  });
};

export const crossplaneRbacManager: Behaviour = async (s) => {
  const xrds = s.informer<Xrd>(XRDS);
  s.loop('definition-rbac', xrds, async (xrd) => {
    if (deleting(xrd)) return 'done';
    const spec = xrd.spec!;
    const name = `crossplane:composite:${xrd.metadata.name}:aggregate-to-crossplane`;
    const role = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: {
        name,
        labels: { 'rbac.crossplane.io/aggregate-to-crossplane': 'true' },
        ownerReferences: [
          {
            apiVersion: 'apiextensions.crossplane.io/v2',
            kind: 'CompositeResourceDefinition',
            name: xrd.metadata.name,
            uid: xrd.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      rules: [
        { apiGroups: [spec.group], resources: [spec.names.plural, `${spec.names.plural}/status`], verbs: ['*'] },
        { apiGroups: [spec.group], resources: [`${spec.names.plural}/finalizers`], verbs: ['update'] },
      ],
    };
    const path = `/apis/rbac.authorization.k8s.io/v1/clusterroles/${encodeURIComponent(name)}`;
    const got = await s.client.request<KubeObject>('GET', path);
    if (got.status === 404) {
      await s.client.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { body: role });
      s.log(`created ClusterRole ${name}`);
    } else if (got.status !== 200) {
      throw new Error(`reading ClusterRole ${name}: ${got.status}`);
    }
    return 'done';
  });
};
