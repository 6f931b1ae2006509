// The guard's RBAC as an install path renders it, applied to a test control plane: the Namespace,
// ServiceAccounts, Roles, ClusterRoles and bindings of `kubectl kustomize` of manifests/base with
// components, or of `helm template` of the chart with values (the pinned binaries). Used by
// test/integration/rbacRights.test.ts (what each ServiceAccount may do) and
// test/integration/guardAsServiceAccount.test.ts (the guard running with that identity).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { repoRoot, versions } from '../cluster/paths.ts';

export const GUARD_NS = 'teardown-guard';
const MANIFESTS = join(repoRoot, 'manifests');
const CHART = join(MANIFESTS, 'chart', 'teardown-guard');
const RBAC_KINDS = new Set(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
// Any well-formed base64 value: only RBAC objects are applied.
const CA_BUNDLE = Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64');

export interface RbacObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: unknown[];
}

const rbacOf = (text: string): RbacObject[] =>
  parseAllDocuments(text, { version: '1.1' })
    .map((d) => d.toJS() as RbacObject | null)
    .filter((o): o is RbacObject => Boolean(o?.kind && RBAC_KINDS.has(o.kind)));

/** The RBAC objects of manifests/base with `components` (paths under manifests/), built in a new directory under `workDir`. */
export async function kustomizeRbac(cp: ControlPlane, workDir: string, components: string[]): Promise<RbacObject[]> {
  const dir = mkdtempSync(join(workDir, 'k-'));
  const rel = (p: string) => relative(dir, join(MANIFESTS, p));
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: [rel('base')], components: components.map(rel) }),
  );
  const r = await cp.kubectl(['kustomize', dir]);
  if (r.code !== 0) throw new Error(`kubectl kustomize failed:\n${r.stderr}`);
  return rbacOf(r.stdout);
}

/** The RBAC objects of the chart (helm 4 template, release namespace teardown-guard) with `values` (`--set` each). */
export async function chartRbac(cp: ControlPlane, values: string[]): Promise<RbacObject[]> {
  const args = ['template', 'tg', CHART, '--namespace', GUARD_NS, '--kube-version', versions().KUBE_VERSION, '--set', `certs.caBundle=${CA_BUNDLE}`];
  const r = await cp.helm(4, [...args, ...values.flatMap((v) => ['--set', v])]);
  if (r.code !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  return rbacOf(r.stdout);
}

export const renderObjects = (objects: object[]): string => objects.map((o) => stringify(o)).join('---\n');

/**
 * Applies `objects` (with the guard's Namespace when they lack it), first deleting what `previous`
 * applied but the Namespace (left to the control plane's reset). Returns what is applied now.
 */
export async function applyRbac(cp: ControlPlane, objects: RbacObject[], previous: RbacObject[] = []): Promise<RbacObject[]> {
  const old = previous.filter((o) => o.kind !== 'Namespace');
  if (old.length) {
    const r = await cp.kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', '-'], { input: renderObjects(old) });
    if (r.code !== 0) throw new Error(`kubectl delete failed:\n${r.stderr}`);
  }
  const withNamespace = objects.some((o) => o.kind === 'Namespace')
    ? objects
    : [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: GUARD_NS } }, ...objects];
  const r = await cp.kubectl(['apply', '-f', '-'], { input: renderObjects(withNamespace) });
  if (r.code !== 0) throw new Error(`kubectl apply failed:\n${r.stderr}`);
  return objects;
}
