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
   * The part of each object worth keeping, for a cache of many objects of which a few fields are
   * read: applied after managedFields and the large annotations are dropped (`full`), or after the
   * metadata projection. It must keep metadata's name, namespace and resourceVersion. Default:
   * the whole object, or the whole projection.
   */
  slim?: (object: KubeObject) => KubeObject;
  /**
   * Which objects the cache holds at all (after projection); the rest are treated as absent, so
   * an object that stops qualifying leaves the cache with a `deleted` change. For a type of which
   * the readers only ever ask for a few (a guarded finalizer's carriers among all CSVs). Default: all.
   */
  keep?: (object: CachedObject) => boolean;
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

/** One namespace's cached objects by name, and the one copy of the namespace's name they share. */
interface NamespaceObjects<T> {
  namespace: string;
  objects: Map<string, T>;
}

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
  private readonly keep: (object: CachedObject) => boolean;
  /**
   * Objects by namespace ('' for cluster-scoped), then by name. No `namespace/name` key string per
   * object: with tens of thousands of small objects (release records) the key would weigh as much
   * as a third of the object, and each namespace's name is stored once (`NamespaceObjects`).
   */
  private readonly byNamespace = new Map<string, NamespaceObjects<T>>();
  private count = 0;
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
    const base: (raw: unknown) => CachedObject = options.full ? trimFullObject : toPartialObjectMetadata;
    this.project = (slim ? (raw: unknown) => slim(base(raw) as KubeObject) : base) as (raw: unknown) => T;
    this.keep = options.keep ?? (() => true);
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
    if (namespace === undefined) return [...this.byNamespace.values()].flatMap((ns) => [...ns.objects.values()]);
    const inNamespace = this.byNamespace.get(namespace);
    return inNamespace ? [...inNamespace.objects.values()] : [];
  }

  /** One cached object; pass "" (or undefined) as namespace for cluster-scoped objects. */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.byNamespace.get(namespace ?? '')?.objects.get(name);
  }

  size(): number {
    return this.count;
  }

  status(): InformerStatus {
    return {
      name: this.name,
      synced: this.synced,
      count: this.count,
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
        if (name && this.keep(obj)) items.set(objectKey(obj.metadata?.namespace, name), obj);
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
    for (const previous of this.list()) {
      if (!items.has(objectKey(previous.metadata?.namespace, previous.metadata?.name ?? ''))) {
        this.remove(previous);
        this.notify({ type: 'deleted', object: previous, previous });
      }
    }
    for (const obj of items.values()) {
      const previous = this.get(obj.metadata?.namespace, obj.metadata?.name ?? '');
      if (previous && previous.metadata?.resourceVersion === obj.metadata?.resourceVersion) continue;
      this.put(obj);
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
    const previous = this.get(obj.metadata?.namespace, name);
    this.counters.events++;
    if (type === 'DELETED' || !this.keep(obj)) {
      // An object the cache never held (or no longer qualifies for) has nothing to announce.
      if (previous || this.keep(obj)) {
        this.remove(previous ?? obj);
        this.notify({ type: 'deleted', object: type === 'DELETED' ? obj : (previous ?? obj), previous: previous ?? obj });
      }
    } else {
      this.put(obj);
      this.notify(previous ? { type: 'modified', object: obj, previous } : { type: 'added', object: obj });
    }
    if (rv) this.resourceVersion = rv;
    return 'ok';
  }

  private put(obj: T): void {
    const metadata = obj.metadata as ObjectMeta;
    const ns = metadata.namespace ?? '';
    let inNamespace = this.byNamespace.get(ns);
    if (!inNamespace) this.byNamespace.set(ns, (inNamespace = { namespace: ns, objects: new Map() }));
    // The cache owns its projected objects: share one string for the namespace's name.
    if (metadata.namespace !== undefined) metadata.namespace = inNamespace.namespace;
    const name = metadata.name ?? '';
    if (!inNamespace.objects.has(name)) this.count++;
    inNamespace.objects.set(name, obj);
  }

  private remove(obj: T): void {
    const ns = obj.metadata?.namespace ?? '';
    const inNamespace = this.byNamespace.get(ns);
    if (!inNamespace?.objects.delete(obj.metadata?.name ?? '')) return;
    this.count--;
    if (inNamespace.objects.size === 0) this.byNamespace.delete(ns);
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
