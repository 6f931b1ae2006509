// Builds admission.k8s.io/v1 AdmissionReview bodies for unit tests, field for field as
// kube-apiserver 1.36 sends them for DELETE/UPDATE (compare test/fixtures/admission/*.json,
// captured from a real API server). Policies read only these fields.
import type { AdmissionReview, UserInfo } from '../../src/k8s/admissionReview.ts';
import type { KubeObject, PartialObjectMetadata } from '../../src/k8s/types.ts';

const RESOURCES: Record<string, { group: string; version: string; resource: string; namespaced: boolean }> = {
  Namespace: { group: '', version: 'v1', resource: 'namespaces', namespaced: false },
  Secret: { group: '', version: 'v1', resource: 'secrets', namespaced: true },
  ConfigMap: { group: '', version: 'v1', resource: 'configmaps', namespaced: true },
  Service: { group: '', version: 'v1', resource: 'services', namespaced: true },
  ServiceAccount: { group: '', version: 'v1', resource: 'serviceaccounts', namespaced: true },
  Deployment: { group: 'apps', version: 'v1', resource: 'deployments', namespaced: true },
  StatefulSet: { group: 'apps', version: 'v1', resource: 'statefulsets', namespaced: true },
  Role: { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', namespaced: true },
  RoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'rolebindings', namespaced: true },
  CustomResourceDefinition: { group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions', namespaced: false },
  Pod: { group: '', version: 'v1', resource: 'pods', namespaced: true },
  ClusterRole: { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterrolebindings', namespaced: false },
  ClusterServiceVersion: { group: 'operators.coreos.com', version: 'v1alpha1', resource: 'clusterserviceversions', namespaced: true },
};

export const ADMIN: UserInfo = { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] };

let counter = 0;

export function review(
  op: 'DELETE' | 'UPDATE',
  oldObject: KubeObject | PartialObjectMetadata,
  opts: { object?: KubeObject; user?: UserInfo; dryRun?: boolean } = {},
): AdmissionReview {
  const kind = oldObject.kind ?? '';
  const r = RESOURCES[kind];
  if (!r) throw new Error(`test builder: unknown kind ${kind}`);
  const name = oldObject.metadata?.name ?? '';
  // The API server sets request.namespace of a Namespace request to the namespace itself.
  const namespace = kind === 'Namespace' ? oldObject.metadata?.name : r.namespaced ? oldObject.metadata?.namespace : undefined;
  counter++;
  const uid = `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`;
  const gvk = { group: r.group, version: r.version, kind };
  const gvr = { group: r.group, version: r.version, resource: r.resource };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: gvk,
      resource: gvr,
      requestKind: gvk,
      requestResource: gvr,
      name,
      ...(namespace ? { namespace } : {}),
      operation: op,
      userInfo: opts.user ?? ADMIN,
      object: op === 'DELETE' ? null : (opts.object ?? null),
      oldObject: oldObject as KubeObject,
      dryRun: opts.dryRun ?? false,
      options:
        op === 'DELETE'
          ? { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', propagationPolicy: 'Background' }
          : { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}
