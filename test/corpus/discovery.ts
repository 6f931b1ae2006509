// Which resource serves a kind, and whether it is namespaced: the API server's discovery, read
// again when a kind is not found (the charts install CRDs as the corpus runs). Groups whose
// discovery fails (an aggregated API with no backend) are skipped, as kubectl skips them.
import type { KubeClient } from '../cluster/kubeClient.ts';
import { groupOf } from './inventory.ts';

export interface Resource {
  group: string;
  version: string;
  resource: string;
  namespaced: boolean;
}

interface ResourceList {
  resources?: Array<{ name: string; kind: string; namespaced: boolean }>;
}

export class ResourceMap {
  private byKind = new Map<string, Resource>();
  private byGroupKind = new Map<string, Resource>();
  private inFlight: Promise<void> | undefined;
  private readAt = 0;
  private readonly client: KubeClient;
  constructor(client: KubeClient) {
    this.client = client;
  }

  /** Reads discovery again (concurrent callers share one read; one read per second at most). */
  refresh(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    if (Date.now() - this.readAt < 1000) return Promise.resolve();
    this.inFlight = this.read().finally(() => {
      this.readAt = Date.now();
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async read(): Promise<void> {
    const gvs: Array<{ group: string; version: string; path: string }> = [{ group: '', version: 'v1', path: '/api/v1' }];
    const groups = await this.client.get<{ groups?: Array<{ name: string; versions: Array<{ version: string }> }> }>('/apis');
    for (const g of groups?.groups ?? []) for (const v of g.versions) gvs.push({ group: g.name, version: v.version, path: `/apis/${g.name}/${v.version}` });
    const lists = await Promise.all(gvs.map(async (gv) => ({ gv, list: await this.client.get<ResourceList>(gv.path).catch(() => undefined) })));
    const byKind = new Map<string, Resource>();
    const byGroupKind = new Map<string, Resource>();
    for (const { gv, list } of lists) {
      for (const r of list?.resources ?? []) {
        if (r.name.includes('/')) continue;
        const res = { group: gv.group, version: gv.version, resource: r.name, namespaced: r.namespaced };
        byKind.set(`${gv.group}/${gv.version}/${r.kind}`, res);
        if (!byGroupKind.has(`${gv.group}/${r.kind}`)) byGroupKind.set(`${gv.group}/${r.kind}`, res);
      }
    }
    this.byKind = byKind;
    this.byGroupKind = byGroupKind;
  }

  /** The resource of apiVersion/kind, reading discovery again once when it is not known yet. */
  async lookup(apiVersion: string, kind: string): Promise<Resource | undefined> {
    const key = `${apiVersion.includes('/') ? apiVersion : `/${apiVersion}`}/${kind}`;
    const found = this.byKind.get(key);
    if (found) return found;
    await this.refresh();
    return this.byKind.get(key);
  }

  /** Scope from what discovery said last (undefined for a kind it does not serve). */
  scopeOf(apiVersion: string, kind: string): 'Cluster' | 'Namespaced' | undefined {
    const r = this.byGroupKind.get(`${groupOf(apiVersion)}/${kind}`);
    return r ? (r.namespaced ? 'Namespaced' : 'Cluster') : undefined;
  }
}
