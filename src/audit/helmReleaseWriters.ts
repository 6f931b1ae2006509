// Which clients write Flux HelmReleases: the mark of Flux's helm-controller in an audit log. It
// reconciles HelmRelease objects (helm.toolkit.fluxcd.io) and patches each one it works on (its
// status at every reconcile, its finalizer when the HelmRelease is deleted: helm-controller
// internal/controller/helmrelease_controller.go), as its own ServiceAccount, also when it
// impersonates spec.serviceAccountName for the Helm actions. So a Helm uninstall whose
// authenticated user and user agent wrote a HelmRelease around the same time was run by a
// HelmRelease reconciler, which deploys into spec.targetNamespace on purpose
// (src/ARCHITECTURE.md §1C). Bounded: per client, the latest writes only.
import type { AuditRecord } from './event.ts';
import { BoundedMap, ok } from './correlation.ts';

export const HELMRELEASE_GROUP = 'helm.toolkit.fluxcd.io';
const WRITE_VERBS = new Set(['create', 'update', 'patch']);
/** Writes kept per client: a controller patching many HelmReleases needs only its latest ones here. */
const WRITES_PER_CLIENT = 32;

export interface HelmReleaseWrite {
  time: number;
  timestamp: string;
  namespace: string;
  name: string;
}

/** A successful write to a HelmRelease (any subresource: status, finalizers). */
export function isHelmReleaseWrite(r: AuditRecord): boolean {
  return r.resource === 'helmreleases' && r.apiGroup === HELMRELEASE_GROUP && WRITE_VERBS.has(r.verb) && ok(r.code) && !!r.namespace && !!r.name;
}

/** Client key: the authenticated user (not the impersonated one) and the user agent. */
export function writerKey(user: string, userAgent: string): string {
  return `${user}\u0000${userAgent}`;
}

export class HelmReleaseWriters {
  private readonly writes: BoundedMap<string, HelmReleaseWrite[]>;

  constructor(maxClients: number) {
    this.writes = new BoundedMap(maxClients);
  }

  record(r: AuditRecord): void {
    const key = writerKey(r.user, r.userAgent);
    const list = this.writes.get(key) ?? [];
    list.push({ time: r.time, timestamp: r.timestamp, namespace: r.namespace as string, name: r.name as string });
    if (list.length > WRITES_PER_CLIENT) list.splice(0, list.length - WRITES_PER_CLIENT);
    this.writes.set(key, list);
  }

  /** The HelmReleases (one entry each, first write) this client wrote between fromMs and toMs. */
  between(user: string, userAgent: string, fromMs: number, toMs: number): HelmReleaseWrite[] {
    const seen = new Map<string, HelmReleaseWrite>();
    for (const w of this.writes.get(writerKey(user, userAgent)) ?? []) {
      const k = `${w.namespace}/${w.name}`;
      if (w.time >= fromMs && w.time <= toMs && !seen.has(k)) seen.set(k, w);
    }
    return [...seen.values()];
  }
}
