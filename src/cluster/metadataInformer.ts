// A list+watch cache of one resource type, modelled on client-node's cache.ts informer but able to
// ask for metadata only (PartialObjectMetadata), so Secrets (Helm release records), ConfigMaps and
// CSVs are cached without their payload. With `full: true` it keeps whole objects instead (the few
// controller Deployments, Namespaces, ClusterRoleBindings — small sets whose status/subjects we read).
//
// Protocol, as client-go's reflector does it:
//  - list in pages (limit/continue) from a consistent read; remember the list's resourceVersion;
//  - watch from that resourceVersion with bookmarks, so an idle watch still advances it;
//  - on 410 Gone (HTTP status, or an ERROR event with code 410): the server no longer has history
//    that old, so relist — the relist diff emits the deletes/updates missed in between;
//  - on a dropped connection: re-watch from the last resourceVersion after a capped, jittered backoff.
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeObject, ObjectMeta, PartialObjectMetadata } from '../k8s/types.ts';
import { backoffDelayMs, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.ts';
import { JsonLineSplitter } from './jsonLines.ts';
import {
  ACCEPT_JSON,
  ACCEPT_METADATA,
  ACCEPT_METADATA_LIST,
  isExpiredError,
  KubeApiError,
  statusCauses,
  statusNeedsRelist,
  type KubeHttpClient,
  type KubeStatus,
} from './kubeHttp.ts';
import { SILENT_LOGGER, type ClusterLogger } from './logger.ts';
import { objectKey, toPartialObjectMetadata, trimFullObject } from './objectMeta.ts';

/** Which collection to cache. Always watched across all namespaces. */
export interface InformerResource {
  /** "" for the core group. */
  group: string;
  version: string;
  /** Lower-case plural, as in the REST path. */
  resource: string;
}

export interface InformerOptions {
  client: KubeHttpClient;
  resource: InformerResource;
  /** Name used in logs, readiness and UndecidedError reasons; defaults to the resource path. */
  name?: string;
  labelSelector?: string;
  /** Keep whole objects instead of metadata only. */
  full?: boolean;
  /**
   * With `full`: the part of each object worth keeping (after managedFields and the large
   * annotations are dropped), for a cache of many objects of which a few fields are read. It must
   * keep metadata's name, namespace and resourceVersion. Default: the whole object.
   */
  slim?: (object: KubeObject) => KubeObject;
  /** Items per list page. */
  pageSize?: number;
  /** Server-side watch duration; default random in [300, 600) s so many watches do not expire together. */
  watchTimeoutSeconds?: number;
  backoff?: BackoffPolicy;
  /** How often to retry while the server does not serve the resource (a CRD not installed yet). */
  notServedRetryMs?: number;
  /** A watch counts as healthy (resets backoff) once it delivered an event or stayed open this long. */
  healthyWatchMs?: number;
  logger?: ClusterLogger;
  random?: () => number;
}

export type CachedObject = PartialObjectMetadata | KubeObject;

export interface InformerChange<T extends CachedObject> {
  type: 'added' | 'modified' | 'deleted';
  object: T;
  /** The cached state before a modify, or the last cached state of a deleted object. */
  previous?: T;
}

/** Counters since start; monotonic. */
export interface InformerCounters {
  /** ADDED/MODIFIED/DELETED watch events applied. */
  events: number;
  bookmarks: number;
  /** Completed lists, the first one included. */
  lists: number;
  /** Lists after the first (410 Gone, a watch that could not resume, resource reappearing). */
  relists: number;
  /** Watches opened after the first one (server timeouts, dropped connections, errors). */
  reconnects: number;
  /** Answers that forced a relist: 410 Gone (expired resourceVersion or continue token), or
   * "too large resource version". */
  expired: number;
  /** Failed list or watch attempts (network, 5xx, 403, bad data). */
  failures: number;
}

export interface InformerStatus {
  name: string;
  synced: boolean;
  /** Objects in the cache. */
  count: number;
  /** The server answered 404 for the collection (e.g. CRD not installed): cached as empty. */
  notServed: boolean;
  resourceVersion: string | undefined;
  /** `kind` of the last list answer: PartialObjectMetadataList proves metadata-only negotiation. */
  lastListKind: string | undefined;
  lastError: string | undefined;
  /**
   * When list/watch started failing and has not recovered since (epoch ms); undefined while the
   * cache follows the server. Synced caches keep answering from what they have; readiness uses
   * this to report that they may be stale.
   */
  failingSinceMs: number | undefined;
  counters: InformerCounters;
}

interface WatchEvent {
  type?: string;
  object?: KubeStatus & { metadata?: ObjectMeta; [k: string]: unknown };
}

interface ListPage {
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items?: unknown[];
}

type WatchOutcome = 'expired' | 'closed' | 'closed-early';

export class MetadataInformer<T extends CachedObject = PartialObjectMetadata> extends EventEmitter<{
  change: [InformerChange<T>];
  synced: [];
}> {
  readonly name: string;
  private readonly client: KubeHttpClient;
  private readonly path: string;
  private readonly options: InformerOptions;
  private readonly logger: ClusterLogger;
  private readonly project: (raw: unknown) => T;
  private readonly store = new Map<string, T>();
  private readonly byNamespace = new Map<string, Map<string, T>>();
  private resourceVersion: string | undefined;
  private synced = false;
  private notServed = false;
  private lastListKind: string | undefined;
  private lastError: string | undefined;
  private failingSinceMs: number | undefined;
  private readonly counters: InformerCounters = { events: 0, bookmarks: 0, lists: 0, relists: 0, reconnects: 0, expired: 0, failures: 0 };
  private stopController: AbortController | undefined;
  private running: Promise<void> | undefined;
  private watchesOpened = 0;
  /** Whether the last watch delivered events or lived long enough: its failure restarts backoff. */
  private watchWasHealthy = false;

  constructor(options: InformerOptions) {
    super();
    this.options = options;
    this.client = options.client;
    const { group, version, resource } = options.resource;
    this.path = group === '' ? `/api/${version}/${resource}` : `/apis/${group}/${version}/${resource}`;
    this.name = options.name ?? (options.labelSelector ? `${this.path}?labelSelector=${options.labelSelector}` : this.path);
    this.logger = options.logger ?? SILENT_LOGGER;
    const { slim } = options;
    this.project = (options.full ? (slim ? (raw: unknown) => slim(trimFullObject(raw)) : trimFullObject) : toPartialObjectMetadata) as (raw: unknown) => T;
  }

  /** Starts list+watch in the background. Idempotent. */
  start(): void {
    if (this.running) return;
    this.stopController = new AbortController();
    this.running = this.run(this.stopController.signal).catch((err: unknown) => {
      // run() handles its own errors; reaching here is a bug, so make it visible.
      this.logger.error({ cache: this.name, err: String(err) }, 'informer loop crashed');
    });
  }

  /** Aborts in-flight requests and timers; resolves when the loop has exited. The cache keeps its contents. */
  async stop(): Promise<void> {
    this.stopController?.abort();
    await this.running;
    this.running = undefined;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once synced, false after `timeoutMs`. */
  async waitForSync(timeoutMs: number): Promise<boolean> {
    if (this.synced) return true;
    const timeout = new AbortController();
    const onSynced = (): void => timeout.abort();
    this.once('synced', onSynced);
    try {
      await sleep(timeoutMs, undefined, { signal: timeout.signal });
    } catch {
      // aborted by onSynced
    } finally {
      this.off('synced', onSynced);
      timeout.abort();
    }
    return this.synced;
  }

  /** Cached objects, in one namespace or all. */
  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.store.values()];
    const inNamespace = this.byNamespace.get(namespace);
    return inNamespace ? [...inNamespace.values()] : [];
  }

  /** One cached object; pass "" (or undefined) as namespace for cluster-scoped objects. */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(objectKey(namespace, name));
  }

  size(): number {
    return this.store.size;
  }

  status(): InformerStatus {
    return {
      name: this.name,
      synced: this.synced,
      count: this.store.size,
      notServed: this.notServed,
      resourceVersion: this.resourceVersion,
      lastListKind: this.lastListKind,
      lastError: this.lastError,
      failingSinceMs: this.failingSinceMs,
      counters: { ...this.counters },
    };
  }

  // ---- the list+watch loop ----

  private async run(stop: AbortSignal): Promise<void> {
    let attempt = 0; // consecutive cycles without a healthy watch
    let needList = true;
    while (!stop.aborted) {
      this.watchWasHealthy = false;
      try {
        if (needList) {
          await this.listAll(stop);
          needList = false;
        }
        const outcome = await this.watchOnce(stop);
        if (outcome === 'closed') {
          attempt = 0;
          continue;
        }
        if (outcome === 'expired') {
          this.counters.expired++;
          needList = true;
          if (this.watchWasHealthy) attempt = 0;
          // The first 410 after a healthy watch relists at once; repeated ones back off.
          if (attempt++ > 0) await this.delay(attempt - 1, stop);
          continue;
        }
        // closed-early: the server ended the watch at once; do not spin.
        throw new Error('watch closed before delivering anything');
      } catch (err) {
        if (stop.aborted) break;
        if (this.watchWasHealthy) attempt = 0;
        if (isExpiredError(err)) {
          this.counters.expired++;
          needList = true;
          if (attempt++ > 0) await this.delay(attempt - 1, stop);
          continue;
        }
        if (err instanceof KubeApiError && err.statusCode === 404) {
          // The collection is not served (CRD not installed or removed). No objects of a type the
          // server does not serve can exist, so the cache is an honest empty set. We keep what we
          // have if we had synced before: a CRD's instances are deleted (and we saw DELETED events)
          // before the CRD disappears, and a transient 404 must not make live objects vanish.
          this.markNotServed();
          needList = true;
          await this.pause(this.options.notServedRetryMs ?? 1000, stop);
          continue;
        }
        this.counters.failures++;
        this.lastError = errorMessage(err);
        this.failingSinceMs ??= Date.now();
        const delayMs = this.backoffMs(attempt);
        this.logger.warn({ cache: this.name, err: this.lastError, retryInMs: delayMs }, 'watch cache request failed; retrying');
        attempt++;
        await this.pause(delayMs, stop);
      }
    }
  }

  private backoffMs(attempt: number): number {
    return backoffDelayMs(attempt, this.options.backoff ?? DEFAULT_BACKOFF, this.options.random ?? Math.random);
  }

  private async delay(attempt: number, stop: AbortSignal): Promise<void> {
    await this.pause(this.backoffMs(attempt), stop);
  }

  /** Sleeps unless stopped; never throws. */
  private async pause(ms: number, stop: AbortSignal): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: stop });
    } catch {
      // stopped
    }
  }

  private markNotServed(): void {
    this.notServed = true;
    this.lastError = 'resource not served by the API server (404)';
    if (!this.synced) {
      this.synced = true;
      this.logger.info({ cache: this.name }, 'resource not served; cache is empty until it appears');
      this.emit('synced');
    }
  }

  private async listAll(stop: AbortSignal): Promise<void> {
    const items = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion: string | undefined;
    let kind: string | undefined;
    do {
      const page = await this.client.getJson<ListPage>({
        path: this.path,
        query: { limit: this.options.pageSize ?? 500, continue: continueToken, labelSelector: this.options.labelSelector },
        accept: this.options.full ? ACCEPT_JSON : ACCEPT_METADATA_LIST,
        signal: stop,
        idleTimeoutMs: 60_000,
      });
      // PartialObjectMetadataList omits `items` when it is empty, so only a non-list answer is an error.
      if (!Array.isArray(page.items) && !page.kind?.endsWith('List')) {
        throw new Error(`list ${this.path}: answer is not a list (kind ${page.kind ?? 'none'})`);
      }
      kind = page.kind;
      for (const raw of page.items ?? []) {
        const obj = this.project(raw);
        const name = obj.metadata?.name;
        if (name) items.set(objectKey(obj.metadata?.namespace, name), obj);
      }
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
    if (this.counters.lists > 0) this.counters.relists++;
    this.counters.lists++;
    this.lastListKind = kind;
    this.notServed = false;
    this.lastError = undefined;
    this.failingSinceMs = undefined;
    this.replace(items, resourceVersion);
    if (!this.synced) {
      this.synced = true;
      this.logger.info({ cache: this.name, count: items.size }, 'watch cache synced');
      this.emit('synced');
    }
  }

  /** Swaps in a fresh list, emitting the differences so listeners' indexes stay exact. */
  private replace(items: Map<string, T>, resourceVersion: string | undefined): void {
    for (const [key, previous] of [...this.store]) {
      if (!items.has(key)) {
        this.remove(key, previous);
        this.notify({ type: 'deleted', object: previous, previous });
      }
    }
    for (const [key, obj] of items) {
      const previous = this.store.get(key);
      if (previous && previous.metadata?.resourceVersion === obj.metadata?.resourceVersion) continue;
      this.put(key, obj);
      this.notify(previous ? { type: 'modified', object: obj, previous } : { type: 'added', object: obj });
    }
    this.resourceVersion = resourceVersion;
  }

  private async watchOnce(stop: AbortSignal): Promise<WatchOutcome> {
    // Its own controller so that finishing this watch (e.g. on a 410) releases the connection.
    const watchController = new AbortController();
    const signal = AbortSignal.any([stop, watchController.signal]);
    const timeoutSeconds = this.options.watchTimeoutSeconds ?? Math.floor(300 + 300 * (this.options.random ?? Math.random)());
    if (this.watchesOpened++ > 0) this.counters.reconnects++;
    const openedAt = Date.now();
    let delivered = false;
    try {
      const res = await this.client.openStream({
        path: this.path,
        query: {
          watch: 1,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds,
          labelSelector: this.options.labelSelector,
        },
        accept: this.options.full ? ACCEPT_JSON : ACCEPT_METADATA,
        signal,
        // Bookmarks arrive about once a minute; silence well past the server's own timeout means a
        // dead connection (e.g. a NAT dropped it) that TCP alone may not notice for a long time.
        idleTimeoutMs: (timeoutSeconds + 60) * 1000,
      });
      this.lastError = undefined; // connected again: readiness should not show a healed error
      this.failingSinceMs = undefined;
      const ended = await new Promise<'expired' | 'closed'>((resolve, reject) => {
        const splitter = new JsonLineSplitter();
        const handle = (values: unknown[]): boolean => {
          for (const value of values) {
            if (this.handleEvent(value as WatchEvent) === 'expired') return true;
            delivered = true;
            this.watchWasHealthy = true;
          }
          return false;
        };
        res.on('data', (chunk: Buffer) => {
          try {
            if (handle(splitter.push(chunk))) {
              res.destroy();
              resolve('expired');
            }
          } catch (err) {
            res.destroy();
            reject(err);
          }
        });
        res.on('end', () => {
          try {
            resolve(handle(splitter.end()) ? 'expired' : 'closed');
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
        res.on('close', () => {
          if (signal.aborted) reject(signal.reason);
          else resolve('closed');
        });
      });
      if (ended === 'expired') return 'expired';
      const healthy = delivered || Date.now() - openedAt >= (this.options.healthyWatchMs ?? 5000);
      return healthy ? 'closed' : 'closed-early';
    } finally {
      if (Date.now() - openedAt >= (this.options.healthyWatchMs ?? 5000)) this.watchWasHealthy = true;
      watchController.abort();
    }
  }

  /** Applies one watch event; returns 'expired' for a 410 ERROR event. */
  private handleEvent(event: WatchEvent): 'ok' | 'expired' {
    const { type, object } = event;
    if (type === 'ERROR') {
      const code = typeof object?.code === 'number' ? object.code : 0;
      const reason = typeof object?.reason === 'string' ? object.reason : undefined;
      const causes = object ? statusCauses(object) : [];
      if (statusNeedsRelist({ code, reason, causes })) return 'expired';
      throw new KubeApiError(code || 500, `watch ${this.path}: ${String(object?.message ?? 'error event')}`, reason, causes);
    }
    const rv = object?.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      this.counters.bookmarks++;
      if (rv) this.resourceVersion = rv;
      return 'ok';
    }
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') {
      throw new Error(`watch ${this.path}: unexpected event type ${String(type)}`);
    }
    const obj = this.project(object);
    const name = obj.metadata?.name;
    if (!name) throw new Error(`watch ${this.path}: ${type} event without metadata.name`);
    const key = objectKey(obj.metadata?.namespace, name);
    const previous = this.store.get(key);
    this.counters.events++;
    if (type === 'DELETED') {
      this.remove(key, previous ?? obj);
      this.notify({ type: 'deleted', object: obj, previous: previous ?? obj });
    } else {
      this.put(key, obj);
      this.notify(previous ? { type: 'modified', object: obj, previous } : { type: 'added', object: obj });
    }
    if (rv) this.resourceVersion = rv;
    return 'ok';
  }

  private put(key: string, obj: T): void {
    this.store.set(key, obj);
    const ns = obj.metadata?.namespace ?? '';
    let inNamespace = this.byNamespace.get(ns);
    if (!inNamespace) this.byNamespace.set(ns, (inNamespace = new Map()));
    inNamespace.set(key, obj);
  }

  private remove(key: string, obj: T): void {
    this.store.delete(key);
    const ns = obj.metadata?.namespace ?? '';
    const inNamespace = this.byNamespace.get(ns);
    if (!inNamespace) return;
    inNamespace.delete(key);
    if (inNamespace.size === 0) this.byNamespace.delete(ns);
  }

  private notify(change: InformerChange<T>): void {
    try {
      this.emit('change', change);
    } catch (err) {
      // A listener's bug must not stop the cache from following the server.
      this.logger.error({ cache: this.name, err: errorMessage(err) }, 'change listener threw');
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Typed constructors: metadata-only by default, whole objects with `full: true`. */
export function createInformer(options: InformerOptions & { full: true }): MetadataInformer<KubeObject>;
export function createInformer(options: InformerOptions & { full?: false }): MetadataInformer<PartialObjectMetadata>;
export function createInformer(options: InformerOptions): MetadataInformer<CachedObject> {
  return new MetadataInformer<CachedObject>(options);
}
