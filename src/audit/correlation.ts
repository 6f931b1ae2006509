// What the correlator's detectors share: the resolved options, the counters of what was not
// tracked because a cap was reached, how a finding goes out, and small helpers (src/audit/README.md).
import { createHash } from 'node:crypto';
import type { FinalizerGuard } from '../finalizers/guard.ts';
import type { AuditFinding } from './findings.ts';

export interface CorrelatorOptions {
  onFinding(f: AuditFinding): void;
  /**
   * One window for three things: the longest quiet gap inside one uninstall session, how close a
   * namespace deletion and the removal of its finalizers' controller must be to count as a race,
   * and how long a deleted namespace must visibly linger before its deletion counts as stuck.
   */
  windowMs?: number;
  /** Live mode: report a stuck namespace once it has lingered this long (file mode decides at the end). */
  reportStuckNamespacesAfterMs?: number;
  /** Literal that marks the guard's annotation keys and webhook names (the reader's fast path uses it too). */
  guardName?: string;
  maxSessions?: number;
  maxRecordsPerSession?: number;
  maxOwners?: number;
  maxKnownReleases?: number;
  maxPendingNamespaces?: number;
  /**
   * The finalizers whose controllers' removal and namespaces the review follows: the same registry
   * admission reads (built-in OLM guard, plus configured finalizerGuards). Default: the built-in one.
   */
  finalizerGuards?: FinalizerGuard[];
}

export type ResolvedOptions = Required<Omit<CorrelatorOptions, 'reportStuckNamespacesAfterMs'>> & { reportStuckNamespacesAfterMs?: number };

export interface Overflow {
  sessions: number;
  sessionRecords: number;
  namespaces: number;
}

/** What a detector may use of the correlator that owns it. */
export interface DetectorContext {
  readonly opts: ResolvedOptions;
  readonly overflow: Overflow;
  emit(f: AuditFinding): void;
}

/** The users kube-controller-manager's namespace controller acts as (own SA, or shared credentials). */
export const NAMESPACE_CONTROLLER_USERS: ReadonlySet<string> = new Set([
  'system:serviceaccount:kube-system:namespace-controller',
  'system:kube-controller-manager',
]);

export function ok(code: number): boolean {
  return code >= 200 && code < 300;
}

export function objKey(resource: string | undefined, apiGroup: string | undefined, namespace: string | undefined, name: string | undefined): string {
  return `${resource ?? ''}\u0000${apiGroup ?? ''}\u0000${namespace ?? ''}\u0000${name ?? ''}`;
}

export function stableId(code: string, ...parts: string[]): string {
  return `${code}:${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 12)}`;
}

/** `deployments.apps/name`, `services/name`: what kubectl takes. */
export function kubectlRef(resource: string, apiGroup: string | undefined, name: string): string {
  return apiGroup ? `${resource}.${apiGroup}/${name}` : `${resource}/${name}`;
}

export function pushCapped<T>(arr: T[], v: T, cap: number): boolean {
  if (arr.length >= cap) return false;
  arr.push(v);
  return true;
}

/** Bounded map that forgets its oldest entries. */
export class BoundedMap<K, V> {
  readonly cap: number;
  readonly map = new Map<K, V>();
  constructor(cap: number) {
    this.cap = cap;
  }
  get(k: K): V | undefined {
    return this.map.get(k);
  }
  has(k: K): boolean {
    return this.map.has(k);
  }
  set(k: K, v: V): void {
    if (this.map.has(k)) this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.cap) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
  }
  delete(k: K): void {
    this.map.delete(k);
  }
}

export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function dedupe<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

export function describeGap(ms: number): string {
  const abs = Math.abs(ms);
  const s = abs < 1000 ? `${Math.round(abs)}ms` : abs < 10_000 ? `${(abs / 1000).toFixed(1)}s` : `${Math.round(abs / 1000)}s`;
  return ms >= 0 ? `${s} after` : `${s} before`;
}

export function namespaceOfUri(uri: string): string | undefined {
  const m = /\/namespaces\/([^/?]+)/.exec(uri);
  return m?.[1];
}
