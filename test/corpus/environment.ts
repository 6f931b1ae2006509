// Where the corpus runs: the one place its cluster comes from (today a control plane of its own;
// pointing it at a cluster shared with other test files changes only corpusCluster), the guard's
// modes (every built-in policy at enforce, read from the policy list so a new policy is included),
// and the check that the corpus left nothing behind.
import { builtinPolicies } from '../../src/policies/index.ts';
import { startControlPlane, type ControlPlane } from '../cluster/controlPlane.ts';
import type { GuardModes } from '../scenarios/guard.ts';
import type { ResourceMap } from './discovery.ts';
import type { PlannedRun } from './runner.ts';

export interface CorpusCluster {
  cp: ControlPlane;
  /** Gives the cluster back (stops it when the corpus started it). */
  release(): Promise<void>;
}

export async function corpusCluster(log: (line: string) => void = () => {}): Promise<CorpusCluster> {
  const cp = await startControlPlane({ log });
  return { cp, release: () => cp.stop() };
}

/**
 * The guard's config beyond its modes: the largest live-lookup budget the config allows (4 s under
 * the webhook's 5 s timeout, src/config.ts). The corpus runs four or five helm processes, the API
 * server, etcd and the guard on two cores; reads that take a production API server milliseconds
 * take it a second or more here, and the default 1.5 s budget then answers `undecided`, a
 * warning the corpus would count against the guard for the machine's sake. The results file
 * records how many reviews took longer than the default budget.
 */
export const CORPUS_GUARD_YAML = 'liveLookup:\n  timeoutMs: 4000';

/** Every policy the guard has, at enforce. */
export function everyPolicyEnforce(): GuardModes {
  return Object.fromEntries(builtinPolicies().map((p) => [p.name, 'enforce'])) as GuardModes;
}

type Meta = { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };

/**
 * Objects anywhere in the cluster that belong to a corpus run: a namespace of one, an object whose
 * Helm ownership annotation or `app.kubernetes.io/instance` label names one of its releases, or a
 * CRD of a chart's crds/ (which carry neither). Lists every resource type discovery serves.
 */
export async function corpusLeftovers(cp: ControlPlane, resources: ResourceMap, runs: readonly PlannedRun[]): Promise<string[]> {
  await resources.refresh();
  const namespaces = new Set(runs.map((r) => r.namespace));
  const releases = new Set(runs.map((r) => r.release));
  const crdNames = new Set(runs.flatMap((r) => r.inventory.crds.map((c) => c.name)));
  const out: string[] = [];
  const types = await cp.client.get<{ groups?: Array<{ name: string; preferredVersion: { version: string } }> }>('/apis');
  const gvs = [{ group: '', version: 'v1' }, ...(types?.groups ?? []).map((g) => ({ group: g.name, version: g.preferredVersion.version }))];
  for (const gv of gvs) {
    const base = gv.group ? `/apis/${gv.group}/${gv.version}` : '/api/v1';
    const list = await cp.client.get<{ resources?: Array<{ name: string; kind: string; verbs: string[] }> }>(base).catch(() => undefined);
    for (const r of list?.resources ?? []) {
      if (r.name.includes('/') || !r.verbs.includes('list')) continue;
      // Events name the objects of every run; they are the cluster's record, not the charts' objects.
      if (r.kind === 'Event') continue;
      const items = await cp.client.get<{ items?: Array<{ metadata: Meta }> }>(`${base}/${r.name}`).catch(() => undefined);
      for (const { metadata: m } of items?.items ?? []) {
        const owner = m.annotations?.['meta.helm.sh/release-namespace'];
        const ours =
          (r.kind === 'Namespace' && namespaces.has(m.name)) ||
          (owner !== undefined && namespaces.has(owner)) ||
          releases.has(m.labels?.['app.kubernetes.io/instance'] ?? '') ||
          (r.kind === 'CustomResourceDefinition' && crdNames.has(m.name));
        if (ours) out.push(`${r.kind} ${m.namespace ? `${m.namespace}/` : ''}${m.name}`);
      }
    }
  }
  return out.sort();
}
