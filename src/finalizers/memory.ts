// The guard's memory of whose finalizer it is (ARCHITECTURE.md §1F). Inference can name the
// controller of a finalizer only while that controller's RBAC exists; once an operator is
// uninstalled nothing in the cluster says who removed its finalizer, which is exactly when
// namespaces holding its objects start to hang. So what inference learns while the operator is
// installed is remembered: one entry per finalizer and resource type, naming the workloads that
// remove it, their release, and when they were last seen running. Pure: the store that persists it
// (a ConfigMap in the guard's namespace) is cluster/finalizerMemoryStore.ts.

/** One workload remembered as the controller of a finalizer. */
export interface RememberedWorkload {
  kind: string;
  namespace: string;
  name: string;
  serviceAccount: string;
}

export interface RememberedController {
  finalizer: string;
  group: string;
  resource: string;
  kind: string;
  controllers: RememberedWorkload[];
  /** The Helm release that installed the controller (its ownership annotations), if any. */
  release?: { namespace: string; name: string };
  /** How inference told it: the objects' field manager, or RBAC alone. */
  basis: 'field-manager' | 'rbac';
  firstLearnedMs: number;
  /** The last time a remembered controller was seen running (ms since the epoch). */
  lastSeenRunningMs: number;
}

export interface MemoryLimits {
  /** Entries not seen running for longer are forgotten. */
  forgetAfterMs: number;
  /** The most entries kept (the least recently seen go first). */
  maxEntries: number;
}

/** Where the memory is kept by default (config finalizerMemory.configMapName). */
export const DEFAULT_MEMORY_CONFIGMAP = 'teardown-guard-finalizer-memory';

export const DEFAULT_MEMORY_LIMITS: MemoryLimits = { forgetAfterMs: 90 * 24 * 3600 * 1000, maxEntries: 500 };

export function memoryKey(e: Pick<RememberedController, 'finalizer' | 'group' | 'resource'>): string {
  return `${e.finalizer}\n${e.group}\n${e.resource}`;
}

/**
 * Merges what was learned into what was remembered: per key, the newer sighting's controllers and
 * release win; the first learning time is kept.
 */
export function mergeMemory(remembered: readonly RememberedController[], learned: readonly RememberedController[]): RememberedController[] {
  const byKey = new Map(remembered.map((e) => [memoryKey(e), e]));
  for (const e of learned) {
    const old = byKey.get(memoryKey(e));
    if (!old) {
      byKey.set(memoryKey(e), e);
      continue;
    }
    const newer = e.lastSeenRunningMs >= old.lastSeenRunningMs ? e : old;
    byKey.set(memoryKey(e), { ...newer, firstLearnedMs: Math.min(old.firstLearnedMs, e.firstLearnedMs) });
  }
  return [...byKey.values()];
}

/**
 * Drops what is forgotten: entries not seen running within `forgetAfterMs`, entries of types the
 * cluster no longer serves (their CRD is gone, so are their objects), and the least recently seen
 * beyond `maxEntries`.
 */
export function pruneMemory(
  entries: readonly RememberedController[],
  nowMs: number,
  limits: MemoryLimits,
  served?: (type: { group: string; resource: string }) => boolean,
): RememberedController[] {
  return entries
    .filter((e) => nowMs - e.lastSeenRunningMs <= limits.forgetAfterMs)
    .filter((e) => !served || served(e))
    .sort((a, b) => b.lastSeenRunningMs - a.lastSeenRunningMs)
    .slice(0, limits.maxEntries);
}

/** Whether merging `learned` changes what is stored (new entries, other controllers, or a sighting an hour newer). */
export function memoryChanged(remembered: readonly RememberedController[], learned: readonly RememberedController[]): boolean {
  const byKey = new Map(remembered.map((e) => [memoryKey(e), e]));
  return learned.some((e) => {
    const old = byKey.get(memoryKey(e));
    if (!old) return true;
    const workloads = (x: RememberedController) => JSON.stringify(x.controllers.map((c) => `${c.kind}/${c.namespace}/${c.name}/${c.serviceAccount}`).sort());
    return workloads(old) !== workloads(e) || e.lastSeenRunningMs - old.lastSeenRunningMs > 3600_000;
  });
}

const MEMORY_FORMAT = 'teardown-guard.io/finalizer-memory.v1';

export function encodeMemory(entries: readonly RememberedController[]): string {
  return JSON.stringify({ format: MEMORY_FORMAT, entries });
}

function isString(v: unknown): v is string {
  return typeof v === 'string';
}

function decodeEntry(raw: unknown): RememberedController | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const o = raw as Record<string, unknown>;
  if (!isString(o['finalizer']) || !isString(o['group']) || !isString(o['resource']) || !isString(o['kind'])) return undefined;
  if (typeof o['firstLearnedMs'] !== 'number' || typeof o['lastSeenRunningMs'] !== 'number') return undefined;
  if (!Array.isArray(o['controllers'])) return undefined;
  const controllers = o['controllers'].flatMap((c: unknown): RememberedWorkload[] => {
    const w = (c ?? {}) as Record<string, unknown>;
    return isString(w['kind']) && isString(w['namespace']) && isString(w['name']) && isString(w['serviceAccount'])
      ? [{ kind: w['kind'], namespace: w['namespace'], name: w['name'], serviceAccount: w['serviceAccount'] }]
      : [];
  });
  const entry: RememberedController = {
    finalizer: o['finalizer'],
    group: o['group'],
    resource: o['resource'],
    kind: o['kind'],
    controllers,
    basis: o['basis'] === 'field-manager' ? 'field-manager' : 'rbac',
    firstLearnedMs: o['firstLearnedMs'],
    lastSeenRunningMs: o['lastSeenRunningMs'],
  };
  const release = o['release'] as Record<string, unknown> | undefined;
  if (release && isString(release['namespace']) && isString(release['name'])) entry.release = { namespace: release['namespace'], name: release['name'] };
  return entry;
}

/** Decodes the stored form; entries it cannot read are dropped and counted, never fatal. */
export function decodeMemory(text: string | undefined): { entries: RememberedController[]; dropped: number; error?: string } {
  if (!text) return { entries: [], dropped: 0 };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { entries: [], dropped: 0, error: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  const doc = parsed as { format?: unknown; entries?: unknown };
  if (doc.format !== MEMORY_FORMAT || !Array.isArray(doc.entries)) return { entries: [], dropped: 0, error: `not a ${MEMORY_FORMAT} document` };
  const entries = doc.entries.flatMap((e) => decodeEntry(e) ?? []);
  return { entries, dropped: doc.entries.length - entries.length };
}
