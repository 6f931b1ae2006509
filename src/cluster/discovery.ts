// API discovery: which apiVersion/kind the server serves, under which REST resource, and whether it
// is namespaced. Needed to turn an ObjectRef (apiVersion, kind, name) from a Helm manifest into a
// GET path, and to know whether a manifest object without a namespace lands in the release's one.
//
// Uses aggregated discovery (apidiscovery.k8s.io/v2: two requests for the whole server) and falls
// back to per-group-version documents for servers that do not offer it.
import type { KubeHttpClient } from './kubeHttp.ts';
import { SILENT_LOGGER, type ClusterLogger } from './logger.ts';

export interface DiscoveredResource {
  group: string;
  version: string;
  /** Lower-case plural, as in the REST path. */
  resource: string;
  kind: string;
  namespaced: boolean;
}

const ACCEPT_AGGREGATED =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';

interface AggregatedList {
  kind?: string;
  items?: Array<{
    metadata?: { name?: string };
    versions?: Array<{
      version?: string;
      resources?: Array<{ resource?: string; responseKind?: { kind?: string }; scope?: string }>;
    }>;
  }>;
}

interface LegacyVersions {
  kind?: string;
  versions?: string[];
}
interface LegacyGroups {
  kind?: string;
  groups?: Array<{ versions?: Array<{ groupVersion?: string }> }>;
}
interface LegacyResourceList {
  resources?: Array<{ name?: string; kind?: string; namespaced?: boolean }>;
}

export function restPath(
  resource: Pick<DiscoveredResource, 'group' | 'version' | 'resource' | 'namespaced'>,
  namespace: string | undefined,
  name?: string,
): string {
  const base = resource.group === '' ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`;
  const scoped = resource.namespaced && namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}` : base;
  const collection = `${scoped}/${resource.resource}`;
  return name === undefined ? collection : `${collection}/${encodeURIComponent(name)}`;
}

function mapKey(apiVersion: string, kind: string): string {
  return `${apiVersion}\n${kind}`;
}

/** Builds the apiVersion/kind map from aggregated discovery documents (/api and /apis). */
export function indexAggregated(lists: AggregatedList[]): Map<string, DiscoveredResource> {
  const map = new Map<string, DiscoveredResource>();
  for (const list of lists) {
    for (const group of list.items ?? []) {
      const groupName = group.metadata?.name ?? '';
      for (const v of group.versions ?? []) {
        if (!v.version) continue;
        for (const r of v.resources ?? []) {
          // responseKind's own group/version may be blank; the enclosing group/version are authoritative.
          const kind = r.responseKind?.kind;
          if (!r.resource || !kind || r.resource.includes('/')) continue;
          const apiVersion = groupName === '' ? v.version : `${groupName}/${v.version}`;
          const key = mapKey(apiVersion, kind);
          if (!map.has(key)) map.set(key, { group: groupName, version: v.version, resource: r.resource, kind, namespaced: r.scope === 'Namespaced' });
        }
      }
    }
  }
  return map;
}

export interface DiscoveryOptions {
  client: KubeHttpClient;
  /** A look-up miss refreshes at most this often (a kind the server does not serve stays a miss). */
  minRefreshIntervalMs?: number;
  /**
   * After the cluster's types changed (markStale: a CRD or APIService added, changed or removed),
   * how long to wait for the burst of changes to settle before refreshing. Default 200.
   */
  staleDebounceMs?: number;
  /**
   * Resource names (`plural.group`) the server is known to serve soon (every CRD): after a refresh
   * that misses one of them (kube-apiserver publishes a CRD's discovery asynchronously, after it is
   * Established), refresh again, at most `maxMissingRetries` times per change.
   */
  expectedResources?: () => Iterable<string>;
  maxMissingRetries?: number;
  /** Limit for one refresh. */
  refreshTimeoutMs?: number;
  logger?: ClusterLogger;
  now?: () => number;
}

/** `work`, or false once `signal` fires first. */
async function untilAborted(work: Promise<boolean>, signal: AbortSignal | undefined): Promise<boolean> {
  if (!signal) return work;
  if (signal.aborted) return false;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<false>((resolve) => {
    onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

export class Discovery {
  private readonly client: KubeHttpClient;
  private readonly logger: ClusterLogger;
  private readonly minRefreshIntervalMs: number;
  private readonly refreshTimeoutMs: number;
  private readonly now: () => number;
  private map: Map<string, DiscoveredResource> | undefined;
  /** namespacedResources() of the current map, built once per refresh (every namespace DELETE's sweep asks). */
  private namespaced: DiscoveredResource[] | undefined;
  private inFlight: Promise<boolean> | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private lastError: string | undefined;
  private refreshes = 0;
  private readonly stopController = new AbortController();
  /** Set while the server's types changed after the last refresh began: the map may lack them. */
  private stale = false;
  private staleTimer: NodeJS.Timeout | undefined;
  private missingRetries = 0;
  private readonly staleDebounceMs: number;
  private readonly expectedResources: () => Iterable<string>;
  private readonly maxMissingRetries: number;

  constructor(options: DiscoveryOptions) {
    this.client = options.client;
    this.logger = options.logger ?? SILENT_LOGGER;
    this.minRefreshIntervalMs = options.minRefreshIntervalMs ?? 30_000;
    this.refreshTimeoutMs = options.refreshTimeoutMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.staleDebounceMs = options.staleDebounceMs ?? 200;
    this.expectedResources = options.expectedResources ?? (() => []);
    this.maxMissingRetries = options.maxMissingRetries ?? 10;
  }

  isLoaded(): boolean {
    return this.map !== undefined;
  }

  /** Cached answer only; undefined when the kind is not (yet) known. */
  lookup(apiVersion: string, kind: string): DiscoveredResource | undefined {
    return this.map?.get(mapKey(apiVersion, kind));
  }

  /** Whether the server serves group/resource (in any version), as of the last refresh. */
  serves(group: string, resource: string): boolean {
    return this.byResource(group, resource) !== undefined;
  }

  /** Every resource type of `group`, each once in its preferred version, as of the last refresh. */
  groupResources(group: string): DiscoveredResource[] {
    const seen = new Map<string, DiscoveredResource>();
    for (const r of this.map?.values() ?? []) if (r.group === group && !seen.has(r.resource)) seen.set(r.resource, r);
    return [...seen.values()];
  }

  /** group/resource in its preferred version (the first discovery lists), as of the last refresh. */
  byResource(group: string, resource: string): DiscoveredResource | undefined {
    for (const r of this.map?.values() ?? []) if (r.group === group && r.resource === resource) return r;
    return undefined;
  }

  /**
   * Every namespaced resource type, once per group/resource (the first version discovery lists,
   * which is the preferred one): what a sweep of one namespace lists. Empty until loaded.
   */
  namespacedResources(): readonly DiscoveredResource[] {
    if (this.namespaced) return this.namespaced;
    const seen = new Map<string, DiscoveredResource>();
    for (const r of this.map?.values() ?? []) {
      const key = `${r.group}/${r.resource}`;
      if (r.namespaced && !seen.has(key)) seen.set(key, r);
    }
    const found = [...seen.values()];
    if (this.map) this.namespaced = found;
    return found;
  }

  /**
   * Refreshes now; concurrent callers share one request. Resolves true on success. Never rejects:
   * on failure the previous map stays in use.
   */
  refresh(): Promise<boolean> {
    this.inFlight ??= this.fetchAll().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /**
   * Refreshes if the types changed since the last refresh (markStale) or the last attempt is older
   * than the throttle interval; reports whether it did (and succeeded).
   */
  refreshIfDue(): Promise<boolean> | undefined {
    if (this.inFlight) return this.inFlight;
    if (this.stale) return this.refresh();
    if (this.now() - this.lastAttemptAt < this.minRefreshIntervalMs) return undefined;
    return this.refresh();
  }

  /**
   * The server's types changed (a CRD or APIService was added, changed or removed): the map may be
   * out of date, so refresh once the burst settles, and let `fresh` callers wait for that refresh
   * instead of sweeping with a type list that misses the new types.
   */
  markStale(): void {
    if (this.stopController.signal.aborted) return;
    this.stale = true;
    this.missingRetries = 0;
    this.scheduleRefresh(this.staleDebounceMs);
  }

  /** Whether fresh() would resolve true at once: loaded, not stale, no refresh in flight. */
  isFresh(): boolean {
    return !this.stale && !this.inFlight && this.isLoaded();
  }

  /** Whether the map may miss types the server serves now (markStale since the last refresh). */
  isStale(): boolean {
    return this.stale;
  }

  /**
   * Resolves once the map is as fresh as the cluster's last type change (or at once when it is),
   * true when it is; false when the refresh failed or `signal` fired first (the old map stays).
   */
  async fresh(signal?: AbortSignal): Promise<boolean> {
    // A refresh already in flight may have started before the change: look again after it (bounded).
    for (let attempt = 0; attempt < 3; attempt++) {
      if (this.isFresh()) return true;
      if (!(await untilAborted(this.refresh(), signal))) return false;
    }
    return !this.stale;
  }

  /** Cancels an in-flight refresh; later calls are no-ops that resolve false. */
  stop(): void {
    this.stopController.abort();
    clearTimeout(this.staleTimer);
  }

  status(): { loaded: boolean; resources: number; refreshes: number; lastError: string | undefined; stale: boolean } {
    return { loaded: this.isLoaded(), resources: this.map?.size ?? 0, refreshes: this.refreshes, lastError: this.lastError, stale: this.stale };
  }

  private scheduleRefresh(delayMs: number): void {
    clearTimeout(this.staleTimer);
    this.staleTimer = setTimeout(() => void this.refresh(), delayMs);
    this.staleTimer.unref();
  }

  /** Expected resources (CRDs) the map does not hold yet. */
  private missingExpected(map: Map<string, DiscoveredResource>): string[] {
    const served = new Set<string>();
    for (const r of map.values()) served.add(r.group === '' ? r.resource : `${r.resource}.${r.group}`);
    return [...this.expectedResources()].filter((name) => !served.has(name));
  }

  private async fetchAll(): Promise<boolean> {
    if (this.stopController.signal.aborted) return false;
    // Changes from here on are seen by this fetch or mark the map stale again.
    const staleAtStart = this.stale;
    this.stale = false;
    this.lastAttemptAt = this.now();
    const signal = AbortSignal.any([this.stopController.signal, AbortSignal.timeout(this.refreshTimeoutMs)]);
    try {
      const [core, groups] = await Promise.all([
        this.client.getJson<AggregatedList & LegacyVersions>({ path: '/api', accept: ACCEPT_AGGREGATED, signal }),
        this.client.getJson<AggregatedList & LegacyGroups>({ path: '/apis', accept: ACCEPT_AGGREGATED, signal }),
      ]);
      let map: Map<string, DiscoveredResource>;
      if (core.kind === 'APIGroupDiscoveryList' && groups.kind === 'APIGroupDiscoveryList') {
        map = indexAggregated([core, groups]);
      } else {
        map = await this.fetchLegacy(core, groups, signal);
      }
      this.map = map;
      this.namespaced = undefined;
      this.refreshes++;
      this.lastError = undefined;
      const missing = this.missingExpected(map);
      if (missing.length > 0 && this.missingRetries < this.maxMissingRetries) {
        // A CRD not in discovery yet: its discovery is published after it is Established. Stay
        // stale (fresh() callers wait for the retry) and look again with a growing delay.
        this.missingRetries++;
        this.stale = true;
        this.scheduleRefresh(100 * this.missingRetries);
      }
      return true;
    } catch (err) {
      if (staleAtStart) this.stale = true;
      this.lastError = err instanceof Error ? err.message : String(err);
      if (!this.stopController.signal.aborted) this.logger.warn({ err: this.lastError }, 'API discovery failed');
      return false;
    }
  }

  /** Pre-aggregation servers: one document per group-version. A group-version that fails (an
   * unavailable aggregated API server) is skipped rather than failing discovery as a whole. */
  private async fetchLegacy(core: LegacyVersions, groups: LegacyGroups, signal: AbortSignal): Promise<Map<string, DiscoveredResource>> {
    const groupVersions = [
      ...(core.versions ?? []).map((v) => ({ group: '', version: v, path: `/api/${v}` })),
      ...(groups.groups ?? []).flatMap((g) =>
        (g.versions ?? []).flatMap((v) => {
          const gv = v.groupVersion ?? '';
          const slash = gv.indexOf('/');
          return slash > 0 ? [{ group: gv.slice(0, slash), version: gv.slice(slash + 1), path: `/apis/${gv}` }] : [];
        }),
      ),
    ];
    const map = new Map<string, DiscoveredResource>();
    const documents = await Promise.all(
      groupVersions.map(async (gv) => {
        try {
          return { gv, doc: await this.client.getJson<LegacyResourceList>({ path: gv.path, accept: 'application/json', signal }) };
        } catch (err) {
          if (signal.aborted) throw err;
          this.logger.warn({ groupVersion: gv.path, err: String(err) }, 'discovery of one group-version failed; skipped');
          return undefined;
        }
      }),
    );
    for (const entry of documents) {
      if (!entry) continue;
      const apiVersion = entry.gv.group === '' ? entry.gv.version : `${entry.gv.group}/${entry.gv.version}`;
      for (const r of entry.doc.resources ?? []) {
        if (!r.name || !r.kind || r.name.includes('/')) continue;
        const key = mapKey(apiVersion, r.kind);
        if (!map.has(key))
          map.set(key, { group: entry.gv.group, version: entry.gv.version, resource: r.name, kind: r.kind, namespaced: r.namespaced === true });
      }
    }
    return map;
  }
}
