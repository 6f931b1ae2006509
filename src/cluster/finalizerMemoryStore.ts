// Where the finalizer memory (finalizers/memory.ts, ARCHITECTURE.md §1F) lives: one ConfigMap in
// the guard's namespace, labelled so a watch cache follows it. Why a ConfigMap: every replica reads
// the same memory at once (each answers different reviews, so each learns different things), it
// survives restarts and rollouts, it needs no CRD of the guard's own (which a cluster-wide guardrail
// should not add), and RBAC can narrow writes to it by name. It is bounded (maxEntries, a few
// hundred bytes each), far below a ConfigMap's 1 MiB.
//
// Reads come from the watch cache (a review never waits for the API server); writes are batched:
// what reviews learn is merged into the stored memory at most once per `flushDelayMs`, with the
// API server's optimistic concurrency (a replica that lost a race merges again).
import type { KubeObject } from '../k8s/types.ts';
import { ACCEPT_JSON, KubeApiError, type KubeHttpClient } from './kubeHttp.ts';
import {
  decodeMemory,
  encodeMemory,
  memoryChanged,
  memoryKey,
  mergeMemory,
  pruneMemory,
  type MemoryLimits,
  type RememberedController,
} from '../finalizers/memory.ts';
import { SILENT_LOGGER, type ClusterLogger } from './logger.ts';

/** The label that selects the memory ConfigMap for the watch cache. */
export const MEMORY_LABEL = 'teardown-guard.io/finalizer-memory';
export const MEMORY_DATA_KEY = 'memory.json';

export interface FinalizerMemoryOptions {
  /** The view's client (not client-node's generated CoreV1Api: its models are megabytes of code the server would load for one ConfigMap). */
  client: KubeHttpClient;
  namespace: string;
  name: string;
  limits: MemoryLimits;
  logger?: ClusterLogger;
  /** How long learned entries wait to be written together. Default 1000. */
  flushDelayMs?: number;
  /** Whether the cluster still serves a type (entries of removed CRDs are forgotten). */
  served?: (type: { group: string; resource: string }) => boolean;
  now?: () => number;
}

export interface FinalizerMemoryStatus {
  entries: number;
  pending: number;
  writes: number;
  failures: number;
  lastError: string | undefined;
}

const MAX_CONFLICT_RETRIES = 5;
const RETRY_AFTER_FAILURE_MS = 30_000;

export class FinalizerMemoryStore {
  private readonly options: FinalizerMemoryOptions;
  private readonly logger: ClusterLogger;
  private readonly now: () => number;
  private byKey = new Map<string, RememberedController>();
  private pending: RememberedController[] = [];
  private merged?: { byKey: Map<string, RememberedController>; pending: RememberedController[]; entries: readonly RememberedController[] };
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private stopped = false;
  private writes = 0;
  private failures = 0;
  private lastError: string | undefined;

  constructor(options: FinalizerMemoryOptions) {
    this.options = options;
    this.logger = options.logger ?? SILENT_LOGGER;
    this.now = options.now ?? Date.now;
  }

  /** The watch cache saw the ConfigMap change (or go): what reviews read from now on. */
  observe(configMap: KubeObject | undefined): void {
    const { entries, dropped, error } = decodeMemory(dataOf(configMap));
    if (error) this.logger.warn({ configMap: `${this.options.namespace}/${this.options.name}`, err: error }, 'finalizer memory unreadable; starting empty');
    else if (dropped > 0) this.logger.warn({ dropped }, 'finalizer memory entries unreadable; dropped');
    this.byKey = new Map(entries.map((e) => [memoryKey(e), e]));
  }

  /** Whether this ConfigMap is the memory (the cache follows every ConfigMap with the label). */
  isMemory(configMap: KubeObject): boolean {
    return configMap.metadata?.namespace === this.options.namespace && configMap.metadata?.name === this.options.name;
  }

  /**
   * What is remembered, what is learned but not yet written included. Every namespace DELETE asks
   * (up to three times): the merge is kept until what it merged is replaced.
   */
  entries(): readonly RememberedController[] {
    const merged = this.merged;
    if (merged && merged.byKey === this.byKey && merged.pending === this.pending) return merged.entries;
    const entries = mergeMemory([...this.byKey.values()], this.pending);
    this.merged = { byKey: this.byKey, pending: this.pending, entries };
    return entries;
  }

  /** Queues what a review learned; written within flushDelayMs unless it changes nothing. */
  learn(entry: RememberedController): void {
    if (this.stopped) return;
    if (!memoryChanged([...this.byKey.values(), ...this.pending], [entry])) return;
    this.pending = mergeMemory(this.pending, [entry]);
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.options.flushDelayMs ?? 1000);
      this.timer.unref();
    }
  }

  /** Writes what is pending now (one at a time). Never rejects: a failure keeps it pending. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    this.stopped = true;
  }

  status(): FinalizerMemoryStatus {
    return { entries: this.byKey.size, pending: this.pending.length, writes: this.writes, failures: this.failures, lastError: this.lastError };
  }

  private async write(): Promise<void> {
    if (this.pending.length === 0) return;
    const learned = this.pending;
    this.pending = [];
    const { namespace, name, limits } = this.options;
    try {
      for (let attempt = 0; ; attempt++) {
        const current = await this.read();
        const stored = decodeMemory(dataOf(current)).entries;
        const merged = pruneMemory(mergeMemory(stored, learned), this.now(), limits, this.options.served);
        const body: KubeObject = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name,
            namespace,
            labels: { ...current?.metadata?.labels, [MEMORY_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'teardown-guard' },
            ...(current?.metadata?.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}),
          },
          data: { [MEMORY_DATA_KEY]: encodeMemory(merged) },
        };
        try {
          const collection = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
          const written = await this.options.client.sendJson<KubeObject>(
            current
              ? { method: 'PUT', path: `${collection}/${encodeURIComponent(name)}`, accept: ACCEPT_JSON, body }
              : { method: 'POST', path: collection, accept: ACCEPT_JSON, body },
          );
          this.writes++;
          this.lastError = undefined;
          // Reviews read the new memory at once, without waiting for the watch event.
          this.observe(written);
          return;
        } catch (err) {
          // Another replica wrote in between (409 on update, or on create when it created it first).
          if (err instanceof KubeApiError && err.statusCode === 409 && attempt < MAX_CONFLICT_RETRIES) continue;
          throw err;
        }
      }
    } catch (err) {
      this.failures++;
      this.lastError = err instanceof Error ? err.message : String(err);
      this.logger.warn({ configMap: `${namespace}/${name}`, err: this.lastError }, 'could not write the finalizer memory; will retry');
      this.pending = mergeMemory(learned, this.pending);
      if (!this.stopped && !this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          void this.flush();
        }, RETRY_AFTER_FAILURE_MS);
        this.timer.unref();
      }
    }
  }

  private async read(): Promise<KubeObject | undefined> {
    const { namespace, name } = this.options;
    try {
      return await this.options.client.getJson<KubeObject>({
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(name)}`,
        accept: ACCEPT_JSON,
      });
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  }
}

function dataOf(configMap: KubeObject | undefined): string | undefined {
  return (configMap?.['data'] as Record<string, string> | undefined)?.[MEMORY_DATA_KEY];
}
