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
  /** Limit for one refresh. */
  refreshTimeoutMs?: number;
  logger?: ClusterLogger;
  now?: () => number;
}

export class Discovery {
  private readonly client: KubeHttpClient;
  private readonly logger: ClusterLogger;
  private readonly minRefreshIntervalMs: number;
  private readonly refreshTimeoutMs: number;
  private readonly now: () => number;
  private map: Map<string, DiscoveredResource> | undefined;
  private inFlight: Promise<boolean> | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private lastError: string | undefined;
  private refreshes = 0;
  private readonly stopController = new AbortController();

  constructor(options: DiscoveryOptions) {
    this.client = options.client;
    this.logger = options.logger ?? SILENT_LOGGER;
    this.minRefreshIntervalMs = options.minRefreshIntervalMs ?? 30_000;
    this.refreshTimeoutMs = options.refreshTimeoutMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  isLoaded(): boolean {
    return this.map !== undefined;
  }

  /** Cached answer only; undefined when the kind is not (yet) known. */
  lookup(apiVersion: string, kind: string): DiscoveredResource | undefined {
    return this.map?.get(mapKey(apiVersion, kind));
  }

  /**
   * Every namespaced resource type, once per group/resource (the first version discovery lists,
   * which is the preferred one): what a sweep of one namespace lists. Empty until loaded.
   */
  namespacedResources(): DiscoveredResource[] {
    const seen = new Map<string, DiscoveredResource>();
    for (const r of this.map?.values() ?? []) {
      const key = `${r.group}/${r.resource}`;
      if (r.namespaced && !seen.has(key)) seen.set(key, r);
    }
    return [...seen.values()];
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

  /** Refreshes if the last attempt is older than the throttle interval; reports whether it did (and succeeded). */
  refreshIfStale(): Promise<boolean> | undefined {
    if (this.inFlight) return this.inFlight;
    if (this.now() - this.lastAttemptAt < this.minRefreshIntervalMs) return undefined;
    return this.refresh();
  }

  /** Cancels an in-flight refresh; later calls are no-ops that resolve false. */
  stop(): void {
    this.stopController.abort();
  }

  status(): { loaded: boolean; resources: number; refreshes: number; lastError: string | undefined } {
    return { loaded: this.isLoaded(), resources: this.map?.size ?? 0, refreshes: this.refreshes, lastError: this.lastError };
  }

  private async fetchAll(): Promise<boolean> {
    if (this.stopController.signal.aborted) return false;
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
      this.refreshes++;
      this.lastError = undefined;
      return true;
    } catch (err) {
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
